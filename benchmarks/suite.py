"""The speed table of issue 16, measured in one run: `tox -e bench`.

    python benchmarks/suite.py            # full sizes, a few minutes
    python benchmarks/suite.py --quick    # about a minute
    python benchmarks/suite.py --json out.json   (or --json - for stdout)

Each row runs percpu-diff as a user would (a fresh process, wall time, the
sources and shims cached) and prints its figure beside the issue's goal.
The raw shim rate goes through one fork server in this process, like
benchmarks/bench_shim.py.  The memory rows are the peak RSS of a run of
10,000 cases (at full size) and of the big case's show, each under a bound.
The QEMU rows boot Debian's own image with `percpu-diff oracle` and put its
boot time beside the shim's time for the very machines it booted; they
are left out, with the reason printed, when QEMU or a Debian source is
missing.

A small own module rather than asv or pytest-benchmark: every figure is an
end-to-end command taking seconds, run once per size (asv's and
pytest-benchmark's repeat-and-calibrate loops would multiply minutes), the
table must put figures of different kinds (cases/s, seconds, ratios) beside
goals, and it needs no package beyond percpu-diff's own.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_SOURCES = ("debian:6.1=6.1.192-3", "debian:6.12=6.12.117-1~deb12u1")
HUGE_CASE = ROOT / "cases" / "huge-machine-chunk-overflow.toml"
# CPU-time limit per boot: the machine is shared, and a timeout is not a figure
TIMEOUT_MS = "60000"


@dataclass(frozen=True)
class Sizes:
    run_cases: int
    agree_count: int
    shim_cases: int
    boots: int  # QEMU machines booted; 0 leaves the QEMU rows out
    memory_cases: int  # the run whose peak RSS is measured


QUICK = Sizes(run_cases=200, agree_count=300, shim_cases=500, boots=1, memory_cases=1000)
FULL = Sizes(run_cases=1000, agree_count=1000, shim_cases=2000, boots=3, memory_cases=10000)

# Bounds on the main process's peak RSS, from measurement with headroom
# (README, Speed).  A run's peak is its largest boots judged whole (the
# 4096-cpu results, a worker each), reached at the end of any mixed run: 221
# MiB at 2,000 cases, 237 MiB at 10,000 (273 MiB when every record was held
# for the reports), on a run that sits near 60 MiB until its biggest cases.
# The big show peaked at 37 MiB (60 MiB with its 2,048-row table).
RUN_RSS_MIB = 300.0
SHOW_RSS_MIB = 64.0


# The issue's "today" column (quiet machine, same sources) beside each
# figure: the ratio to it says more than the figure on a loaded machine.
ISSUE_FIGURES = {"run_mixed": 70.0, "run_8": 154.0, "agree_embed_8": 274.0,
                 "agree_embed_64": 155.0, "show_case": 3.0, "qemu_boot": 0.45}


@dataclass
class Row:
    key: str
    work: str
    figure: float
    unit: str  # "cases/s", "s", "x" or "MiB"
    goal: float | None  # None: shown for reference, no goal
    detail: str = ""

    @property
    def met(self) -> bool | None:
        if self.goal is None:
            return None
        # seconds and memory: less is better; rates and ratios: more is better
        return self.figure < self.goal if self.unit in BOUNDS else self.figure >= self.goal

    @property
    def issue(self) -> float | None:
        return ISSUE_FIGURES.get(self.key)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met, "issue": self.issue}


# Units whose goal is a bound: the figure must stay under it.
BOUNDS = ("s", "MiB")


@dataclass
class Suite:
    sources: tuple[str, ...]
    sizes: Sizes
    show_case: Path
    scratch: Path
    rows: list[Row] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(f"  {format_row(row)}", file=sys.stderr, flush=True)


def shims_cached() -> int:
    from harness.core import paths

    where = paths.cache_root() / "shims"
    return sum(1 for _ in where.iterdir()) if where.is_dir() else 0


def percpu_diff(*args: str, ok: Sequence[int] = (0,), fresh: Path | None = None
                ) -> tuple[float, str]:
    """Wall seconds and stdout of one percpu-diff process, measured again
    when it had to compile shims: the table is of cached shims."""
    command = [sys.executable, "-m", "harness.cli.app", *args]
    for _ in range(2):
        if fresh is not None:  # a run directory holds one run
            shutil.rmtree(fresh, ignore_errors=True)
        before = shims_cached()
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
        seconds = time.perf_counter() - start
        if done.returncode not in ok:
            raise RuntimeError(f"{' '.join(args)}: exit {done.returncode}\n"
                               f"{done.stderr[-2000:]}")
        if shims_cached() == before:
            break
    return seconds, done.stdout


# Runs percpu-diff as the -m entry point does, then writes the peak RSS
# (KiB) of this process and of its largest child (a worker, a shim server or
# a boot) to the file in argv[1].  This process's own is VmHWM, the peak of
# the memory it has had since its exec: getrusage's ru_maxrss would count
# the RSS of the process that forked it too (the suite's, or pytest's), as
# Linux records the old memory's peak at exec.  The child figure has that
# flaw: a child forked late from a large main process shows that size.
_PEAK_RSS_MAIN = """
import json, re, resource, sys
from harness.cli.app import main
out = sys.argv.pop(1)

def own_peak_kib():
    with open("/proc/self/status") as status:
        found = re.search(r"^VmHWM:\\s+(\\d+) kB", status.read(), re.M)
    return int(found.group(1)) if found else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

try:
    status = main(sys.argv[1:])
finally:
    with open(out, "w") as sink:
        json.dump({"main": own_peak_kib(),
                   "child": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}, sink)
sys.exit(status)
"""


def peak_rss(suite: Suite, *args: str, ok: Sequence[int] = (0,)) -> tuple[float, float]:
    """Peak RSS in MiB of one percpu-diff process and of its largest child."""
    out = suite.scratch / "peak-rss.json"
    done = subprocess.run([sys.executable, "-c", _PEAK_RSS_MAIN, str(out), *args],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode not in ok:
        raise RuntimeError(f"{' '.join(args)}: exit {done.returncode}\n{done.stderr[-2000:]}")
    usage = json.loads(out.read_text())
    return usage["main"] / 1024, usage["child"] / 1024


def bench_memory(suite: Suite) -> None:
    """Peak RSS of a run of N cases and of the big case's show, under bounds."""
    out = suite.scratch / "memory"
    shutil.rmtree(out, ignore_errors=True)
    n = suite.sizes.memory_cases
    main, child = peak_rss(suite, "run", *suite.sources, "--cases", str(n), "--no-corpus",
                           "--timeout-ms", TIMEOUT_MS, "--out", str(out), ok=(0, 1))
    suite.add(Row("memory_run", "peak RSS: run --cases N --no-corpus, main process", main,
                  "MiB", RUN_RSS_MIB, f"{n} cases; largest child {child:.0f} MiB"))
    main, child = peak_rss(suite, "show", *suite.sources, "--case", str(suite.show_case),
                           "--model", "auto", "--timeout-ms", TIMEOUT_MS, ok=(0, 1))
    suite.add(Row("memory_show", "peak RSS: show --case BIG, main process", main, "MiB",
                  SHOW_RSS_MIB, f"largest child {child:.0f} MiB (a shim boot)"))


def bench_run(suite: Suite, key: str, work: str, goal: float, *extra: str) -> None:
    out = suite.scratch / key
    report = suite.scratch / f"{key}.json"
    # exit 1: unexpected differences, still a measured run
    seconds, _ = percpu_diff("run", *suite.sources, "--cases", str(suite.sizes.run_cases),
                             "--no-corpus", "--timeout-ms", TIMEOUT_MS, "--out", str(out),
                             "--json", str(report), *extra, ok=(0, 1), fresh=out)
    cases = json.loads(report.read_text())["summary"]["cases"]
    suite.add(Row(key, work, cases / seconds, "cases/s", goal,
                  f"{cases} cases in {seconds:.2f} s"))


def bench_agree(suite: Suite, nr_cpus: int, goal: float) -> None:
    seconds, stdout = percpu_diff(
        "agree", suite.sources[0], "--scenario", "embed", "--count",
        str(suite.sizes.agree_count), "--nr-cpus", str(nr_cpus), "--timeout-ms", TIMEOUT_MS,
        "--json", ok=(0, 1))
    cases = sum(s["cases"] for s in json.loads(stdout)["scenarios"].values())
    suite.add(Row(f"agree_embed_{nr_cpus}",
                  f"agree --scenario embed --count N --nr-cpus {nr_cpus}",
                  cases / seconds, "cases/s", goal, f"{cases} cases in {seconds:.2f} s"))


def bench_show(suite: Suite) -> None:
    case = str(suite.show_case)
    seconds, _ = percpu_diff("show", *suite.sources, "--case", case, "--model", "auto",
                             "--timeout-ms", TIMEOUT_MS, ok=(0, 1))
    suite.add(Row("show_case", "show --case BIG (2 sides + their models)", seconds, "s", 1.0,
                  f"BIG: {suite.show_case.name}; end to end, start-up included"))
    quiet, _ = percpu_diff("show", *suite.sources, "--case", case, "--model", "auto",
                           "--timeout-ms", TIMEOUT_MS, "--json", ok=(0, 1))
    start_up, _ = percpu_diff("--help")
    suite.add(Row("show_case_json", "  the same with --json (no table printed)", quiet, "s",
                  None, f"python start-up and imports alone (--help): {start_up:.2f} s"))
    suite.add(Row("model_alone", "  the model alone (py_impl.run_model, in process)",
                  model_seconds(suite.show_case), "s", None, "modern model"))


def model_seconds(path: Path) -> float:
    import py_impl
    from harness.core import cases
    from harness.core.generation import GenerationName

    case = cases.load_case(path)
    start = time.perf_counter()
    py_impl.run_model(GenerationName("modern"), case)
    return time.perf_counter() - start


def shim_boots(source: str, todo: Sequence[Any]) -> tuple[float, list[int]]:
    """Seconds for `todo` through one fork server of `source`'s shim, and
    each boot's fork-to-exit microseconds."""
    from harness.compile import shims
    from harness.run import server
    from harness.sources import snapshot

    with contextlib.redirect_stderr(io.StringIO()):  # "using cached ..."
        snap = snapshot.load_snapshot(snapshot.parse_source_arg(source))
    first = todo[0]
    config = shims.config_for(first.nr_cpus, first.page_shift, False, first.arch, first.numa)
    shim = shims.build(shims.render(snap, arch=first.arch), config)
    start = time.perf_counter()
    results = list(server.run_cases(shim, todo, server.Limits(timeout_ms=int(TIMEOUT_MS))))
    seconds = time.perf_counter() - start
    bad = [r["outcome"] for r in results if r["outcome"]["kind"] not in ("ok", "bug")]
    if bad:
        raise RuntimeError(f"shim boots failed: {bad[:3]}")
    return seconds, sorted(int(r.get("elapsed_us", 0)) for r in results)


def bench_shim(suite: Suite, nr_cpus: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_shim

    todo = bench_shim.batch("embed", nr_cpus, suite.sizes.shim_cases)
    seconds, inner = shim_boots(suite.sources[0], todo)
    suite.add(Row(f"shim_embed_{nr_cpus}", f"raw shim, embed, NR_CPUS={nr_cpus}, one server",
                  len(todo) / seconds, "cases/s", None,
                  f"{len(todo)} boots in {seconds:.2f} s; fork-to-exit median "
                  f"{inner[len(inner) // 2]} us"))


def qemu_missing(suite: Suite) -> str:
    if suite.sizes.boots <= 0:
        return "no boots asked for (--boots 0)"
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 is not installed"
    if not suite.sources[0].startswith("debian:"):
        return f"{suite.sources[0]} is not a Debian source (boots use Debian's image)"
    return ""


def bench_qemu(suite: Suite, run_rate: float | None) -> None:
    """QEMU boots of oracle machines beside the shim on each one's case."""
    from harness.core import cases

    why = qemu_missing(suite)
    if why:
        suite.skipped.append(f"QEMU rows: {why}")
        return
    out = suite.scratch / "oracle"
    report = suite.scratch / "oracle.json"
    # the oracle's first machines are its fixed ones: one cpu, then NUMA
    percpu_diff("oracle", suite.sources[0], "--count", str(suite.sizes.boots), "--out",
                str(out), "--json", str(report), ok=(0, 1), fresh=out)
    results = json.loads(report.read_text())["results"]
    booted = [r for r in results if r["verdict"] != "inconclusive"]
    if not booted:
        suite.skipped.append("QEMU rows: every boot was inconclusive")
        return
    qemu_s = statistics.median(r["seconds"] for r in booted)
    machines = "; ".join(r["describe"] for r in booted)
    suite.add(Row("qemu_boot", f"QEMU boot (PVH, TCG), median of {len(booted)}", qemu_s, "s",
                  None, machines))
    ratios = []
    for r in booted:
        case = cases.load_case(Path(r["serial"]).parent / "case.toml")
        _, inner = shim_boots(suite.sources[0], [case] * 20)
        ratios.append(r["seconds"] / (inner[len(inner) // 2] / 1e6))
    suite.add(Row("qemu_ratio_shim", "  QEMU / shim boot of the same machine",
                  statistics.median(ratios), "x", 1000.0,
                  "median over machines of QEMU s / shim fork-to-exit median of 20"))
    if run_rate:
        # a run's case has two kernel sides (and two models, compare, report)
        per_side = 1 / (2 * run_rate)
        suite.add(Row("qemu_ratio_run", "  QEMU / a run's time per case per kernel side",
                      qemu_s / per_side, "x", 1000.0, f"{per_side * 1e3:.2f} ms a side"))


BENCHES: dict[str, Callable[[Suite], None]] = {
    "run": lambda s: bench_run(s, "run_mixed", "run --cases N --no-corpus (NR_CPUS 2..4096)",
                               170.0),
    "run8": lambda s: bench_run(s, "run_8", "run --cases N --no-corpus --nr-cpus 8", 1000.0,
                                "--nr-cpus", "8"),
    "agree8": lambda s: bench_agree(s, 8, 2000.0),
    "agree64": lambda s: bench_agree(s, 64, 1000.0),
    "show": bench_show,
    "memory": bench_memory,
    "shim": lambda s: bench_shim(s, 64),
    "qemu": lambda s: bench_qemu(s, next((r.figure for r in s.rows if r.key == "run_mixed"),
                                         None)),
}


def format_row(row: Row) -> str:
    goal = "-" if row.goal is None else (f"< {row.goal:g} {row.unit}" if row.unit in BOUNDS
                                         else f">= {row.goal:,.0f} {row.unit}")
    met = {True: "met", False: "NOT met", None: ""}[row.met]
    figure, issue = (show(value, row.unit) for value in (row.figure, row.issue))
    return f"{row.work:49} {figure:>13} {issue:>13}  {goal:>16}  {met:7}  {row.detail}"


def show(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f} s" if unit == "s" else f"{value:,.0f} {unit}"


def table(suite: Suite, load: str) -> str:
    head = (f"percpu-diff speed: {' vs '.join(suite.sources)}; {load}\n"
            f"{'work':49} {'measured':>13} {'issue, quiet':>13}  {'goal':>16}  {'':7}  detail")
    lines = [head, "-" * len(head.splitlines()[1]), *map(format_row, suite.rows)]
    lines += [f"(left out: {why})" for why in suite.skipped]
    return "\n".join(lines)


def machine_load() -> str:
    try:
        with open("/proc/loadavg") as f:
            one, five, fifteen = f.read().split()[:3]
    except OSError:
        return "load unknown"
    return f"load average {one} {five} {fifteen} at start"


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: about a minute")
    ap.add_argument("--source", action="append", help="repeatable; default the two Debian "
                    "kernels (the first is agree's, the shim's and QEMU's)")
    ap.add_argument("--run-cases", type=int)
    ap.add_argument("--agree-count", type=int)
    ap.add_argument("--shim-cases", type=int)
    ap.add_argument("--boots", type=int, help="QEMU machines (0: no QEMU rows)")
    ap.add_argument("--memory-cases", type=int, help="cases of the run whose peak RSS "
                    "is measured")
    ap.add_argument("--case", type=Path, default=HUGE_CASE,
                    help="the one big case to show (an embed case: the modern model runs it)")
    ap.add_argument("--only", action="append", choices=list(BENCHES),
                    help="rows to measure (repeatable; default all)")
    ap.add_argument("--json", help="write rows as JSON here ('-': stdout)")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    base = QUICK if args.quick else FULL
    sizes = Sizes(*(given if given is not None else default for given, default in zip(
        (args.run_cases, args.agree_count, args.shim_cases, args.boots, args.memory_cases),
        (base.run_cases, base.agree_count, base.shim_cases, base.boots, base.memory_cases),
        strict=True)))
    sources = tuple(args.source or DEBIAN_SOURCES)
    load = machine_load()
    with tempfile.TemporaryDirectory(prefix="percpu-diff-bench-") as scratch:
        suite = Suite(sources, sizes, args.case.resolve(), Path(scratch))
        for name in args.only or BENCHES:
            BENCHES[name](suite)
    out = {"sources": list(sources), "sizes": asdict(sizes), "load": load,
           "rows": [row.to_json() for row in suite.rows], "skipped": suite.skipped}
    if args.json == "-":
        print(json.dumps(out, indent=1))
    else:
        print(table(suite, load))
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

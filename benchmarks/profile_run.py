"""Where percpu-diff's time goes: cProfile of one command, every thread of
its main process merged, with each function's own time put in a stage.

    python benchmarks/profile_run.py run              # run --cases 300 --no-corpus
    python benchmarks/profile_run.py agree            # agree --count 500 --nr-cpus 64
    python benchmarks/profile_run.py show             # show --case huge-machine... --model auto
    python benchmarks/profile_run.py model            # the modern model alone on that case
    python benchmarks/profile_run.py run -- run --cases 100 ...   (another command line)
    ... --top 30 --dump FILE.prof                     (for snakeviz / pstats)

A run boots its cases from worker threads (`harness/campaign/runner.py`), so
each thread gets a profiler of its own and their figures are added: the sum
is CPU-and-waiting time over threads, more than the wall time.  The shim's
own share comes from the results' `elapsed_us` (fork to exit of each boot,
both sides), counted by wrapping `server.run_cases` here, not in harness/.
C functions (reads, JSON's C half, locks) go to the stage of the Python
function that called them.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEBIAN = ["debian:6.1=6.1.192-3", "debian:6.12=6.12.117-1~deb12u1"]
HUGE = str(ROOT / "cases" / "huge-machine-chunk-overflow.toml")
COMMANDS = {
    "run": ["run", *DEBIAN, "--cases", "300", "--no-corpus", "--timeout-ms", "60000"],
    "agree": ["agree", DEBIAN[0], "--scenario", "embed", "--count", "500", "--nr-cpus", "64",
              "--timeout-ms", "60000", "--json"],
    "show": ["show", *DEBIAN, "--case", HUGE, "--model", "auto", "--timeout-ms", "60000"],
}
IDLE = "idle: threads waiting on a queue or lock (the main thread waits for the workers)"
# (path fragment, stage), first match wins; a C function takes its caller's
STAGES = [
    ("/harness/sources/", "build/render"), ("/harness/extract/", "build/render"),
    ("/harness/compile/", "build/render"), ("jinja2", "build/render"),
    ("pycparser", "build/render"),
    ("/harness/run/", "shim boots (server I/O, waiting)"),
    ("subprocess.py", "shim boots (server I/O, waiting)"),
    ("selectors.py", "shim boots (server I/O, waiting)"),
    ("/py_impl/", "models"),
    ("/harness/judge/", "compare/classify"), ("/harness/core/verdict", "compare/classify"),
    ("/json/", "JSON"),
    ("/harness/report/", "reporting"), ("/rich/", "reporting"), ("pygments", "reporting"),
    ("/harness/campaign/", "campaign (generate, evaluate, records)"),
    ("/harness/core/", "core (cases, results, paths)"),
    ("/harness/cli/", "cli"),
    ("threading.py", IDLE), ("queue.py", IDLE),
    ("<frozen importlib", "imports"), ("tomllib", "cases (TOML)"),
]

Func = tuple[str, int, str]


def stage_of(func: Func) -> str | None:
    """The stage of a function by its file; None: a C or standard-library
    function, which works for its callers."""
    filename = func[0]
    stage = next((stage for fragment, stage in STAGES if fragment in filename), None)
    if stage is None and ("/harness/" in filename or "/py_impl/" in filename
                          or "/site-packages/" in filename):
        return "other (harness, libraries)"
    return stage


def stage_times(stats: pstats.Stats) -> Counter[str]:
    """Own time per stage; a C or standard-library function's own time goes
    to its callers' stages: split exactly by caller one level up, then in
    proportion to the callers' cumulative time further up."""
    raw: dict[Func, Any] = stats.stats  # type: ignore[attr-defined]
    shares: dict[Func, Counter[str]] = {}

    def share(func: Func, depth: int) -> Counter[str]:
        """Where one second spent in `func` belongs."""
        stage = stage_of(func)
        if stage is not None:
            return Counter({stage: 1.0})
        if func in shares:
            return shares[func]
        callers = raw.get(func, (0, 0, 0, 0, {}))[4]
        total = sum(edge[3] for edge in callers.values())
        if depth > 20 or not callers or total <= 0:
            return Counter({f"unattributed: {func[2]}": 1.0})
        out: Counter[str] = Counter()
        for caller, edge in callers.items():
            for name, part in share(caller, depth + 1).items():
                out[name] += part * edge[3] / total
        shares[func] = out
        return out

    out: Counter[str] = Counter()
    for func, (_, _, own, _, callers) in raw.items():
        stage = stage_of(func)
        if stage is not None:
            out[stage] += own
            continue
        for caller, edge in callers.items():  # exact one level up
            for name, part in share(caller, 0).items():
                out[name] += edge[2] * part
        if not callers:
            out[f"unattributed: {func[2]}"] += own
    return out


class ThreadProfiles:
    """A profiler for the main thread and each thread started while on."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._run = threading.Thread.run

    def __enter__(self) -> ThreadProfiles:
        original = self._run
        profiles = self.profiles

        def run(thread: threading.Thread) -> None:
            profile = cProfile.Profile()
            profiles.append(profile)
            profile.runcall(original, thread)

        setattr(threading.Thread, "run", run)  # noqa: B010 (mypy: a method replaced)
        self.main = cProfile.Profile()
        self.profiles.append(self.main)
        self.main.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        self.main.disable()
        setattr(threading.Thread, "run", self._run)  # noqa: B010

    def stats(self) -> pstats.Stats:
        stats = pstats.Stats(self.profiles[0])
        for profile in self.profiles[1:]:
            stats.add(profile)
        return stats


class ShimClock:
    """Sums the shim's fork-to-exit time of every result server.run_cases yields,
    and the CPU time of this process and of its children (shim servers and
    their forks, compilers) while the command ran."""

    def __init__(self) -> None:
        self.boots = 0
        self.elapsed_us = 0
        self.cpu_self = self.cpu_children = 0.0
        # NR_CPUS -> [boots, shim fork-to-exit us, model calls, model seconds]
        self.by_nr_cpus: dict[int, list[float]] = {}

    def _tally(self, nr_cpus: int, index: int, amount: float) -> None:
        row = self.by_nr_cpus.setdefault(nr_cpus, [0, 0, 0, 0.0])
        row[index] += 1
        row[index + 1] += amount

    def __enter__(self) -> ShimClock:
        self._self = cpu(resource.RUSAGE_SELF)
        self._children = cpu(resource.RUSAGE_CHILDREN)
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu_self = cpu(resource.RUSAGE_SELF) - self._self
        self.cpu_children = cpu(resource.RUSAGE_CHILDREN) - self._children

    def wrap(self, run_cases: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        def counted(*args: Any, **kwargs: Any) -> Iterator[Any]:
            for result in run_cases(*args, **kwargs):
                self.boots += 1
                self.elapsed_us += int(result.get("elapsed_us", 0))
                self._tally(int(result.get("nr_cpus", 0)), 0, int(result.get("elapsed_us", 0)))
                yield result
        return counted

    def wrap_model(self, run_model: Callable[..., Any]) -> Callable[..., Any]:
        def timed(generation: Any, case: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return run_model(generation, case, *args, **kwargs)
            finally:
                self._tally(case.nr_cpus, 2, time.perf_counter() - start)
        return timed


def cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def profile_command(argv: Sequence[str]) -> tuple[pstats.Stats, float, ShimClock, int]:
    import py_impl
    from harness.cli import app
    from harness.run import server

    clock = ShimClock()
    original, model = server.run_cases, py_impl.run_model
    server.run_cases = clock.wrap(original)
    py_impl.run_model = clock.wrap_model(model)
    try:
        # what it prints is made (and timed) but not shown
        with clock, ThreadProfiles() as profiles, contextlib.redirect_stdout(io.StringIO()):
            start = time.perf_counter()
            status = app.main(list(argv))
            wall = time.perf_counter() - start
    finally:
        server.run_cases, py_impl.run_model = original, model
    return profiles.stats(), wall, clock, status


def profile_model() -> tuple[pstats.Stats, float, ShimClock, int]:
    import py_impl
    from harness.core import cases
    from harness.core.generation import GenerationName

    case = cases.load_case(Path(HUGE))
    with ThreadProfiles() as profiles:
        start = time.perf_counter()
        py_impl.run_model(GenerationName("modern"), case)
        wall = time.perf_counter() - start
    return profiles.stats(), wall, ShimClock(), 0


def report(name: str, stats: pstats.Stats, wall: float, clock: ShimClock, top: int,
           status: int) -> Iterable[str]:
    stages = stage_times(stats)
    total = sum(stages.values())
    busy = total - stages[IDLE]
    yield (f"== {name}: wall {wall:.2f} s, exit {status}; profiled time over all threads "
           f"{total:.2f} s, {busy:.2f} s of it not idle")
    if clock.cpu_self or clock.cpu_children:
        yield (f"   CPU: this process {clock.cpu_self:.2f} s (user+sys, all threads, profiler "
               f"included), its children (shim servers, compilers) {clock.cpu_children:.2f} s")
    if clock.boots:
        yield (f"   shim boots: {clock.boots}, fork-to-exit sum {clock.elapsed_us / 1e6:.2f} s "
               f"({100 * clock.elapsed_us / 1e6 / wall:.0f}% of wall; the servers run beside "
               f"the main process)")
    if clock.by_nr_cpus:
        yield "   by NR_CPUS: boots, shim fork-to-exit s, model calls, model s (profiled)"
        for nr_cpus, (boots, us, calls, model_s) in sorted(clock.by_nr_cpus.items()):
            yield f"   {nr_cpus:8d} {boots:6.0f} {us / 1e6:8.2f} {calls:6.0f} {model_s:8.2f}"
    yield "   own time by stage, % of the time not idle (C and stdlib count with their callers):"
    for stage, seconds in stages.most_common():
        if seconds >= 0.005 * total:
            share = "" if stage == IDLE else f"{100 * seconds / busy:5.1f}%"
            yield f"   {seconds:8.2f} s {share:>6}  {stage}"
    yield f"   top {top} functions by cumulative time:"
    raw: dict[Func, Any] = stats.stats  # type: ignore[attr-defined]
    yield from function_rows(sorted(raw.items(), key=lambda item: -item[1][3])[:top])
    yield f"   top {top} functions by own time:"
    yield from function_rows(sorted(raw.items(), key=lambda item: -item[1][2])[:top])


def function_rows(rows: Iterable[tuple[Func, Any]]) -> Iterator[str]:
    yield f"   {'cumul s':>8} {'own s':>8} {'calls':>9}  function"
    for (filename, line, func), (_, calls, own, cumulative, _) in rows:
        where = filename.split("/site-packages/")[-1].split("/lib/python3")[-1]
        where = where.replace(str(ROOT) + "/", "")
        yield f"   {cumulative:8.2f} {own:8.2f} {calls:9d}  {where}:{line}({func})"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=[*COMMANDS, "model"])
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--dump", type=Path, help="write the merged pstats here")
    words = list(sys.argv[1:] if argv is None else argv)
    # after --: the command's own words, instead of the default ones
    given = words[words.index("--") + 1:] if "--" in words else []
    args = ap.parse_args(words[:words.index("--")] if "--" in words else words)
    if args.what == "model":
        stats, wall, clock, status = profile_model()
    else:
        command = given or COMMANDS[args.what]
        with tempfile.TemporaryDirectory(prefix="percpu-diff-profile-") as scratch:
            if command[0] == "run" and "--out" not in command:
                command = [*command, "--out", f"{scratch}/run"]
            stats, wall, clock, status = profile_command(command)
    if args.dump:
        stats.dump_stats(args.dump)
    lines = list(report(args.what, stats, wall, clock, args.top, status))
    print("\n".join(lines), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fault injection for the per-boot limits, for real: CPU hogs beside the
shim, a boot that loops, one that blocks, one that eats memory.

The promises (issue 15, items 2, 3 and 7):
* the time limit is CPU time, so a loaded machine gives the verdicts of a
  quiet one;
* a kernel that loops is a kernel outcome, a "hang" with its place;
* a boot the backstop stops (blocked, not starved) is inconclusive: no
  findings, named by the report with what to try, never shrunk;
* --mem-mb bounds the boot's memory, the simulated memory included, and a
  boot over it is inconclusive, never a kernel outcome.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import NR_CPUS, CaseFactory, ShimFactory, dir_snapshot, kernel, line_of, magic
from rich.console import Console

from harness.campaign import reproduce, runner
from harness.compile import shims
from harness.core.cases import Case
from harness.core.verdict import Verdict
from harness.judge import triage
from harness.report import console, run_report
from harness.run import server

UNIT_MAP = kernel("unit_map")
ALLOC_INFO = kernel("alloc_info")
UNIT_MAP_C = UNIT_MAP / "mm" / "percpu.c"
SLOW_MS = magic("FX_SLOW_CPU_MS")


def fixture_case(make_case: CaseFactory, name: str, magic_name: str | None = None,
                 **fields: Any) -> Case:
    static = magic(magic_name) if magic_name else 40960
    return make_case(name, scenario="embed", static_size=static, reserved_size=8192,
                     dyn_size=20480, **fields)


@contextmanager
def cpu_hogs(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` processes that spin for ever, killed (by pid) on the way out."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(count)]
    try:
        time.sleep(0.5)  # let them take the cores
        yield hogs
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


def kinds(results: list[Any]) -> list[str]:
    return [r["outcome"]["kind"] for r in results]


# ------------------------------------------------------------ a busy machine

def test_a_cpu_hog_beside_the_shim_changes_no_verdict(make_shim: ShimFactory,
                                                      make_case: CaseFactory) -> None:
    """A boot that needs SLOW_MS of CPU, under a limit of twice that: quiet,
    it finishes; beside three hogs a core it waits for a core most of the
    time, which a wall-clock limit counted against it (it timed out)."""
    shim = make_shim(UNIT_MAP)
    limits = server.Limits(timeout_ms=2 * SLOW_MS)
    batch = [fixture_case(make_case, f"slow{n}", "FX_STATIC_SLOW") for n in range(3)]
    batch.append(fixture_case(make_case, "plain"))
    quiet = list(server.run_cases(shim, batch, limits))
    assert kinds(quiet) == ["ok"] * 4
    with cpu_hogs(3 * (os.cpu_count() or 2)):
        started = time.monotonic()
        busy = list(server.run_cases(shim, batch, limits))
        waited = time.monotonic() - started
    assert kinds(busy) == kinds(quiet)
    assert [r.get("state") for r in busy] == [r.get("state") for r in quiet]
    # the hogs did slow it down: the old wall-clock limit would have fired
    assert waited > len(batch[:3]) * 2 * SLOW_MS / 1000


def test_a_starved_boot_is_not_stopped_by_the_backstop(make_shim: ShimFactory,
                                                       make_case: CaseFactory) -> None:
    """The backstop counts time blocked, not time waiting for a core: a boot
    of SLOW_MS CPU beside hogs takes several times that in wall-clock time,
    more than a backstop of SLOW_MS, and still finishes."""
    shim = make_shim(UNIT_MAP)
    limits = server.Limits(timeout_ms=4 * SLOW_MS, wall_ms=SLOW_MS)
    batch = [fixture_case(make_case, f"slow{n}", "FX_STATIC_SLOW") for n in range(3)]
    with cpu_hogs(3 * (os.cpu_count() or 2)):
        results = list(server.run_cases(shim, batch, limits))
    assert kinds(results) == ["ok"] * 3
    assert max(r["elapsed_us"] for r in results) > 1000 * SLOW_MS * 1.5


def test_a_kernel_loop_is_a_hang_with_its_place_on_a_busy_machine_too(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    shim = make_shim(UNIT_MAP)
    limits = server.Limits(timeout_ms=300)
    case = fixture_case(make_case, "loops", "FX_STATIC_HANG")
    with cpu_hogs(2 * (os.cpu_count() or 2)):
        result = server.run_one(shim, case, limits)
    hang = result["outcome"]
    assert hang["kind"] == "hang", hang
    assert (hang["function"], hang["file"]) == ("fx_scratch", "mm/percpu.c")
    assert hang["line"] in range(line_of(UNIT_MAP_C, "fx_spins++;") - 1,
                                 line_of(UNIT_MAP_C, "fx_spins++;") + 1)
    assert hang["cpu_ms"] >= 0.75 * limits.timeout_ms  # rusage and the timer differ
    assert console.outcome_text(result).startswith(
        f"hang in fx_scratch at mm/percpu.c:{hang['line']}: used all its 300 ms of CPU")


def test_a_blocked_boot_is_stopped_by_the_backstop(make_shim: ShimFactory,
                                                              make_case: CaseFactory) -> None:
    """Waiting uses no CPU time: the backstop ends it, as a timeout."""
    shim = make_shim(UNIT_MAP)
    limits = server.Limits(timeout_ms=300, wall_ms=1500)
    started = time.monotonic()
    blocked, after = server.run_cases(
        shim, [fixture_case(make_case, "waits", "FX_STATIC_BLOCK"),
               fixture_case(make_case, "after")], limits)
    assert 1.4 < time.monotonic() - started < 30
    timeout = blocked["outcome"]
    assert timeout["kind"] == "timeout" and timeout["wall_ms"] == 1500
    assert timeout["cpu_ms"] < 300 and timeout["limit_ms"] == 300
    assert after["outcome"]["kind"] == "ok"


def test_a_busy_machine_does_not_cut_a_sanitizer_report_short(make_shim: ShimFactory,
                                                               make_case: CaseFactory) -> None:
    """ASan symbolizes its report in another process, on wall-clock time: a
    small limit used to cut it after its first line (still a "sanitizer"
    outcome, without the evidence).  The report is CPU time outside the
    boot's limit now, and whole."""
    shim = make_shim(UNIT_MAP, sanitize=True)
    batch = [fixture_case(make_case, f"oob{n}", "FX_STATIC_OOB") for n in range(3)]
    with cpu_hogs(3 * (os.cpu_count() or 2)):
        results = list(server.run_cases(shim, batch, server.Limits(timeout_ms=150)))
    assert kinds(results) == ["sanitizer"] * 3
    for result in results:
        report = result["outcome"]["stderr"]
        assert "ERROR: AddressSanitizer: use-after-poison" in report, report[:300]
        assert "SUMMARY: AddressSanitizer" in report, report[-300:]


# ------------------------------------------------ a timeout is inconclusive

def fixture_plan(cases: tuple[Case, ...], limits: server.Limits) -> runner.Plan:
    sides = []
    for name, path in (("old", UNIT_MAP), ("new", ALLOC_INFO)):
        snap = dir_snapshot(path)
        rendered = shims.render(snap)
        sides.append(runner.Side(name, snap.label, rendered.api.generation, rendered, snap))
    return runner.Plan(tuple(sides), cases, (), tuple(triage.load_triage()), limits=limits,
                       jobs=1)


def test_a_timed_out_case_is_inconclusive_named_and_never_shrunk(
        make_case: CaseFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = fixture_case(make_case, "waits", "FX_STATIC_BLOCK")
    other = fixture_case(make_case, "plain")
    plan = fixture_plan((blocked, other), server.Limits(timeout_ms=300, wall_ms=1500))
    records: dict[str, runner.CaseRecord] = {}
    runner.execute(plan, plan.cases, lambda r: records.__setitem__(r.case, r))
    record = records["waits"]
    assert record.outcomes["old"] == "timeout"
    assert record.verdict == Verdict.INCONCLUSIVE
    # the case is judged when it is tried again: it holds no findings now
    assert record.findings == ()
    summary, ordered = runner.summarize(plan, records)
    assert summary.counts[Verdict.INCONCLUSIVE] == 1
    # the table of differences agrees with the counts: no unexpected row
    # comes from the inconclusive case
    assert not any(hits.first_case == "waits" for hits in summary.by_kind.values())
    assert summary.counts[Verdict.UNEXPECTED] == summary.label_cases[Verdict.UNEXPECTED]
    boots: list[str] = []
    real_boot = runner.boot

    def counting_boot(plan: runner.Plan, case: Case) -> runner.CaseRecord:
        boots.append(case.name)
        return real_boot(plan, case)

    monkeypatch.setattr(runner, "boot", counting_boot)
    found = reproduce.find_reproducers(
        plan, summary, limit=20, budget=reproduce.Budget(4), command=lambda c: f"repro {c.name}",
        progress=lambda what, total, status: console.steps(Console(file=io.StringIO()), what,
                                                           total, status))
    assert not [r for r in found if r.first_case == "waits"]
    assert not [name for name in boots if name.startswith("waits")]
    unjudged = reproduce.unjudged(plan, ordered, lambda c: f"percpu-diff repro {c.name}")
    assert [(u.case, u.command) for u in unjudged] == [
        ("waits", "percpu-diff repro waits --timeout-ms 1200")]
    shown = io.StringIO()
    info = run_report.RunInfo(["old", "new"], 0, 0, 0, 2, None, [NR_CPUS], ["embed"])
    run_report.show_summary(Console(file=shown, width=200), info, summary, found, unjudged)
    text = shown.getvalue()
    assert "inconclusive: waits (old timeout, new ok)" in text
    assert "percpu-diff repro waits --timeout-ms 1200" in text


# ---------------------------------------------------------------- memory

MEASURE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], input=sys.stdin.read(), capture_output=True, text=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(done.stdout, end="")
"""


def peak_rss_mb(shim: shims.Shim, case: Case, limits: server.Limits) -> tuple[str, float]:
    """The shim server run alone on `case`, from a fresh interpreter: its
    result line, and the peak resident memory of the server and its
    children (RUSAGE_CHILDREN: the largest of them)."""
    done = subprocess.run([sys.executable, "-c", MEASURE, str(shim.path), *limits.arguments()],
                          input=case.shim_line() + "\n", capture_output=True, text=True,
                          timeout=300, check=True)
    peak_kb, line = done.stdout.split("\n", 1)
    return line, int(peak_kb) / 1024


def test_mem_mb_bounds_the_simulated_memory(make_shim: ShimFactory,
                                            make_case: CaseFactory) -> None:
    """A 64 MiB static image, copied into every unit: several hundred MiB of
    simulated memory, which the old limit (address space beyond the regions
    reserved up front) never saw."""
    shim = make_shim(UNIT_MAP)
    big = make_case("big", scenario="embed", static_size=64 << 20, reserved_size=8192,
                    dyn_size=20480)
    limits = server.Limits(timeout_ms=60_000, mem_mb=48)
    result = server.run_one(shim, big, limits)
    assert result["outcome"]["kind"] == "memory", result["outcome"]
    assert "over --mem-mb 48" in result["outcome"]["message"]
    line, peak = peak_rss_mb(shim, big, limits)
    assert '"kind":"memory"' in line
    assert peak < 48 + 64, peak  # the limit, the server's own pages and one tick's growth
    # under the limit, the same case boots
    assert server.run_one(shim, big, server.Limits(timeout_ms=60_000, mem_mb=2048))[
        "outcome"]["kind"] == "ok"

"""Fault injection across the whole pipeline, for real: a `percpu-diff run`
process killed with SIGKILL or interrupted with SIGINT at moments spread over
its work (running cases, then searching reproducers), then resumed, must
leave a report byte-identical to an uninterrupted run's.

The per-area fault suites sit beside this one: test_faults_rundir.py (the
lock, identity, torn files, output paths), test_faults_input.py (bad
values), test_faults_limits.py (a loaded machine, hangs, memory) and
test_faults_bounds.py (sizes, a damaged shim cache).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import kernel, magic

from harness.core import cases as cases_mod

ROOT = Path(__file__).resolve().parent.parent
RUN = ["run", "--dir", str(kernel("unit_map")), "--dir", str(kernel("alloc_info")),
       "--cases", "12", "--nr-cpus", "8", "--no-corpus", "--jobs", "2",
       "--shrink-budget", "40", "--max-reproducers", "2",
       # reports are compared whole: no time budget, which load could cut short
       "--shrink-seconds", "3600"]
CASES = 12


def start(out: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from harness.cli.app import main; sys.exit(main())",
         *RUN, "--out", str(out), *extra],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=_ctrl_c_reaches)


def _ctrl_c_reaches() -> None:
    # A shell's background job (CI started with `&`) ignores SIGINT, and an
    # ignored SIGINT is inherited: Python then has no Ctrl-C to turn into
    # KeyboardInterrupt.  The run is given what a terminal gives it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def finish(out: Path, *extra: str) -> int:
    proc = start(out, *extra)
    _, err = proc.communicate(timeout=600)
    assert b"Traceback" not in err, err.decode()
    return proc.returncode


def records(out: Path) -> int:
    try:
        return (out / "results.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def interrupt_when(out: Path, sig: int, ready: int, delay: float) -> bool:
    """Start a run and send `sig` `delay` seconds after `ready` results are
    on disk (the reproducer search starts when all CASES are); False if the
    run had written its report first."""
    proc = start(out)
    deadline = time.monotonic() + 600
    while records(out) < ready and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    running = proc.poll() is None
    if running:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=600)
    assert b"Traceback" not in err, err.decode()
    # A run killed while it prints its summary was not interrupted in time
    return running and not (out / "report.json").exists()


@dataclass(frozen=True)
class Whole:
    report: bytes
    search_seconds: float  # from the last record on disk to report.json


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Whole:
    out = tmp_path_factory.mktemp("whole") / "run"
    proc = start(out)
    while records(out) < CASES and proc.poll() is None:
        time.sleep(0.005)
    searching = time.monotonic()
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, err.decode()  # the fixtures differ: unexpected differences
    return Whole((out / "report.json").read_bytes(), time.monotonic() - searching)


@pytest.mark.parametrize(("sig", "ready"), [
    (signal.SIGKILL, 1), (signal.SIGKILL, 7), (signal.SIGKILL, CASES), (signal.SIGINT, 3),
    (signal.SIGINT, CASES)])
def test_an_interrupted_run_resumes_to_the_same_report(tmp_path: Path, whole: Whole,
                                                       sig: int, ready: int) -> None:
    # Into the reproducer search: half its length in an uninterrupted run,
    # less on each try where the run still ended first.
    delay = whole.search_seconds / 2 if ready == CASES else 0.0
    for attempt in range(5):
        out = tmp_path / f"run{attempt}"
        if interrupt_when(out, sig, ready, delay / 2 ** attempt):
            break
    else:
        pytest.fail(f"five runs ended before they could be interrupted at {ready} records")
    assert finish(out, "--resume") == 1
    assert (out / "report.json").read_bytes() == whole.report
    assert records(out) == CASES


def run_summary(out: Path, *extra: str) -> tuple[int, dict[str, int], list[tuple[str, ...]]]:
    """The exit status, the summary and each case's verdict and outcomes."""
    proc = start(out, *extra)
    _, err = proc.communicate(timeout=900)
    assert b"Traceback" not in err, err.decode()
    summary = json.loads((out / "report.json").read_text())["summary"]
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return proc.returncode, summary, sorted(
        (r["case"], r["verdict"], *sorted(r["outcomes"].values())) for r in lines)


def test_a_run_beside_cpu_hogs_gives_the_quiet_runs_verdicts(tmp_path: Path) -> None:
    """Cases whose old side works SLOW_MS of CPU, under a limit of twice
    that: beside hogs that take every core, each boot waits several times
    its CPU time for a core, which the old wall-clock limit counted."""
    slow_ms = magic("FX_SLOW_CPU_MS")
    files = []
    for n, possible in enumerate(((0, 1), (0, 2, 4), (1, 3, 5, 7))):
        path = tmp_path / f"slow{n}.toml"
        path.write_text(cases_mod.case_to_toml(cases_mod.Case(
            f"slow{n}", "embed", 8, possible, static_size=magic("FX_STATIC_SLOW"),
            reserved_size=8192, dyn_size=20480)))
        files += ["--case", str(path)]
    limit = ("--cases", "0", "--timeout-ms", str(2 * slow_ms), *files)
    quiet = run_summary(tmp_path / "quiet", *limit)
    hogs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"])
            for _ in range(3 * (os.cpu_count() or 2))]
    try:
        started = time.monotonic()
        busy = run_summary(tmp_path / "busy", *limit)
        waited = time.monotonic() - started
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert busy == quiet
    assert quiet[0] == 1 and quiet[1]["inconclusive"] == quiet[1]["failed"] == 0
    assert waited > 3 * 2 * slow_ms / 1000  # the hogs did slow the boots down

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

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import kernel

ROOT = Path(__file__).resolve().parent.parent
RUN = ["run", "--dir", str(kernel("unit_map")), "--dir", str(kernel("alloc_info")),
       "--cases", "12", "--nr-cpus", "8", "--no-corpus", "--jobs", "2",
       "--shrink-budget", "40", "--max-reproducers", "2"]
CASES = 12


def start(out: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from harness.cli.app import main; sys.exit(main())",
         *RUN, "--out", str(out), *extra],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


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


def interrupt_when(out: Path, sig: int, ready: int) -> None:
    """Start a run and send `sig` once `ready` results are on disk (the
    reproducer search starts when all CASES are)."""
    proc = start(out)
    deadline = time.monotonic() + 600
    while records(out) < ready and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if ready == CASES:
        time.sleep(0.2)  # into shrinking (2-3 s here): its boots are not on disk
    running = proc.poll() is None
    if running:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=600)
    assert b"Traceback" not in err, err.decode()
    assert running, f"the run ended before {ready} records: nothing was interrupted"
    assert not (out / "report.json").exists()


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("whole") / "run"
    assert finish(out) == 1  # the fixtures differ: unexpected differences
    return (out / "report.json").read_bytes()


@pytest.mark.parametrize(("sig", "ready"), [
    (signal.SIGKILL, 1), (signal.SIGKILL, 7), (signal.SIGKILL, CASES), (signal.SIGINT, 3),
    (signal.SIGINT, CASES)])
def test_an_interrupted_run_resumes_to_the_same_report(tmp_path: Path, whole: bytes,
                                                       sig: int, ready: int) -> None:
    out = tmp_path / "run"
    interrupt_when(out, sig, ready)
    assert finish(out, "--resume") == 1
    assert (out / "report.json").read_bytes() == whole
    assert records(out) == CASES

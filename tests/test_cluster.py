"""Campaigns on a Dask cluster give what a run on this machine gives.

A LocalCluster of two worker processes stands in for several machines: the
plan goes to each worker once, each worker builds its shims into its own
cache (here the session's, through the environment it inherits) and the
records come back to the process that writes them.  A worker killed in the
middle of a run has its batches run again on another; a scheduler that
does not answer is refused before anything is written.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import dir_snapshot, kernel

from harness.campaign import executor, generate, runner
from harness.compile import shims
from harness.judge import triage

ROOT = Path(__file__).resolve().parent.parent
UNIT_MAP = kernel("unit_map")
ALLOC_INFO = kernel("alloc_info")
CASES = 16

Outcome = tuple[str, str, tuple[dict[str, object], ...]]


@pytest.fixture(scope="module")
def plan() -> runner.Plan:
    """The two fixture kernels over generated cases, in batches of two (as
    if for eight workers) so that a killed worker has batches left to lose."""
    sides = []
    for name, path in (("old", UNIT_MAP), ("new", ALLOC_INFO)):
        snap = dir_snapshot(path)
        rendered = shims.render(snap)
        sides.append(runner.Side(name, snap.label, rendered.api.generation, rendered, snap))
    cases = tuple(generate.generate(CASES, 3, "embed", 8))
    return runner.Plan(tuple(sides), cases, (), tuple(triage.load_triage()), jobs=8)


@pytest.fixture(scope="module")
def cluster() -> Iterator[executor.Cluster]:
    with executor.connect(executor.LOCAL, 2) as workers:
        assert isinstance(workers, executor.Cluster)
        yield workers


def outcomes(records: list[runner.CaseRecord]) -> dict[str, Outcome]:
    assert len({r.case for r in records}) == len(records), "a case recorded twice"
    return {r.case: (r.case, r.verdict, tuple(f.to_json() for f in r.findings))
            for r in records}


@pytest.fixture(scope="module")
def here(plan: runner.Plan) -> dict[str, Outcome]:
    records: list[runner.CaseRecord] = []
    runner.execute(plan, plan.cases, records.append, workers=executor.Processes(2))
    assert len(records) == CASES
    return outcomes(records)


def test_a_local_cluster_gives_the_records_of_a_local_run(
        plan: runner.Plan, cluster: executor.Cluster, here: dict[str, Outcome]) -> None:
    records: list[runner.CaseRecord] = []
    runner.execute(plan, plan.cases, records.append, workers=cluster)
    assert outcomes(records) == here


def test_a_worker_killed_mid_run_loses_no_case(
        plan: runner.Plan, cluster: executor.Cluster, here: dict[str, Outcome]) -> None:
    pids: dict[str, int] = cluster.client.run(os.getpid)
    victim = sorted(pids.values())[0]
    records: list[runner.CaseRecord] = []

    def on_record(record: runner.CaseRecord) -> None:
        if not records:
            os.kill(victim, signal.SIGKILL)
        records.append(record)

    runner.execute(plan, plan.cases, on_record, workers=cluster)
    assert victim not in cluster.client.run(os.getpid).values()  # it did die
    assert outcomes(records) == here


def test_a_scheduler_that_does_not_answer_is_one_line_and_writes_nothing(
        tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli.app", "run", "--dir", str(UNIT_MAP),
         "--dir", str(ALLOC_INFO), "--cases", "2", "--nr-cpus", "8", "--no-corpus",
         "--scheduler", address, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and address in lines[0] and "dask scheduler" in lines[0], lines
    assert not out.exists()


def test_run_on_a_local_cluster_reports_as_a_local_run(tmp_path: Path) -> None:
    reports = []
    for name, workers in (("here", ["--jobs", "2"]), ("cluster", ["--scheduler", "local",
                                                                 "--jobs", "2"])):
        out = tmp_path / name
        done = subprocess.run(
            [sys.executable, "-m", "harness.cli.app", "run", "--dir", str(UNIT_MAP),
             "--dir", str(ALLOC_INFO), "--cases", "6", "--nr-cpus", "8", "--no-corpus",
             "--max-reproducers", "0", *workers, "--out", str(out)],
            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 1, done.stderr  # the fixtures differ
        assert "Traceback" not in done.stderr, done.stderr
        reports.append((out / "report.json").read_bytes())
    assert reports[0] == reports[1]

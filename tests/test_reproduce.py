"""The reproducer search on the invented fixture kernels (issue 16, item 3):
each unexpected difference is shrunk from the smallest case that shows it,
within a budget of time as well as of boots, and shows its progress.

No assertion here is timed: the time budget is read from a clock the tests
drive, one second per boot.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import dir_snapshot, kernel
from rich.console import Console

from harness.campaign import reproduce, runner, shrink
from harness.cli import app
from harness.compile import shims
from harness.core.cases import Case
from harness.judge import triage
from harness.report import console, run_report

# The fixtures' old and new allocators differ on every case: nobody's known bug.
UNIT_MAP = kernel("unit_map")
ALLOC_INFO = kernel("alloc_info")

# The first case is the bigger one: before, the shrink started from it.
BIG = Case(name="big", nr_cpus=16, possible=tuple(range(16)), static_size=40960,
           reserved_size=8192, dyn_size=20480)
SMALL = Case(name="small", nr_cpus=8, possible=(0, 2, 4), static_size=40960,
             reserved_size=8192, dyn_size=20480)


def fixture_plan(*run_cases: Case) -> runner.Plan:
    sides = []
    for name, path in (("old", UNIT_MAP), ("new", ALLOC_INFO)):
        snap = dir_snapshot(path)
        rendered = shims.render(snap)
        sides.append(runner.Side(name, snap.label, rendered.api.generation, rendered, snap))
    return runner.Plan(tuple(sides), run_cases, (), tuple(triage.load_triage()), jobs=1)


@pytest.fixture(scope="module")
def records() -> tuple[runner.Plan, dict[str, runner.CaseRecord]]:
    """The two cases run, big first; both show the fixtures' differences."""
    plan = fixture_plan(BIG, SMALL)
    records: dict[str, runner.CaseRecord] = {}
    runner.execute(plan, plan.cases, lambda r: records.__setitem__(r.case, r))
    return plan, records


@pytest.fixture(scope="module")
def ran(records: tuple[runner.Plan, dict[str, runner.CaseRecord]]
        ) -> tuple[runner.Plan, runner.Summary]:
    plan, by_case = records
    summary, _ = runner.summarize(plan, by_case)
    return plan, summary


class Boots:
    """runner.boot, counted, with a clock that moves one second per boot."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.cases: list[Case] = []
        self.now = 0.0
        real = runner.boot

        def boot(plan: runner.Plan, case: Case) -> runner.CaseRecord:
            self.cases.append(case)
            self.now += 1.0
            return real(plan, case)

        monkeypatch.setattr(runner, "boot", boot)

    def clock(self) -> float:
        return self.now


def quiet(sink: io.StringIO) -> reproduce.Progress:
    """The run's display on a console that is not a terminal: plain lines."""
    def show(what: str, total: int,
             status: Callable[[], str]) -> reproduce.ProgressContext:
        return console.steps(Console(file=sink, width=200), what, total, status)
    return show


def search(plan: runner.Plan, summary: runner.Summary, budget: reproduce.Budget,
           boots: Boots, sink: io.StringIO | None = None,
           limit: int = 20) -> list[reproduce.Reproducer]:
    return reproduce.find_reproducers(
        plan, summary, limit=limit, budget=budget, command=lambda c: f"repro {c.name}",
        progress=quiet(sink if sink is not None else io.StringIO()), clock=boots.clock)


def shows(plan: runner.Plan, case: Case, signature: str) -> bool:
    record = runner.boot(plan, case)
    return any(f.label == "unexpected" and f.signature == signature for f in record.findings)


# ------------------------------------------------------------ the start

def test_the_start_order_puts_nr_cpus_first() -> None:
    few_cpus_of_many = Case(name="a", nr_cpus=4096, possible=(0, 1))
    many_cpus_of_few = Case(name="b", nr_cpus=8, possible=tuple(range(8)))
    assert shrink.start_key(many_cpus_of_few) < shrink.start_key(few_cpus_of_many)
    # then the possible cpus, then size_key
    assert shrink.start_key(Case(name="c", nr_cpus=8, possible=(0,))) < \
        shrink.start_key(many_cpus_of_few)
    assert shrink.start_key(SMALL) < shrink.start_key(
        Case(name="d", nr_cpus=8, possible=(0, 2, 4), static_size=40961))


def test_each_difference_starts_from_the_smallest_case_that_shows_it(
        ran: tuple[runner.Plan, runner.Summary],
        records: tuple[runner.Plan, dict[str, runner.CaseRecord]]) -> None:
    plan, summary = ran
    starts = list(reproduce.starts(plan, summary))
    showing: dict[str, set[str]] = {}
    for record in records[1].values():
        for finding in record.findings:
            showing.setdefault(finding.kind.signature, set()).add(record.case)
    for start in starts:
        assert start.case.name == ("small" if "small" in showing[start.signature] else "big")
        assert start.finding.signature == start.signature
    # seen first in the bigger case, shrunk from the smaller one
    assert any(s.first_case == "big" and s.case.name == "small" for s in starts)


def test_the_shrink_boots_nothing_as_big_as_the_first_case(
        ran: tuple[runner.Plan, runner.Summary], monkeypatch: pytest.MonkeyPatch) -> None:
    plan, summary = ran
    boots = Boots(monkeypatch)
    found = search(plan, summary, reproduce.Budget(6), boots, limit=2)
    assert found and boots.cases
    assert all(c.nr_cpus <= SMALL.nr_cpus for c in boots.cases)
    for repro in found:
        assert repro.shrunk_from == "small" == repro.to_json()["shrunk_from"]
        assert shrink.start_key(repro.case) <= shrink.start_key(SMALL)


# ------------------------------------------------------------ the budget

def test_the_time_budget_cuts_a_shrink_short_and_says_so(
        ran: tuple[runner.Plan, runner.Summary], monkeypatch: pytest.MonkeyPatch) -> None:
    plan, summary = ran
    boots = Boots(monkeypatch)
    # Three seconds of the test's clock: three boots, of the 150 allowed.
    [repro] = search(plan, summary, reproduce.Budget(150, seconds=3), boots, limit=1)
    assert repro.attempts == 3 == len(boots.cases)
    assert repro.stopped == "time"
    assert repro.note().endswith(", cut short")
    assert "cut short by the time budget (3 s for the whole search)" in repro.further()
    assert "a larger --shrink-seconds goes further" in repro.further()
    assert repro.to_json()["cut_short"] == repro.cut_short
    # Still a reproducer: no bigger than its start, and a boot shows the difference.
    assert shrink.start_key(repro.case) <= shrink.start_key(SMALL)
    assert shows(plan, repro.case, repro.signature)
    shown = io.StringIO()
    info = run_report.RunInfo(["old", "new"], 0, 0, 0, 2, None, [8, 16], ["embed"])
    run_report.show_summary(Console(file=shown, width=200), info, summary, [repro])
    assert "cut short by the time budget" in shown.getvalue()


def test_a_time_budget_spent_before_a_shrink_keeps_the_smallest_case(
        ran: tuple[runner.Plan, runner.Summary], monkeypatch: pytest.MonkeyPatch) -> None:
    plan, summary = ran
    boots = Boots(monkeypatch)
    boots.now = 0.0
    found = search(plan, summary, reproduce.Budget(150, seconds=0.5), boots, limit=3)
    # the first shrink boots once (the time is read before each boot), and
    # leaves nothing for the others
    assert [r.stopped for r in found] == ["time"] * len(found)
    assert all(shrink.start_key(r.case) <= shrink.start_key(SMALL) for r in found)


def test_no_shrinking_at_zero_seconds(ran: tuple[runner.Plan, runner.Summary],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    plan, summary = ran
    boots = Boots(monkeypatch)
    found = search(plan, summary, reproduce.Budget(150, seconds=0), boots)
    assert found and not boots.cases
    assert all(r.case == SMALL and r.attempts == 0 and not r.cut_short for r in found)
    assert all(r.command == "repro small" for r in found)


def test_the_boot_budget_says_so_too(ran: tuple[runner.Plan, runner.Summary],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    plan, summary = ran
    boots = Boots(monkeypatch)
    [repro] = search(plan, summary, reproduce.Budget(2), boots, limit=1)
    assert repro.attempts == 2 and repro.stopped == "boots"
    assert "cut short by the budget of 2 boots: a larger --shrink-budget" in repro.further()


# ------------------------------------------------------------ progress

def test_each_shrink_shows_its_progress(ran: tuple[runner.Plan, runner.Summary],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    plan, summary = ran
    boots = Boots(monkeypatch)
    sink = io.StringIO()
    [repro] = search(plan, summary, reproduce.Budget(4, seconds=100), boots, sink, limit=1)
    lines = sink.getvalue().splitlines()
    assert lines[0] == (f"shrinking {repro.signature}: boots 0/4, NR_CPUS 8, 3 possible, "
                        "100.0 s left")
    assert lines[1] == (f"shrinking {repro.signature}: done, boots 4/4, NR_CPUS "
                        f"{repro.case.nr_cpus}, {len(repro.case.possible)} possible, "
                        "96.0 s left")


def test_a_terminal_gets_the_run_s_progress_bar() -> None:
    sink = io.StringIO()
    terminal = Console(file=sink, force_terminal=True, width=120)
    with console.steps(terminal, "shrinking x", 3, lambda: "boots 1/3") as advance:
        advance()
    assert "shrinking x" in sink.getvalue() and "boots 1/3" in sink.getvalue()


FIXTURES = ("--dir", str(UNIT_MAP), "--dir", str(ALLOC_INFO))


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("COLUMNS", "200")
    yield


@pytest.mark.usefixtures("wide")
def test_run_shows_shrink_progress_and_takes_shrink_seconds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", *FIXTURES, "--cases", "4", "--nr-cpus", "8", "--no-corpus", "--jobs", "1",
            "--max-reproducers", "1", "--timeout-ms", "60000"]
    status = app.main([*argv, "--shrink-budget", "3", "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err
    assert status == 1
    assert "shrinking " in err and ": boots 0/3, NR_CPUS 8" in err and ": done, boots " in err
    status = app.main([*argv, "--shrink-seconds", "0", "--out", str(tmp_path / "b")])
    captured = capsys.readouterr()
    assert status == 1 and "shrinking " not in captured.err
    assert "in 0 boots" in captured.out

"""Reproducers: each unexpected difference of a run, shrunk to a small case,
with the one command line that reruns it; and the command that retries
each case a run could not judge.

Each difference is shrunk from the smallest case that shows it (by
shrink.start_key: NR_CPUS, then the possible cpus, then the sizes), not the
first: a 2048-cpu case boots for about a second, a 4-cpu one in
milliseconds.  The search as a whole has a time budget beside each shrink's
budget of boots; what cuts a shrink short is said in its reproducer, which
is then the smallest case found so far - one that a boot showed the
difference in (time decides how far a shrink gets, never what it keeps).

A case whose boot timed out is never shrunk: its comparisons were dropped
(classify.judged), and a candidate that times out while shrinking does not
count as still showing the difference - a slow boot is not a finding."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TypedDict

from harness.campaign import runner, shrink
from harness.core import cases
from harness.core.verdict import Verdict
from harness.judge import classify

# A progress display: (what, total, status) -> a context that yields its
# advance(); status() is the text shown beside it, read at each advance.
ProgressContext = AbstractContextManager[Callable[[], None]]
Progress = Callable[[str, int, Callable[[], str]], ProgressContext]

# The reproducer search's time when the run does not give one: as long as
# the run took to boot its cases, and never less than this (a run resumed
# with every case done took no time; a shrink of small cases takes seconds).
FLOOR_SECONDS = 10.0


@dataclass(frozen=True)
class Reproducer:
    signature: str
    first_case: str  # the first case that showed the difference
    finding: classify.Finding  # as the case it was shrunk from shows it
    case: cases.Case  # shrunk
    attempts: int
    command: str
    shrunk_from: str = ""  # the smallest case that showed the difference
    # What ended the shrink early: "time" or "boots" (shrink.ShrinkResult.stopped),
    # and in words ("by the budget of 150 boots"); None and "" if nothing did.
    stopped: str | None = None
    cut_short: str = ""

    def note(self) -> str:
        """'shrunk from X in N boots', and whether it was cut short."""
        text = f"shrunk from {self.shrunk_from or self.first_case} in {self.attempts} boots"
        return f"{text}, cut short" if self.cut_short else text

    def further(self) -> str:
        """What cut the shrink short and how to go further; "" if nothing did."""
        if not self.cut_short:
            return ""
        option = "--shrink-seconds" if self.stopped == "time" else "--shrink-budget"
        return (f"cut short {self.cut_short}: a larger {option} goes further, and with "
                "--resume the run's cases are not booted again")

    def to_json(self) -> ReproducerJson:
        return {"signature": self.signature, "first_case": self.first_case,
                "shrunk_from": self.shrunk_from or self.first_case,
                "finding": self.finding.to_json(), "shrink_attempts": self.attempts,
                "cut_short": self.cut_short or None,
                "command": self.command, "case_toml": cases.case_to_toml(self.case)}


class ReproducerJson(TypedDict):
    """A reproducer in report.json."""

    signature: str
    first_case: str
    shrunk_from: str
    finding: classify.FindingJson
    shrink_attempts: int
    cut_short: str | None
    command: str
    case_toml: str


def repro_command(source_words: Sequence[str], case: cases.Case) -> str:
    """The one-line command that reruns `case` on the sources the words
    name (the run's source options, quoted for a shell)."""
    parts = ["percpu-diff", "repro", *source_words, *cases.option_words(case)]
    return " ".join(p if ";" not in p else shlex.quote(p) for p in parts)


@dataclass(frozen=True)
class Start:
    """Where one unexpected difference's shrink starts."""

    signature: str
    first_case: str
    case: cases.Case  # the smallest case that shows it
    finding: classify.Finding  # that case's


def starts(plan: runner.Plan, summary: runner.Summary) -> Iterator[Start]:
    """Each unexpected signature, in the order the run first saw them, with
    the smallest case that shows it (by shrink.start_key, which the run's
    Summary was given as its size_of; ties go to the run's case order)."""
    by_name = {c.name: c for c in plan.cases}
    for kind, hits in summary.by_kind.items():
        if kind.verdict is not Verdict.UNEXPECTED or hits.smallest_case not in by_name:
            continue
        smallest = hits.smallest if hits.smallest is not None else hits.first
        yield Start(kind.signature, hits.first_case, by_name[hits.smallest_case], smallest)


@dataclass(frozen=True)
class Budget:
    """What the reproducer search may spend: `boots` per shrink, `seconds`
    for the search as a whole (None: no limit; 0: no shrinking)."""

    boots: int
    seconds: float | None = None


def find_reproducers(plan: runner.Plan, summary: runner.Summary, *, limit: int,
                     budget: Budget, command: Callable[[cases.Case], str], progress: Progress,
                     clock: Callable[[], float] = time.monotonic) -> list[Reproducer]:
    """A reproducer for each of the first `limit` unexpected signatures, each
    shrunk from the smallest case that shows it, within `budget`: each shrink
    gets an equal share of the time still left when it starts, among the
    shrinks still ahead, so time a quick one leaves over goes to those after it."""
    todo = list(starts(plan, summary))[:limit]
    deadline = None if budget.seconds is None else clock() + budget.seconds
    out: list[Reproducer] = []

    def shows(candidate: cases.Case, signature: str) -> bool:
        record = runner.boot(plan, candidate)
        if record.verdict in (Verdict.INCONCLUSIVE, Verdict.FAILED):
            return False
        return any(f.label == "unexpected" and f.signature == signature
                   for f in record.findings)

    for n, start in enumerate(todo):
        # Differences seen together usually shrink together: reuse a
        # reproducer from the same start that already shows this one.
        earlier = next((r for r in out if r.shrunk_from == start.case.name and (
            r.case == start.case or shows(r.case, start.signature))), None)
        if earlier is not None:
            out.append(Reproducer(start.signature, start.first_case, start.finding,
                                  earlier.case, earlier.attempts, earlier.command,
                                  start.case.name, earlier.stopped, earlier.cut_short))
            continue
        share = None if deadline is None else \
            clock() + max(0.0, deadline - clock()) / _shrinks_ahead(todo[n:], out)
        result = _shrink_one(start, budget, share, shows, progress, clock)
        cut = _cut_short(result.stopped, budget)
        out.append(Reproducer(start.signature, start.first_case, start.finding, result.case,
                              result.attempts, command(result.case), start.case.name,
                              result.stopped if cut else None, cut))
    return out


def _shrinks_ahead(todo: Sequence[Start], done: Sequence[Reproducer]) -> int:
    """How many shrinks the signatures still to do will likely take: one per
    case they start from, less those shrunk already (signatures from one
    start usually share its reproducer)."""
    shrunk = {r.shrunk_from for r in done}
    return max(1, len({s.case.name for s in todo} - shrunk))


@dataclass
class _Watch:
    """A shrink under way, as its progress line shows it."""

    best: cases.Case
    boots: int
    budget: int
    until: float | None  # a clock() time; None: no limit
    clock: Callable[[], float]

    def status(self) -> str:
        left = "" if self.until is None else \
            f", {max(0.0, self.until - self.clock()):.1f} s left"
        return (f"boots {self.boots}/{self.budget}, NR_CPUS {self.best.nr_cpus}, "
                f"{len(self.best.possible)} possible{left}")

    def out_of_time(self) -> bool:
        return self.until is not None and self.clock() >= self.until


def _shrink_one(start: Start, budget: Budget, until: float | None,
                shows: Callable[[cases.Case, str], bool], progress: Progress,
                clock: Callable[[], float]) -> shrink.ShrinkResult:
    """One signature's shrink, its progress shown, stopped at `until` (a
    clock() time; None: no limit)."""
    if budget.seconds == 0:
        # No shrinking: the smallest case that shows it, as it is.
        return shrink.ShrinkResult(start.case, 0, 0, None)
    watch = _Watch(start.case, 0, budget.boots, until, clock)
    with progress(f"shrinking {start.signature}", budget.boots, watch.status) as advance:
        def step(boots: int, best: cases.Case) -> None:
            watch.best, watch.boots = best, boots
            advance()

        return shrink.shrink(start.case, lambda c: shows(c, start.signature),
                             budget=budget.boots, progress=step, out_of_time=watch.out_of_time)


def _cut_short(stopped: str | None, budget: Budget) -> str:
    """What cut a shrink short, in words ("" if nothing did)."""
    if stopped == "time":
        return f"by the time budget ({budget.seconds:.0f} s for the whole search)"
    if stopped == "boots" and budget.boots:
        return f"by the budget of {budget.boots} boots"
    return ""


@dataclass(frozen=True)
class Unjudged:
    """A case a run could not judge, and how to try it again."""

    case: str
    verdict: Verdict  # inconclusive or failed
    outcomes: Mapping[str, str]
    command: str

    def to_json(self) -> UnjudgedJson:
        return {"case": self.case, "verdict": self.verdict, "outcomes": dict(self.outcomes),
                "command": self.command}


class UnjudgedJson(TypedDict):
    case: str
    verdict: str
    outcomes: dict[str, str]
    command: str


def unjudged(plan: runner.Plan, records: Sequence[runner.CaseRecord],
             command: Callable[[cases.Case], str]) -> list[Unjudged]:
    """Every inconclusive or failed case, with the command that boots it again
    with four times the memory, if memory stopped it, else the time (a
    timeout stopped a boot that blocked or was starved; it may well finish
    on a second try)."""
    by_name = {c.name: c for c in plan.cases}
    out: list[Unjudged] = []
    for r in records:
        if r.verdict not in (Verdict.INCONCLUSIVE, Verdict.FAILED) or r.case not in by_name:
            continue
        retry = f" --mem-mb {4 * plan.limits.mem_mb}" if "memory" in r.outcomes.values() \
            else f" --timeout-ms {4 * plan.limits.timeout_ms}"
        out.append(Unjudged(r.case, r.verdict, r.outcomes, command(by_name[r.case]) + retry))
    return out

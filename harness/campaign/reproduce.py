"""Reproducers: each unexpected difference of a run, shrunk to a small case,
with the one command line that reruns it; and the command that retries
each case a run could not judge.

A case whose boot timed out is never shrunk: its comparisons were dropped
(classify.judged), and a candidate that times out while shrinking does not
count as still showing the difference - a slow boot is not a finding."""

from __future__ import annotations

import functools
import shlex
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TypedDict

from harness.campaign import runner, shrink
from harness.core import cases
from harness.core.verdict import Verdict
from harness.judge import classify

# A progress display: (what, total) -> a context that yields its advance().
Progress = Callable[[str, int], AbstractContextManager[Callable[[], None]]]


@dataclass(frozen=True)
class Reproducer:
    signature: str
    first_case: str
    finding: classify.Finding
    case: cases.Case  # shrunk
    attempts: int
    command: str

    def to_json(self) -> ReproducerJson:
        return {"signature": self.signature, "first_case": self.first_case,
                "finding": self.finding.to_json(), "shrink_attempts": self.attempts,
                "command": self.command, "case_toml": cases.case_to_toml(self.case)}


class ReproducerJson(TypedDict):
    """A reproducer in report.json."""

    signature: str
    first_case: str
    finding: classify.FindingJson
    shrink_attempts: int
    command: str
    case_toml: str


def repro_command(source_words: Sequence[str], case: cases.Case) -> str:
    """The one-line command that reruns `case` on the sources the words
    name (the run's source options, quoted for a shell)."""
    parts = ["percpu-diff", "repro", *source_words, *cases.option_words(case)]
    return " ".join(p if ";" not in p else shlex.quote(p) for p in parts)


def find_reproducers(plan: runner.Plan, summary: runner.Summary, *, limit: int, budget: int,
                     command: Callable[[cases.Case], str],
                     progress: Progress) -> list[Reproducer]:
    """A reproducer for each of the first `limit` unexpected signatures,
    shrunk in at most `budget` boots each."""
    by_name = {c.name: c for c in plan.cases}
    out: list[Reproducer] = []

    def shows(candidate: cases.Case, signature: str) -> bool:
        record = runner.boot(plan, candidate)
        if record.verdict in (Verdict.INCONCLUSIVE, Verdict.FAILED):
            return False
        return any(f.label == "unexpected" and f.signature == signature
                   for f in record.findings)

    for signature, first, finding in list(runner.unexpected_signatures(summary))[:limit]:
        # Differences seen together usually shrink together: reuse a
        # reproducer that already shows this one.
        earlier = next((r for r in out if r.first_case == first and shows(r.case, signature)),
                       None)
        if earlier is not None:
            out.append(Reproducer(signature, first, finding, earlier.case, earlier.attempts,
                                  earlier.command))
            continue
        with progress(f"shrinking {signature}", budget) as advance:
            result = shrink.shrink(by_name[first], functools.partial(shows, signature=signature),
                                   budget=budget, progress=lambda n, c: advance())
        out.append(Reproducer(signature, first, finding, result.case, result.attempts,
                              command(result.case)))
    return out


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

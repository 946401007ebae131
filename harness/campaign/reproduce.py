"""Reproducers: each unexpected difference of a run, shrunk to a small case,
with the one command line that reruns it."""

from __future__ import annotations

import functools
import shlex
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TypedDict

from harness.campaign import runner, shrink
from harness.core import cases
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

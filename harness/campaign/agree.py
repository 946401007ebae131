"""Does a model agree with the real code of its revision?

Every case runs in the shim and in the model of the source's generation;
the results are compared field by field and each difference is labelled
with the triage entry that explains it, if any.  A case is "agreeing"
with no differences, "triaged" when every difference is explained,
"unexplained" otherwise - those are what a reviewer looks at first - and
"inconclusive" when the kernel side timed out.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import py_impl
from harness.build.shims import Shim
from harness.core.cases import Case
from harness.core.fields import Fields
from harness.core.generation import GenerationName
from harness.core.result import BootResult
from harness.judge import compare, triage
from harness.run import server

# Kernel outcomes that say the simulation ran out of time or broke, not what
# the code computes: reported, never counted as agreement or disagreement.
INCONCLUSIVE = frozenset({"timeout", "harness"})


@dataclass(frozen=True)
class Verdict:
    case: Case
    kernel: BootResult
    model: BootResult
    labelled: tuple[triage.Labelled, ...]
    # The compared fields of each side, kept so later comparisons reuse them.
    kernel_fields: Fields = field(default_factory=dict)
    model_fields: Fields = field(default_factory=dict)

    @property
    def kind(self) -> str:
        if self.kernel.get("outcome", {}).get("kind") in INCONCLUSIVE:
            return "inconclusive"
        if not self.labelled:
            return "agree"
        if all(item.entry is not None for item in self.labelled):
            return "triaged"
        return "unexplained"

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case.name,
            "scenario": self.case.scenario,
            "verdict": self.kind,
            "kernel_outcome": self.kernel.get("outcome", {}).get("kind"),
            "differences": [
                {"field": item.difference.field, "kernel": item.difference.kernel,
                 "model": item.difference.model,
                 "triage": item.entry.id if item.entry else None}
                for item in self.labelled
            ],
        }


@dataclass
class Summary:
    cases: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    entries: Counter[str] = field(default_factory=Counter)
    unexplained_fields: Counter[str] = field(default_factory=Counter)

    def add(self, verdict: Verdict) -> None:
        self.cases += 1
        self.verdicts[verdict.kind] += 1
        self.outcomes[str(verdict.kernel.get("outcome", {}).get("kind"))] += 1
        # In the order the differences came (a set would follow the hash seed).
        for entry_id in dict.fromkeys(item.entry.id for item in verdict.labelled if item.entry):
            self.entries[entry_id] += 1
        for item in verdict.labelled:
            if item.entry is None:
                self.unexplained_fields[item.difference.field] += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "verdicts": dict(self.verdicts),
            "kernel_outcomes": dict(self.outcomes),
            "triage_entries": dict(self.entries),
            "unexplained_fields": dict(self.unexplained_fields),
        }


def judge(case: Case, kernel: BootResult, generation: GenerationName, source: str,
          entries: Sequence[triage.TriageEntry]) -> Verdict:
    # The revision's size parameters, as the shim reports them, are inputs
    # to the model like NR_CPUS: its logic is its own.
    model = py_impl.run_model(generation, case, kernel.get("constants"))
    kernel_fields, model_fields = compare.fields(kernel), compare.fields(model)
    differences = compare.compare_fields(kernel_fields, model_fields)
    subject = triage.Subject(case, kernel, model)
    labelled = triage.label(differences, subject, generation, source, entries)
    return Verdict(case, kernel, model, tuple(labelled), kernel_fields, model_fields)


def agree(shim: Shim, generation: GenerationName, source: str, cases: Iterable[Case],
          entries: Sequence[triage.TriageEntry],
          limits: server.Limits | None = None) -> Iterator[Verdict]:
    """Verdicts in case order, as the shim produces results."""
    case_list = list(cases)
    by_name = {case.name: case for case in case_list}
    for kernel in server.run_cases(shim, case_list, limits or server.Limits()):
        yield judge(by_name[kernel["case"]], kernel, generation, source, entries)


def write_verdict(sink: IO[str], verdict: Verdict) -> None:
    """One JSON line per case that is not in plain agreement, flushed at once
    so an interrupted run keeps everything it finished."""
    if verdict.kind != "agree":
        sink.write(json.dumps(verdict.to_json()) + "\n")
        sink.flush()

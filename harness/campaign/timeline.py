"""A behaviour timeline: the same cases on every source in order, each
step judged as a run judges old against new, and where each behaviour of
the real code first changed.

A step is an ordinary differential run of two neighbouring sources (its
own run directory, so an interrupted timeline resumes step by step), with
the declared-changes file that covers it, if cases/declared/ has one.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness.campaign import executor, plan, runner
from harness.core import cases
from harness.core.verdict import Comparison, FindingKind, Verdict
from harness.run import server


@dataclass(frozen=True)
class Step:
    """Two neighbouring sources, and the plan that compares them."""

    index: int  # 1-based
    plan: runner.Plan
    declared: Path | None

    @property
    def old(self) -> str:
        return self.plan.sides[0].label

    @property
    def new(self) -> str:
        return self.plan.sides[1].label

    def directory(self, out: Path) -> Path:
        """The step's run directory under the timeline's."""
        slug = re.sub(r"[^A-Za-z0-9_.+=-]+", "_", f"{self.old}--{self.new}")
        return out / f"{self.index:02d}-{slug}"


@dataclass(frozen=True)
class StepResult:
    step: Step
    summary: runner.Summary
    records: Sequence[runner.CaseRecord]


@dataclass(frozen=True)
class FirstChange:
    """A field of the real code's results that changed, at the first step
    it changed in: how that change was judged, in how many cases, the
    first case that shows it, and how many later steps changed it again."""

    signature: str
    step: int
    verdict: Verdict
    rule: str | None
    cases: int
    example: str
    again: int


def steps(sides: Sequence[runner.Side], run_cases: Sequence[cases.Case], *,
          triage_file: Path | None, sanitize: bool, limits: server.Limits,
          jobs: int | None) -> list[Step]:
    """A plan for every pair of neighbouring sources."""
    out = []
    for index, (a, b) in enumerate(itertools.pairwise(sides), 1):
        pair = [replace(a, name="old"), replace(b, name="new")]
        declared = plan.declared_file(None, pair, ())
        out.append(Step(index, plan.make_plan(
            pair, run_cases, declared=declared, patch_files=(), triage_file=triage_file,
            sanitize=sanitize, limits=limits, jobs=jobs), declared))
    return out


def run_step(step: Step, out: Path, resume: bool,
             on_record: Callable[[runner.CaseRecord], None],
             workers: executor.Workers | None = None) -> StepResult:
    """One step, each record kept in its run directory as it comes."""
    rundir = runner.RunDir(step.directory(out))
    records = rundir.start(step.plan, resume)
    for record in records.values():
        on_record(record)

    def keep(record: runner.CaseRecord) -> None:
        rundir.append(record)
        records[record.case] = record
        on_record(record)

    runner.execute(step.plan, [c for c in step.plan.cases if c.name not in records], keep,
                   workers=workers)
    summary, ordered = runner.summarize(step.plan, records)
    return StepResult(step, summary, ordered)


# The gravest judgement of a field's change wins where one step judged
# its cases differently.
_GRAVITY = (Verdict.UNEXPECTED, Verdict.TRIAGED, Verdict.DECLARED)


def first_changes(results: Sequence[StepResult]) -> list[FirstChange]:
    """Each changed field of the real code, where it first changed, in order."""
    by_field: dict[str, dict[int, list[tuple[FindingKind, runner.KindHits]]]] = {}
    cases_at: dict[tuple[str, int], int] = {}
    for result in results:
        for kind, hits in result.summary.by_kind.items():
            if hits.first.comparison is Comparison.KERNELS_OLD_VS_NEW:
                steps_of = by_field.setdefault(kind.signature, {})
                steps_of.setdefault(result.step.index, []).append((kind, hits))
                cases_at[kind.signature, result.step.index] = \
                    result.summary.signature_cases[kind.signature]
    out = []
    for signature, steps_of in by_field.items():
        first = min(steps_of)
        kinds = sorted(steps_of[first], key=lambda k: _GRAVITY.index(k[0].verdict))
        gravest, example = kinds[0]
        out.append(FirstChange(signature, first, gravest.verdict, gravest.rule,
                               cases_at[signature, first], example.first_case,
                               len(steps_of) - 1))
    return sorted(out, key=lambda c: (c.step, c.signature))

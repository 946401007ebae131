"""Does a model agree with the real code of its revision?

Every case runs in the shim and in the model of the source's generation;
the results are compared field by field and each difference is labelled
with the triage entry that explains it, if any.  A case agrees with no
differences, is triaged when every difference is explained, unexpected
otherwise - those are what a reviewer looks at first - and failed when the
kernel side timed out or broke the harness (core/verdict.py).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TypedDict

import py_impl
from harness.campaign import executor
from harness.compile import shims
from harness.compile.shims import Shim
from harness.core import bounds, kernel_files
from harness.core.cases import ARCH_SCENARIOS, Case
from harness.core.errors import UserError
from harness.core.fields import Fields
from harness.core.generation import GenerationName
from harness.core.result import BootResult, JsonValue
from harness.core.verdict import Verdict, unjudged
from harness.judge import compare, triage
from harness.run import server
from harness.sources.snapshot import Snapshot


@dataclass(frozen=True)
class Judged:
    """One case, the real code against its model: the differences, each
    with the triage entry that explains it, if any."""

    case: Case
    kernel: BootResult
    model: BootResult
    labelled: tuple[triage.Labelled, ...]
    # The compared fields of each side, kept so later comparisons reuse them.
    kernel_fields: Fields = field(default_factory=dict)
    model_fields: Fields = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict:
        unjudgeable = unjudged({"kernel": self.kernel["outcome"]["kind"]})
        if unjudgeable is not None:
            return unjudgeable
        if not self.labelled:
            return Verdict.AGREE
        if all(item.entry is not None for item in self.labelled):
            return Verdict.TRIAGED
        return Verdict.UNEXPECTED

    def to_json(self) -> JudgedJson:
        return {
            "case": self.case.name,
            "scenario": self.case.scenario,
            "verdict": self.verdict,
            "kernel_outcome": self.kernel["outcome"]["kind"],
            "differences": [
                {"field": item.difference.field, "kernel": bounds.cut(item.difference.kernel),
                 "model": bounds.cut(item.difference.model),
                 "triage": item.entry.id if item.entry else None}
                for item in self.labelled
            ],
        }


class DifferenceJson(TypedDict):
    field: str
    kernel: JsonValue
    model: JsonValue
    triage: str | None


class JudgedJson(TypedDict):
    """A line of agree's verdicts.jsonl."""

    case: str
    scenario: str
    verdict: str
    kernel_outcome: str
    differences: list[DifferenceJson]


class SummaryJson(TypedDict):
    cases: int
    verdicts: dict[str, int]
    kernel_outcomes: dict[str, int]
    triage_entries: dict[str, int]
    # Named so since percpu-diff 0.1, before the one vocabulary: kept for
    # the scripts that read it.
    unexplained_fields: dict[str, int]


@dataclass
class Summary:
    cases: int = 0
    verdicts: Counter[Verdict] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    entries: Counter[str] = field(default_factory=Counter)
    unexpected_fields: Counter[str] = field(default_factory=Counter)

    def add(self, verdict: Judged) -> None:
        self.cases += 1
        self.verdicts[verdict.verdict] += 1
        self.outcomes[verdict.kernel["outcome"]["kind"]] += 1
        if verdict.verdict in (Verdict.INCONCLUSIVE, Verdict.FAILED):
            return  # nothing was compared: no difference to count
        # In the order the differences came (a set would follow the hash seed).
        for entry_id in dict.fromkeys(item.entry.id for item in verdict.labelled if item.entry):
            self.entries[entry_id] += 1
        for item in verdict.labelled:
            if item.entry is None:
                self.unexpected_fields[item.difference.field] += 1

    def to_json(self) -> SummaryJson:
        return {
            "cases": self.cases,
            "verdicts": {str(verdict): n for verdict, n in self.verdicts.items()},
            "kernel_outcomes": dict(self.outcomes),
            "triage_entries": dict(self.entries),
            "unexplained_fields": dict(self.unexpected_fields),
        }


def judge(case: Case, kernel: BootResult, generation: GenerationName, source: str,
          entries: Sequence[triage.TriageEntry]) -> Judged:
    # The revision's size parameters, as the shim reports them, are inputs
    # to the model like NR_CPUS: its logic is its own.
    model = py_impl.run_model(generation, case, kernel.get("constants"))
    kernel_fields, model_fields = compare.fields(kernel), compare.fields(model)
    differences = compare.compare_fields(kernel_fields, model_fields)
    subject = triage.Subject(case, kernel, model)
    labelled = triage.label(differences, subject, generation, source, entries)
    return Judged(case, kernel, model, tuple(labelled), kernel_fields, model_fields)


def agree(shim: Shim, generation: GenerationName, source: str, cases: Iterable[Case],
          entries: Sequence[triage.TriageEntry],
          limits: server.Limits | None = None, gcov_dir: Path | None = None) -> Iterator[Judged]:
    """Verdicts in case order, as the shim produces results (a coverage
    shim's counters into gcov_dir)."""
    case_list = list(cases)
    by_name = {case.name: case for case in case_list}
    for kernel in server.run_cases(shim, case_list, limits or server.Limits(), gcov_dir):
        yield judge(by_name[kernel["case"]], kernel, generation, source, entries)


def write_verdict(sink: IO[str], verdict: Judged) -> None:
    """One JSON line per case that is not in plain agreement, flushed at once
    so an interrupted run keeps everything it finished."""
    if verdict.verdict is not Verdict.AGREE:
        sink.write(json.dumps(verdict.to_json()) + "\n")
        sink.flush()


def shims_for(snap: Snapshot, rendered: shims.Rendered, scenario: str, batch: Sequence[Case],
              nr_cpus: int, sanitize: bool, coverage: bool = False
              ) -> Iterator[tuple[Shim, list[Case]]]:
    """The shim each case of the batch boots on, with its cases: one for a
    generic scenario; an arch flow's cases are built with or without
    CONFIG_NUMA as each asks."""
    for this, config, group in builds_for(snap, rendered, scenario, batch, nr_cpus, sanitize,
                                          coverage):
        yield shims.build(this, config), group


def builds_for(snap: Snapshot, rendered: shims.Rendered, scenario: str, batch: Sequence[Case],
               nr_cpus: int, sanitize: bool, coverage: bool = False
               ) -> Iterator[tuple[shims.Rendered, shims.BuildConfig, list[Case]]]:
    """What shims_for builds, unbuilt: the rendering and configuration of
    each shim, with its cases."""
    label, generation = snap.label, rendered.api.generation
    if scenario not in ARCH_SCENARIOS:
        if scenario not in rendered.extraction.scenarios:
            raise UserError(f"{label} ({generation}) has no {scenario} scenario: "
                            f"use one of {', '.join(rendered.extraction.scenarios)}")
        yield rendered, shims.config_for(nr_cpus, 12, sanitize, coverage=coverage), list(batch)
        return
    if scenario not in arch_flows(snap, rendered):
        raise UserError(f"{label} ({generation}) has no {scenario} flow: it needs "
                        f"{kernel_files.ARCH_FILES[scenario]} and a generation that builds it")
    arch_rendered = shims.render(snap, arch=scenario)
    for numa in (False, True):
        group = [c for c in batch if c.numa == numa]
        if group:
            config = shims.config_for(nr_cpus, group[0].page_size.bit_length() - 1, sanitize,
                                      scenario, numa, coverage)
            yield arch_rendered, config, group


@dataclass(frozen=True)
class Judging:
    """What every batch of an agree shares, shipped once to each worker."""

    generation: GenerationName
    source: str
    entries: tuple[triage.TriageEntry, ...]
    limits: server.Limits
    renderings: dict[str, shims.Rendered]  # by arch, "generic" too


@dataclass(frozen=True)
class Batch:
    """Cases that boot on one shim, judged together wherever a worker is."""

    arch: str
    config: shims.BuildConfig
    cases: tuple[Case, ...]
    # A coverage shim's counters go to gcov_root/<shim key>.
    gcov_root: Path | None = None


def batches(config: shims.BuildConfig, group: Sequence[Case], jobs: int,
            gcov_root: Path | None = None) -> list[Batch]:
    """The cases of one shim in slices every worker gets a share of."""
    return [Batch(config.arch, config, tuple(part), gcov_root)
            for part in executor.slices(group, jobs, config.nr_cpus)]


def judge_batch(judging: Judging, batch: Batch) -> list[Judged]:
    """Boot a batch on its shim (built here, or found in this machine's
    cache) and judge each case: the work a worker does.  The compared
    fields stay behind: nothing after the verdict reads them."""
    shim = shims.build(judging.renderings[batch.arch], batch.config)
    gcov_dir = batch.gcov_root / shim.key if batch.gcov_root is not None else None
    return [replace(judged, kernel_fields={}, model_fields={})
            for judged in agree(shim, judging.generation, judging.source, batch.cases,
                                judging.entries, judging.limits, gcov_dir)]


def arch_flows(snap: Snapshot, rendered: shims.Rendered) -> tuple[str, ...]:
    """The arch flows a source builds: its arch file is there and its
    generation has the flow."""
    return tuple(a for a in shims.arches(snap) if a in rendered.api.spec.arch_flows)

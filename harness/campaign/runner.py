"""A differential run: many cases, one or two sides, every comparison.

Each case boots on every side's shim and model.  The records - one JSON
line per case, appended to results.jsonl in the run directory as soon as
the case is done - are the run's only state: an interrupted run resumes by
skipping the cases already recorded, and every report is built from the
records in case order, so a resumed run reports exactly what an
uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NotRequired, TypedDict

from harness.campaign import agree
from harness.compile import shims
from harness.core import attempts, cases, generation
from harness.core.errors import UserError
from harness.core.fields import Fields
from harness.core.generation import GenerationName, GenerationSpec
from harness.core.result import BootResult
from harness.core.verdict import Comparison, FindingKind, Verdict, unjudged
from harness.judge import classify, compare, triage
from harness.run import server
from harness.sources.snapshot import Snapshot

_RENDER_LOCK = threading.Lock()


@dataclass(frozen=True)
class Side:
    name: str  # "old" or "new"
    label: str
    generation: GenerationName
    rendered: shims.Rendered
    # The source, for the arch flows' renderings, made when first needed.
    snapshot: Snapshot | None = None
    arch_renders: dict[str, shims.Rendered] = field(default_factory=dict, compare=False,
                                                    repr=False)

    def rendering(self, arch: str) -> shims.Rendered:
        if arch == "generic":
            return self.rendered
        with _RENDER_LOCK:
            if arch not in self.arch_renders:
                if self.snapshot is None:
                    raise UserError(f"{self.label}: no source to build the {arch} flow from")
                self.arch_renders[arch] = shims.render(self.snapshot, arch=arch)
            return self.arch_renders[arch]

    @property
    def spec(self) -> GenerationSpec:
        return generation.named(self.generation)

    def arches(self) -> tuple[str, ...]:
        """The arch flows this side builds: its generation's, where the source
        has the arch file."""
        if self.snapshot is None:
            return ()
        return tuple(a for a in shims.arches(self.snapshot) if a in self.spec.arch_flows)

    def runs(self, scenario: str) -> bool:
        """Whether this side boots cases of `scenario`, itself or its successor."""
        if scenario in cases.ARCH_SCENARIOS:
            return scenario in self.arches()
        have = self.rendered.extraction.scenarios
        return scenario in have or self.spec.successors.get(scenario) in have

    def case_for(self, case: cases.Case) -> cases.Case:
        """The case as this side boots it: on its successor where this
        generation no longer has the scenario."""
        successor = self.spec.successors.get(case.scenario)
        if successor is None or case.scenario in self.rendered.extraction.scenarios or \
                successor not in self.rendered.extraction.scenarios:
            return case
        return dataclasses.replace(case, scenario=successor)


@dataclass(frozen=True)
class Plan:
    sides: tuple[Side, ...]
    cases: tuple[cases.Case, ...]
    declared: tuple[classify.DeclaredChange, ...]
    entries: tuple[triage.TriageEntry, ...]
    sanitize: bool = False
    limits: server.Limits = field(default_factory=server.Limits)
    jobs: int = 2
    # Coverage shims; their counters go under execute()'s gcov_root.
    coverage: bool = False

    def fingerprint(self) -> str:
        """What a resumed run must share with the one it continues."""
        text = json.dumps({
            "sides": [(s.name, s.label, s.rendered.api.generation) for s in self.sides],
            "cases": [cases.case_to_toml(c) for c in self.cases],
            "declared": [d.id for d in self.declared],
            "triage": [e.id for e in self.entries],
            "sanitize": self.sanitize,
            # only where set, so that the runs before coverage resume as they were
            **({"coverage": True} if self.coverage else {}),
        }, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CaseRecord:
    case: str
    scenario: str
    nr_cpus: int
    verdict: Verdict
    outcomes: Mapping[str, str]
    findings: tuple[classify.Finding, ...]
    # Arch flows: each side's kernel allocator path ("lpage:not-numa > embed:ok").
    paths: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> CaseRecordJson:
        out: CaseRecordJson = {
            "case": self.case, "scenario": self.scenario, "nr_cpus": self.nr_cpus,
            "verdict": self.verdict, "outcomes": dict(self.outcomes),
            "findings": [f.to_json() for f in self.findings]}
        if self.paths:
            out["paths"] = dict(self.paths)
        return out

    @staticmethod
    def from_json(data: CaseRecordJson) -> CaseRecord:
        return CaseRecord(
            str(data["case"]), str(data["scenario"]), int(data["nr_cpus"]),
            Verdict(data["verdict"]), dict(data["outcomes"]),
            tuple(classify.Finding.from_json(f) for f in data["findings"]),
            dict(data.get("paths", {})))


class CaseRecordJson(TypedDict):
    """A line of results.jsonl."""

    case: str
    scenario: str
    nr_cpus: int
    verdict: str
    outcomes: dict[str, str]
    findings: list[classify.FindingJson]
    paths: NotRequired[dict[str, str]]


def evaluate(case: cases.Case, kernels: Mapping[str, BootResult], plan: Plan) -> CaseRecord:
    """Every comparison of one case, classified."""
    findings: list[classify.Finding] = []
    models: dict[str, BootResult] = {}
    flat: dict[tuple[str, str], Fields] = {}
    triaged: dict[str, classify.SideTriage] = {}
    for side in plan.sides:
        kernel = kernels[side.name]
        verdict = agree.judge(side.case_for(case), kernel, side.generation, side.label,
                              plan.entries)
        models[side.name] = verdict.model
        flat["kernel", side.name] = verdict.kernel_fields
        flat["model", side.name] = verdict.model_fields
        triaged[side.name] = classify.side_triage(list(verdict.labelled))
        for item in verdict.labelled:
            diff = item.difference
            for path, left, right in compare.expand(diff.field, diff.kernel, diff.model):
                findings.append(classify.Finding(
                    Comparison.kernel_vs_model(side.name), path, left, right,
                    Verdict.TRIAGED if item.entry else Verdict.UNEXPECTED,
                    item.entry.id if item.entry else None))
    # Failure injection counts allocations, and the two APIs make different
    # ones: the same schedule fails different calls, so old and new are only
    # checked against their own models.
    injected = case.fail_fc_alloc >= 0 or case.fail_bootmem >= 0
    if len(plan.sides) == 2 and not injected:
        pairs = ((Comparison.KERNELS_OLD_VS_NEW, "kernel", kernels),
                 (Comparison.MODELS_OLD_VS_NEW, "model", models))
        for comparison, which, results in pairs:
            for change in compare.compare_sides(results["old"], results["new"],
                                                flat[which, "old"], flat[which, "new"]):
                # Triage explains kernel values; the models have nothing to explain.
                findings.append(classify.classify_change(
                    change, comparison, case, results,
                    triaged if which == "kernel" else {}, plan.declared))
    outcomes = {name: k["outcome"]["kind"] for name, k in kernels.items()}
    kept = classify.judged(findings, outcomes)
    labels = {f.label for f in kept}
    verdict_kind = unjudged(outcomes) or next(
        (v for v in (Verdict.UNEXPECTED, Verdict.TRIAGED, Verdict.DECLARED) if v in labels),
        Verdict.AGREE)
    paths = {name: p for name, k in kernels.items() if (p := attempts.path(k)) is not None}
    return CaseRecord(case.name, case.scenario, case.nr_cpus, verdict_kind, outcomes,
                      kept, paths)


class RunDir:
    """results.jsonl plus the fingerprint of the plan that wrote it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.results = path / "results.jsonl"
        self.meta = path / "run.json"

    def start(self, plan: Plan, resume: bool) -> dict[str, CaseRecord]:
        if resume:
            if not self.meta.is_file():
                raise UserError(f"nothing to resume in {self.path}: no run.json there")
            meta = json.loads(self.meta.read_text())
            if meta.get("fingerprint") != plan.fingerprint():
                raise UserError(f"{self.path} holds a different run (other sources, cases, "
                                "seed or rules): resume it with the same options, or pick "
                                "another --out")
            return self.load()
        if self.results.exists() and self.results.stat().st_size:
            raise UserError(f"{self.path} already holds results: use --resume to finish "
                            "that run, or another --out")
        self.path.mkdir(parents=True, exist_ok=True)
        self.meta.write_text(json.dumps({"fingerprint": plan.fingerprint(),
                                         "sides": [s.label for s in plan.sides],
                                         "cases": len(plan.cases)}) + "\n")
        self.results.write_text("")
        return {}

    def load(self) -> dict[str, CaseRecord]:
        done: dict[str, CaseRecord] = {}
        if not self.results.exists():
            return done
        for line in self.results.read_text().splitlines():
            try:
                record = CaseRecord.from_json(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # the line being written when the run died
            done[record.case] = record
        return done

    def append(self, record: CaseRecord) -> None:
        with self.results.open("a") as sink:
            sink.write(json.dumps(record.to_json()) + "\n")
            sink.flush()


ShimKey = tuple[int, int, str, bool]


def shim_key(case: cases.Case) -> ShimKey:
    """What decides the executable a case boots in."""
    return case.nr_cpus, case.page_shift, case.arch, case.numa


def shims_for(plan: Plan, key: ShimKey) -> dict[str, shims.Shim]:
    nr_cpus, page_shift, arch, numa = key
    config = shims.config_for(nr_cpus, page_shift, plan.sanitize, arch, numa, plan.coverage)
    return {side.name: shims.build(side.rendering(arch), config) for side in plan.sides}


def execute(plan: Plan, todo: Sequence[cases.Case],
            on_record: Callable[[CaseRecord], None], gcov_root: Path | None = None) -> None:
    """Boot every case on every side, `plan.jobs` shim servers per side at
    once; records arrive in completion order.  Coverage shims add their
    counters under gcov_root/<side>/<shim key>/."""
    records: queue.Queue[CaseRecord | BaseException | None] = queue.Queue()
    groups: dict[ShimKey, list[cases.Case]] = {}
    for case in todo:
        groups.setdefault(shim_key(case), []).append(case)
    work: list[tuple[dict[str, shims.Shim], list[cases.Case]]] = []
    for key, group in sorted(groups.items()):
        shims = shims_for(plan, key)
        for j in range(plan.jobs):
            chunk = group[j::plan.jobs]
            if chunk:
                work.append((shims, chunk))
    lock = threading.Lock()

    def worker() -> None:
        try:
            while True:
                with lock:
                    if not work:
                        break
                    shims, chunk = work.pop(0)
                streams = {side.name: server.run_cases(
                    shims[side.name], [side.case_for(c) for c in chunk], plan.limits,
                    gcov_root / side.name / shims[side.name].key if gcov_root else None)
                           for side in plan.sides}
                for case in chunk:
                    kernels = {name: next(stream) for name, stream in streams.items()}
                    records.put(evaluate(case, kernels, plan))
        except BaseException as err:  # surfaced in the main thread
            records.put(err)
        finally:
            records.put(None)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(plan.jobs)]
    for t in threads:
        t.start()
    finished = 0
    while finished < len(threads):
        item = records.get()
        if item is None:
            finished += 1
        elif isinstance(item, BaseException):
            raise item
        else:
            on_record(item)


@dataclass
class Summary:
    counts: Counter[Verdict] = field(default_factory=Counter)
    # Every finding of the run, by kind, with the case it was found in.
    by_kind: dict[FindingKind, list[tuple[str, classify.Finding]]] = field(default_factory=dict)
    # side -> "scenario: path [outcome]" -> cases, for the arch flows
    paths: dict[str, Counter[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, int]:
        return {"cases": sum(self.counts.values()),
                **{verdict.value: self.counts[verdict] for verdict in Verdict}}

    def paths_json(self) -> dict[str, dict[str, int]]:
        return {side: dict(sorted(counter.items())) for side, counter in self.paths.items()}


def summarize(plan: Plan, records: Mapping[str, CaseRecord]) -> tuple[Summary, list[CaseRecord]]:
    """Records in case order, their counts, and every finding grouped by signature."""
    ordered = [records[c.name] for c in plan.cases if c.name in records]
    summary = Summary()
    for record in ordered:
        summary.counts[record.verdict] += 1
        for side, allocator_path in record.paths.items():
            key = f"{record.scenario}: {allocator_path} [{record.outcomes.get(side)}]"
            summary.paths.setdefault(side, Counter())[key] += 1
        for finding in record.findings:
            summary.by_kind.setdefault(finding.kind, []).append((record.case, finding))
    return summary, ordered


def unexpected_signatures(summary: Summary) -> Iterator[tuple[str, str, classify.Finding]]:
    """(signature, first case, first finding) of every unexpected difference."""
    for kind, hits in summary.by_kind.items():
        if kind.verdict is Verdict.UNEXPECTED:
            yield kind.signature, hits[0][0], hits[0][1]


def boot_kernels(plan: Plan, case: cases.Case) -> dict[str, BootResult]:
    """One case in every side's shim, now."""
    shims = shims_for(plan, shim_key(case))
    return {side.name: server.run_one(shims[side.name], side.case_for(case), plan.limits)
            for side in plan.sides}


def boot(plan: Plan, case: cases.Case) -> CaseRecord:
    """One case on every side, classified: for shrinking."""
    return evaluate(case, boot_kernels(plan, case), plan)

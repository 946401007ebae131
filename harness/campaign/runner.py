"""A differential run: many cases, one or two sides, every comparison.

Each case boots on every side's shim and model.  The records - one JSON
line per case, appended to results.jsonl in the run directory as soon as
the case is done - are the run's only state: an interrupted run resumes by
skipping the cases already recorded, and every report is built from the
records in case order, so a resumed run reports exactly what an
uninterrupted one would.
"""

from __future__ import annotations

import ast
import dataclasses
import fcntl
import functools
import hashlib
import json
import os
import re
import shlex
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NotRequired, TypedDict

from harness.campaign import agree, executor, kept_cases, shrink
from harness.compile import shims
from harness.core import attempts, cases, files, generation
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

    def booted_scenario(self, scenario: str) -> str:
        """The scenario this side boots `scenario`'s cases on: its successor
        where this generation no longer has it."""
        successor = self.spec.successors.get(scenario)
        if successor is None or scenario in self.rendered.extraction.scenarios or \
                successor not in self.rendered.extraction.scenarios:
            return scenario
        return successor

    def case_for(self, case: cases.Case) -> cases.Case:
        """The case as this side boots it (booted_scenario)."""
        booted = self.booted_scenario(case.scenario)
        return case if booted == case.scenario else dataclasses.replace(case, scenario=booted)


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

    def identity(self) -> dict[str, object]:
        """Everything a case's record depends on, by what a user knows it
        as: a resumed run must have all of it the same."""
        return {
            "sources": [f"{s.name} {s.label} ({s.rendered.api.generation})" for s in self.sides],
            # a --dir's files or a --patch's lines can change under the same label
            "code": code_digests(self.sides),
            "cases": _digest(*self.case_tomls),
            "declared": _digest(json.dumps(self.declared, default=_plain, sort_keys=True)),
            "triage": _digest(json.dumps(self.entries, default=_plain, sort_keys=True)),
            "sanitize": self.sanitize,
            "coverage": self.coverage,
            # a case that timed out at 1 ms would pass at 5 s: the limits are part of the run
            **dataclasses.asdict(self.limits),
        }

    @functools.cached_property
    def case_tomls(self) -> tuple[str, ...]:
        """Each case's TOML, made once: the identity digests them and the run
        directory keeps them (a 10,000-case run spends seconds making them)."""
        return tuple(cases.case_to_toml(c) for c in self.cases)

    def fingerprint(self) -> str:
        """What a resumed run must share with the one it continues."""
        text = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def code_digests(sides: Sequence[Side]) -> list[str]:
    """Each side's rendered code, digested: what a --dir's files or a --patch
    change under the same label."""
    return [_digest(s.rendered.tu_text, s.rendered.header_text, s.rendered.internal_text or "")
            for s in sides]


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return h.hexdigest()[:16]


def _plain(value: object) -> object:
    """Rules as JSON: their parsed expressions and patterns by their text,
    never by a repr that holds an address."""
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, ast.AST):
        return ast.dump(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return dict(value)
    return repr(value)


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
    # Where the findings were cut to size (campaign/keep.py): how many the
    # case had, and the file, relative to the run directory, keeping them whole.
    findings_total: int | None = None
    findings_file: str | None = None

    def to_json(self) -> CaseRecordJson:
        out: CaseRecordJson = {
            "case": self.case, "scenario": self.scenario, "nr_cpus": self.nr_cpus,
            "verdict": self.verdict, "outcomes": dict(self.outcomes),
            "findings": [f.to_json() for f in self.findings]}
        if self.paths:
            out["paths"] = dict(self.paths)
        if self.findings_file is not None and self.findings_total is not None:
            out["findings_total"] = self.findings_total
            out["findings_file"] = self.findings_file
        return out

    @staticmethod
    def from_json(data: CaseRecordJson) -> CaseRecord:
        total = data.get("findings_total")
        return CaseRecord(
            str(data["case"]), str(data["scenario"]), int(data["nr_cpus"]),
            Verdict(data["verdict"]), dict(data["outcomes"]),
            tuple(classify.Finding.from_json(f) for f in data["findings"]),
            dict(data.get("paths", {})), None if total is None else int(total),
            data.get("findings_file"))


class CaseRecordJson(TypedDict):
    """A line of results.jsonl."""

    case: str
    scenario: str
    nr_cpus: int
    verdict: str
    outcomes: dict[str, str]
    findings: list[classify.FindingJson]
    paths: NotRequired[dict[str, str]]
    findings_total: NotRequired[int]
    findings_file: NotRequired[str]


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


# The identity keys a user sets with one option, by that option.
_OPTION_OF = {"sanitize": "--sanitize", "coverage": "--coverage"}
# Request options that make an identity key: named when they differ.
_OPTIONS_BEHIND = {
    "cases": ("--seed", "--cases", "--nr-cpus", "--scenario", "--case", "--no-corpus",
              "--matrix"),
    "declared": ("--declared",), "triage": ("--triage",)}
# What changed when the options are the same but a key is not.
_CHANGED_FILES = {"code": "the sources' files (a --dir or a --patch)",
                  "cases": "the cases' files (a --case file or cases/)",
                  "declared": "the declared changes' file", "triage": "the triage file"}


class RunDir:
    """results.jsonl plus run.json, the identity of the run that wrote it;
    run.lock, held by the run that owns the directory; cases.jsonl.gz, every
    case the run runs (kept_cases.py).  `replay`: how the run was asked
    for (sources, build, rule files), kept in run.json for show/repro --run;
    `kept_files`: inputs that exist nowhere else (a patch read from standard
    input), written beside run.json by a fresh run."""

    def __init__(self, path: Path, replay: Mapping[str, object] | None = None,
                 kept_files: Mapping[str, bytes] | None = None) -> None:
        self.path = path
        self.replay = dict(replay) if replay is not None else None
        self.kept_files = dict(kept_files or {})
        self.results = path / "results.jsonl"
        self.meta = path / "run.json"
        self.lock_file = path / "run.lock"
        self._lock: BinaryIO | None = None
        # Cases whose earlier record was inconclusive: run again.
        self.retried: list[str] = []

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def start(self, plan: Plan, resume: bool,
              options: Mapping[str, object] | None = None) -> dict[str, CaseRecord]:
        """Own the directory and give the records a run keeps: none for a
        fresh run; on resume, the earlier run's final ones (a timeout or a
        harness failure is not final: the case runs again).  `options`:
        the command line's, to name the one that differs."""
        if not self._open(plan, resume, options):
            return {}
        done = self.load()
        self.retried = [name for name, r in done.items() if inconclusive(r)]
        return {name: r for name, r in done.items() if not inconclusive(r)}

    def begin(self, plan: Plan, resume: bool,
              options: Mapping[str, object] | None = None) -> dict[str, Verdict]:
        """start() for a run that reads its records back for its reports:
        the verdict of each record kept, never every record at once."""
        if not self._open(plan, resume, options):
            return {}
        kept: dict[str, Verdict | None] = {}
        for _, record in self._scan():
            kept[record.case] = None if inconclusive(record) else record.verdict
        self.retried = [name for name, verdict in kept.items() if verdict is None]
        return {name: verdict for name, verdict in kept.items() if verdict is not None}

    def _open(self, plan: Plan, resume: bool, options: Mapping[str, object] | None) -> bool:
        """Own the directory; whether there are earlier records to keep."""
        files.check_directory(self.path, "--out")
        if resume and not self.path.is_dir():
            raise UserError(f"nothing to resume in {self.path}: no run.json there")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot create {self.path} ({err.strerror}): "
                            "pick another --out") from None
        self.lock()  # before anything is read: what is read stays true while we run
        if resume:
            self._check_same_run(plan, options or {})
            if not (self.path / kept_cases.CASES_FILE).exists():  # an older version's run
                kept_cases.write(self.path, plan.cases, plan.case_tomls)
            return True
        if self.results.exists() and self.results.stat().st_size:
            raise UserError(f"{self.path} already holds results: use --resume to finish "
                            "that run, or another --out")
        # the cases before run.json: a run.json on disk has its cases beside it
        kept_cases.write(self.path, plan.cases, plan.case_tomls)
        for name, data in self.kept_files.items():
            files.write_atomic(self.path / name, data)
        files.write_atomic(self.meta, json.dumps({
            "fingerprint": plan.fingerprint(), "sides": [s.label for s in plan.sides],
            "cases": len(plan.cases), "identity": plan.identity(),
            "options": dict(options or {}),
            **({"replay": self.replay} if self.replay is not None else {})}) + "\n")
        self.results.write_text("")
        return False

    def lock(self) -> None:
        """Hold run.lock (flock: the kernel lets go when the holder dies,
        so a killed run never blocks the next), or refuse naming its holder."""
        if self._lock is not None:
            return
        try:
            sink = self.lock_file.open("a+b")
        except OSError as err:
            raise UserError(f"cannot write in {self.path} ({err.strerror}): "
                            "pick another --out") from None
        try:
            fcntl.flock(sink.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(self.lock_file)
            sink.close()
            raise UserError(f"{self.path} is in use by another run ({holder}): wait for it "
                            "to end, or pick another --out") from None
        sink.truncate(0)
        sink.write(json.dumps(_this_process()).encode() + b"\n")
        sink.flush()
        self._lock = sink

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _check_same_run(self, plan: Plan, options: Mapping[str, object]) -> None:
        if not self.meta.is_file():
            raise UserError(f"nothing to resume in {self.path}: no run.json there")
        try:
            meta = json.loads(self.meta.read_text())
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError too
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise UserError(f"{self.meta} is damaged ({reason}): that run cannot be resumed; "
                            "start again in another --out") from None
        theirs = meta.get("identity")
        if not isinstance(theirs, dict):
            raise UserError(f"{self.path} holds a different run: written by an older "
                            "percpu-diff, which did not record its limits; start again in "
                            "another --out")
        for key, ours in plan.identity().items():
            if theirs.get(key) != ours:
                their_options = meta.get("options")
                difference = _difference(key, ours, theirs.get(key), options,
                                         their_options if isinstance(their_options, dict)
                                         else {})
                raise UserError(f"{self.path} holds a different run: {difference}: resume it "
                                "with the same options, or pick another --out")

    def load(self) -> dict[str, CaseRecord]:
        """The records on disk; a line torn by a kill is dropped from the
        file too, so that the next record starts a line of its own."""
        done: dict[str, CaseRecord] = {}
        for _, record in self._scan():
            done[record.case] = record
        return done

    def index(self) -> dict[str, int]:
        """Where in results.jsonl the record of each case starts (its last
        line: a case run again on resume wrote a later one), without
        holding the records: what ordered() reads them back by."""
        return {record.case: offset for offset, record in self._scan()}

    def ordered(self, plan: Plan, where: Mapping[str, int]) -> Iterator[CaseRecord]:
        """The records of `where` (an index()) in the plan's case order, read
        one at a time: a report of any size holds one record at once."""
        with self.results.open("rb") as source:
            for case in plan.cases:
                offset = where.get(case.name)
                if offset is None:
                    continue
                source.seek(offset)
                record = _record(source.readline())
                if record is not None:
                    yield record

    def _scan(self) -> Iterator[tuple[int, CaseRecord]]:
        """(offset, record) of every whole record on disk, in file order;
        a torn last line is repaired first."""
        if not self.results.exists():
            return
        self._repair()
        offset = 0
        with self.results.open("rb") as source:
            for line in source:
                record = _record(line)
                if record is not None:  # else a line torn by an older version
                    yield offset, record
                offset += len(line)

    def _repair(self) -> None:
        """A last line a kill cut short: ended if it is whole but for its
        newline, else dropped, so that the next record starts a line of its own."""
        with self.results.open("rb") as source:
            size = source.seek(0, os.SEEK_END)
            start = size
            while start > 0:  # back to the last newline, a block at a time
                step = min(start, 1 << 16)
                source.seek(start - step)
                block = source.read(step)
                newline = block.rfind(b"\n")
                if newline >= 0:
                    start = start - step + newline + 1
                    break
                start -= step
            if start == size:
                return
            source.seek(start)
            tail = source.read()
        if _record(tail) is not None:
            with self.results.open("ab") as sink:  # whole, but for its newline
                sink.write(b"\n")
        else:
            os.truncate(self.results, start)

    def append(self, record: CaseRecord) -> None:
        with self.results.open("a") as sink:
            sink.write(json.dumps(record.to_json()) + "\n")
            sink.flush()


def inconclusive(record: CaseRecord) -> bool:
    """A record that says the simulation broke or ran out of time, not what the code does."""
    return unjudged(record.outcomes) is not None


def _record(line: bytes) -> CaseRecord | None:
    try:
        return CaseRecord.from_json(json.loads(line))
    except (ValueError, KeyError, TypeError):
        return None


def _this_process() -> dict[str, object]:
    command = " ".join(["percpu-diff", *map(shlex.quote, sys.argv[1:])])
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "command": re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m[0])[1:-1], command)}


def _holder(lock_file: Path) -> str:
    """Who holds run.lock, in words: the holder writes itself there just
    after it takes the lock, so give it a moment."""
    for _ in range(40):
        try:
            holder = json.loads(lock_file.read_text())
            return (f"pid {holder['pid']} on {holder['host']}, started {holder['started']}: "
                    f"{holder['command']}")
        except (OSError, ValueError, KeyError, TypeError):
            time.sleep(0.05)
    return "holder unknown"


def _difference(key: str, ours: object, theirs: object, options: Mapping[str, object],
                their_options: Mapping[str, object]) -> str:
    """The option (or else the input) that makes this run differ from the
    run in the directory, with both values."""
    for option in _OPTIONS_BEHIND.get(key, ()):
        if option in options and options.get(option) != their_options.get(option):
            return (f"{option} differs (this run {_shown(options.get(option))}, "
                    f"that run {_shown(their_options.get(option))})")
    if key == "sources":
        return (f"other sources (this run {_shown(ours)}, that run {_shown(theirs)})")
    if key in _CHANGED_FILES:
        return f"{_CHANGED_FILES[key]} changed since that run"
    option = _OPTION_OF.get(key, "--" + key.replace("_", "-"))
    return f"{option} differs (this run {_shown(ours)}, that run {_shown(theirs)})"


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "none"
    return "none" if value is None else str(value)


ShimKey = tuple[int, int, str, bool]


def shim_key(case: cases.Case) -> ShimKey:
    """What decides the executable a case boots in."""
    return case.nr_cpus, case.page_shift, case.arch, case.numa


def shims_for(plan: Plan, key: ShimKey) -> dict[str, shims.Shim]:
    nr_cpus, page_shift, arch, numa = key
    config = shims.config_for(nr_cpus, page_shift, plan.sanitize, arch, numa, plan.coverage)
    return {side.name: shims.build(side.rendering(arch), config) for side in plan.sides}


@dataclass(frozen=True)
class Batch:
    """Cases that boot on the same shims, run together wherever a worker is."""

    key: ShimKey
    cases: tuple[cases.Case, ...]
    # Coverage shims add their counters under gcov_root/<side>/<shim key>/.
    gcov_root: Path | None = None


def batches(todo: Sequence[cases.Case], jobs: int, gcov_root: Path | None = None
            ) -> list[Batch]:
    """The cases by shim key, in slices every worker gets a share of; the
    biggest machines first, so the slowest batches do not come last."""
    groups: dict[ShimKey, list[cases.Case]] = {}
    for case in todo:
        groups.setdefault(shim_key(case), []).append(case)
    out = []
    for key, group in sorted(groups.items(), key=lambda item: (-item[0][0], item[0])):
        out += [Batch(key, tuple(part), gcov_root)
                for part in executor.slices(group, jobs, key[0])]
    return out


def run_batch(plan: Plan, batch: Batch) -> list[CaseRecord]:
    """Boot a batch on every side's shim (built here, or found in this
    machine's cache) and judge each case: the work a worker does."""
    shims = shims_for(plan, batch.key)
    streams = {side.name: server.run_cases(
        shims[side.name], [side.case_for(c) for c in batch.cases], plan.limits,
        batch.gcov_root / side.name / shims[side.name].key if batch.gcov_root else None)
               for side in plan.sides}
    try:
        return [evaluate(case, {name: next(stream) for name, stream in streams.items()}, plan)
                for case in batch.cases]
    finally:
        for stream in streams.values():
            if isinstance(stream, Generator):
                stream.close()  # ends its shim server, now


def shipped(plan: Plan, todo: Sequence[cases.Case]) -> Plan:
    """The plan as workers get it: every arch flow the cases boot rendered
    here, once, and no source: a worker needs no kernel tree, only the
    rendered text it compiles."""
    arches = sorted({case.arch for case in todo} - {"generic"})
    sides = tuple(dataclasses.replace(side, snapshot=None, arch_renders={
        arch: side.rendering(arch) for arch in arches}) for side in plan.sides)
    return dataclasses.replace(plan, sides=sides)


def execute(plan: Plan, todo: Sequence[cases.Case],
            on_record: Callable[[CaseRecord], None], gcov_root: Path | None = None,
            workers: executor.Workers | None = None) -> None:
    """Boot every case on every side, in batches on `workers` (by default
    `plan.jobs` processes here); records arrive here, in completion order.
    Coverage shims add their counters under gcov_root/<side>/<shim key>/."""
    work = batches(todo, plan.jobs, gcov_root)
    if workers is None:
        workers = executor.Processes(plan.jobs)
    for _, records in workers.stream(run_batch, shipped(plan, todo), work):
        for record in records:
            on_record(record)


@dataclass
class KindHits:
    """One kind of finding across a run, as the reports show it: where it
    was first seen and in how many cases; not every hit, which would hold
    every finding of the run in memory."""

    first_case: str
    first: classify.Finding
    cases: int = 1
    # The smallest case showing it, by the Summary's size_of (the first
    # when it has none): where its reproducer starts shrinking.
    smallest_case: str = ""
    smallest: classify.Finding | None = None


@dataclass
class Summary:
    """What the reports say of a run's records, built one record at a time
    in case order: its size grows with the kinds of findings, not with the
    cases."""

    counts: Counter[Verdict] = field(default_factory=Counter)
    # Every kind of finding of the run, in the order first seen.
    by_kind: dict[FindingKind, KindHits] = field(default_factory=dict)
    # side -> "scenario: path [outcome]" -> cases, for the arch flows
    paths: dict[str, Counter[str]] = field(default_factory=dict)
    # The cases whose findings the records hold cut to size: case -> (how
    # many it had, how many the record holds, the file keeping them whole).
    cut: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    # Cases with a finding of this signature; of this (label, rule); of this label.
    signature_cases: Counter[str] = field(default_factory=Counter)
    rule_cases: Counter[tuple[Verdict, str]] = field(default_factory=Counter)
    label_cases: Counter[Verdict] = field(default_factory=Counter)
    # The records the run could not judge (they hold no findings).
    unjudged: list[CaseRecord] = field(default_factory=list)
    # A case's size by its name, to keep each kind's smallest showing case.
    size_of: Callable[[str], tuple[int, ...]] | None = field(default=None, compare=False)

    def add(self, record: CaseRecord) -> None:
        """One more record, the next in case order."""
        self.counts[record.verdict] += 1
        for side, allocator_path in record.paths.items():
            key = f"{record.scenario}: {allocator_path} [{record.outcomes.get(side)}]"
            self.paths.setdefault(side, Counter())[key] += 1
        kinds: dict[FindingKind, classify.Finding] = {}
        for finding in record.findings:
            kinds.setdefault(finding.kind, finding)
        for kind, first in kinds.items():
            hits = self.by_kind.get(kind)
            if hits is None:
                self.by_kind[kind] = KindHits(record.case, first, 1, record.case, first)
                continue
            hits.cases += 1
            # Strictly smaller: of equals, the first in case order stays.
            if self.size_of is not None and \
                    self.size_of(record.case) < self.size_of(hits.smallest_case):
                hits.smallest_case, hits.smallest = record.case, first
        self.signature_cases.update({kind.signature for kind in kinds})
        self.rule_cases.update({(kind.verdict, kind.rule or "") for kind in kinds})
        self.label_cases.update({kind.verdict for kind in kinds})
        if record.findings_file is not None and record.findings_total is not None:
            self.cut[record.case] = (record.findings_total, len(record.findings),
                                     record.findings_file)
        if record.verdict in (Verdict.INCONCLUSIVE, Verdict.FAILED):
            self.unjudged.append(record)

    def to_json(self) -> dict[str, int]:
        return {"cases": sum(self.counts.values()),
                **{verdict.value: self.counts[verdict] for verdict in Verdict}}

    def paths_json(self) -> dict[str, dict[str, int]]:
        return {side: dict(sorted(counter.items())) for side, counter in self.paths.items()}


def summary_of(records: Iterable[CaseRecord], plan: Plan | None = None) -> Summary:
    """The summary of records given in case order (of `plan`'s cases: with
    each kind's smallest showing case)."""
    summary = empty_summary(plan)
    for record in records:
        summary.add(record)
    return summary


def empty_summary(plan: Plan | None = None) -> Summary:
    """A summary to add records to; with `plan`, it keeps each kind's
    smallest showing case by shrink.start_key, where reproducers start."""
    if plan is None:
        return Summary()
    by_name = {case.name: case for case in plan.cases}
    return Summary(size_of=lambda name: shrink.start_key(by_name[name]))


def summarize(plan: Plan, records: Mapping[str, CaseRecord]) -> tuple[Summary, list[CaseRecord]]:
    """Records in case order, their counts, and every finding grouped by signature."""
    ordered = [records[c.name] for c in plan.cases if c.name in records]
    return summary_of(ordered, plan), ordered


def unexpected_signatures(summary: Summary) -> Iterator[tuple[str, str, classify.Finding]]:
    """(signature, first case, first finding) of every unexpected difference."""
    for kind, hits in summary.by_kind.items():
        if kind.verdict is Verdict.UNEXPECTED:
            yield kind.signature, hits.first_case, hits.first


def boot_kernels(plan: Plan, case: cases.Case) -> dict[str, BootResult]:
    """One case in every side's shim, now."""
    shims = shims_for(plan, shim_key(case))
    return {side.name: server.run_one(shims[side.name], side.case_for(case), plan.limits)
            for side in plan.sides}


def boot(plan: Plan, case: cases.Case) -> CaseRecord:
    """One case on every side, classified: for shrinking."""
    return evaluate(case, boot_kernels(plan, case), plan)

"""Known disagreements between a model and the real code, with their reasons.

cases/triage.toml lists every difference that has been looked into: which
generation (and optionally which revisions), which fields, in which
scenarios and under which conditions, which side is believed wrong, and
why - found by reading both the code and the contract.  A difference that
matches an entry is labelled with it; anything else is unexplained and is
what a reviewer has to look at.  An entry without a reason, or whose
example case does not exist, is refused on load: the list is only worth
something if every line of it was checked.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from harness.core import attempts, generation
from harness.core.arch_sizes import (
    PERCPU_DYNAMIC_RESERVE,
    PERCPU_MODULE_RESERVE,
    SPARC64_CHUNK_SIZE,
    page_align,
)
from harness.core.cases import Case, load_case
from harness.core.errors import UserError
from harness.core.fields import check_path
from harness.core.generation import GenerationName
from harness.core.paths import data_dir
from harness.core.result import BootResult, JsonValue, laid_out_alloc_info
from harness.core.topology import group_cpus, nodes_local
from harness.judge.compare import ABSENT, Difference


def default_triage() -> Path:
    """The project's triage file."""
    return data_dir() / "triage.toml"

SIDES = ("kernel", "model")
RELATIONS: Mapping[str, Callable[[JsonValue, JsonValue], bool]] = {
    "kernel < model": lambda k, m: _num(k) < _num(m),
    "kernel > model": lambda k, m: _num(k) > _num(m),
}


def _num(value: JsonValue) -> float:
    return float(value) if isinstance(value, int | float) else float("nan")


@dataclass(frozen=True)
class Subject:
    """What a condition may look at: the case and both results."""

    case: Case
    kernel: BootResult
    model: BootResult
    # Predicate values: one case's differences ask the same questions many
    # times (an entry matching every field asks for each of them).
    answers: dict[str, object] = field(default_factory=dict, compare=False)

    def ask(self, predicate: str) -> object:
        if predicate not in self.answers:
            self.answers[predicate] = PREDICATES[predicate](self)
        return self.answers[predicate]

    def scenarios(self) -> frozenset[str]:
        """The case's scenario and, in an arch flow, the generic allocator
        that set the chunk up (the last one tried, by kernel or model): the
        arch flows run the same mm/percpu.c code and meet its bugs."""
        found = self.answers.get("scenarios")
        if not isinstance(found, frozenset):
            found = self.answers["scenarios"] = frozenset(
                {self.case.scenario, *(attempts.allocator(self.case.scenario, result)
                                       for result in (self.kernel, self.model))})
        return found


def _model_units(subject: Subject) -> list[int | None]:
    ai = laid_out_alloc_info(subject.model)
    if ai:
        return [cpu for g in ai["groups"] for cpu in g["cpu_map"]]
    build = subject.model.get("build") or {}
    return [None] * int(build.get("return") or 0)


def _has_empty_unit(subject: Subject) -> bool:
    return subject.case.nr_cpus in _model_units(subject)


def _last_unit_empty(subject: Subject) -> bool:
    units = _model_units(subject)
    return bool(units) and units[-1] == subject.case.nr_cpus


def _units_reach_nr_cpus(subject: Subject) -> bool:
    return len(_model_units(subject)) > subject.case.nr_cpus


def _chunk_over_int_max(subject: Subject) -> bool:
    state = subject.model.get("state") or {}
    return int(state.get("chunk_size") or 0) > 2**31 - 1


_LPAGE_BUILT = {"ok", "vmalloc-limit", "alloc-failed", "build-failed", "did-not-return"}


def _groups_fill_nr_cpus(subject: Subject) -> bool:
    """As many lpage groups as NR_CPUS: a loop that stops at the first empty
    group count reads one past an NR_CPUS-long array."""
    case = subject.case
    if case.nr_cpus == 1 and subject.model.get("generation") == "alloc_info":
        # pcpu_build_alloc_info(), which embed and page call too, makes at
        # least one group: with NR_CPUS=1 its fill loop reads group_cnt[1].
        # (The model's generation is the side's: a kernel result captured
        # as its compared fields does not carry one.)
        return True
    if case.scenario == "x86":
        # lpage built its layout if it got past its checks, whatever came next
        built = any(a.get("allocator") == "lpage" and a.get("reason") in _LPAGE_BUILT
                    for a in subject.model.get("attempts") or [])
        if not built:
            return False
        # x86 groups by node identity (LOCAL_DISTANCE on the same node)
        nodes = {case.node_of(cpu) for cpu in case.possible} if case.numa else {0}
        return len(nodes) == case.nr_cpus
    if "lpage" not in subject.scenarios():
        return False
    groups = group_cpus(case.possible, case.node_of, lambda a, b: nodes_local(case, a, b))
    return len(groups) == case.nr_cpus


def _unaligned_without_dyn(subject: Subject) -> bool:
    c = subject.case
    return c.dyn_size == 0 and (c.static_size + c.reserved_size) % c.page_size != 0


# Named conditions an entry's `when` table may use besides Case fields.
# Attempts that call pcpu_build_alloc_info() in the alloc_info generation:
# lpage builds before it checks the vmalloc share, embed and page build first.
_BUILDS = {
    "lpage": {"ok", "vmalloc-limit", "alloc-failed", "build-failed"},
    # embed declines a spread-out layout only after building and placing it
    "embed": {"ok", "alloc-failed", "build-failed", "too-spread"},
    "page": {"ok", "alloc-failed", "build-failed", "did-not-return"},
}


def _todays_x86(subject: Subject) -> bool:
    """The x86 flow of 2.6.32 on (the kernel reports its shape with its
    constants): no pcpu_need_numa() on x86_64, so that 2009 finding cannot
    hold."""
    constants = subject.kernel.get("constants") or {}
    return bool(constants.get("x86_embeds_first"))


def _alloc_info_built_twice(subject: Subject) -> bool:
    """An arch flow whose allocators, as the model tells it, build the layout
    more than once in one boot: a fallback after lpage (2009's flow) or
    embed (today's) got as far as building it.  Whether the revision still
    keeps the builder's buffers is the entry's revisions."""
    tried = subject.model.get("attempts") or []
    builds = [a for a in tried if a.get("reason") in _BUILDS.get(a.get("allocator", ""), ())]
    return len(builds) > 1


def _need_numa_missed(subject: Subject) -> bool:
    """Two online nodes among the possible cpus, as the kernel-doc counts
    them, that a comparison of each cpu's node with the previous cpu's only
    does not see: a cpu of an offline node sits between them."""
    case = subject.case
    if not case.numa or _todays_x86(subject):
        return False
    nodes = [case.node_of(cpu) for cpu in case.possible]
    online = [n for n in nodes if n not in case.offline_nodes]
    adjacent = any(a != b and a not in case.offline_nodes and b not in case.offline_nodes
                   for a, b in itertools.pairwise(nodes))
    return len(set(online)) > 1 and not adjacent


def _sparc64_chunk_overflow(subject: Subject) -> bool:
    """sparc64's static, module and dynamic reserve do not fit its 4M chunk."""
    case = subject.case
    size = case.static_size + PERCPU_MODULE_RESERVE + PERCPU_DYNAMIC_RESERVE
    return case.scenario == "sparc64" and page_align(size, case.page_size) > SPARC64_CHUNK_SIZE


def _locality_not_transitive(subject: Subject) -> bool:
    """Three possible cpus, one local (both ways) to the two others, which
    are not local to each other: grouping by "local to the group's first
    cpu" and by "local to every cpu of the group" part there.  Two of them
    may share a node, whose distance to itself need not be local."""
    case = subject.case
    # x86's distance callback only asks "same node?": the matrix never
    # reaches its grouping.
    if case.distance is None or case.scenario == "x86":
        return False
    d = case.distance
    cpus_on = Counter(case.node_of(cpu) for cpu in case.possible)

    def local(a: int, b: int) -> bool:
        return bool(d[a][b] == d[b][a] == 10)

    return any(local(x, y) and local(x, z) and not local(y, z)
               and all(cpus_on[n] >= k for n, k in Counter((x, y, z)).items())
               for x in cpus_on for y in cpus_on for z in cpus_on)


def _cpu_ids_have_holes(subject: Subject) -> bool:
    """Fewer possible cpus than cpu ids up to the last of them
    (num_possible_cpus() < nr_cpu_ids)."""
    possible = subject.case.possible
    return len(possible) < max(possible) + 1


def _kernel_groups_overlap(subject: Subject) -> bool:
    """Two of the kernel's groups share address space: the ranges its
    pcpu_group_offsets[] and pcpu_group_sizes[] describe intersect, or,
    where setup was never reached (embed gave up after placing its
    groups), the first chunk allocations the groups were placed in do."""
    state = subject.kernel.get("state") or {}
    offsets, sizes = state.get("group_offsets"), state.get("group_sizes")
    if isinstance(offsets, list) and isinstance(sizes, list):
        return _intersect(list(zip(offsets, sizes, strict=False)))
    placed = (subject.kernel.get("bootmem") or {}).get("fc_spans") or []
    return _intersect([(start, size) for start, size in placed])


def _intersect(spans: list[tuple[int, int]]) -> bool:
    """Whether any two [start, start + size) ranges share an address."""
    ordered = sorted(spans)
    return any(start + size > after for (start, size), (after, _) in itertools.pairwise(ordered))


def _area_starts_odd(subject: Subject) -> bool:
    """A first chunk area starts at an odd offset: the end of an odd static
    area, or of static + reserved."""
    c = subject.case
    return c.static_size % 2 == 1 or (c.reserved_size > 0
                                      and (c.static_size + c.reserved_size) % 2 == 1)


def _embed_group_alloc_failed(subject: Subject) -> bool:
    """The model's embed gave up on an arch allocation the case fails: the
    generic scenario's return, or the embed attempt of an arch flow (whose
    pcpu_alloc_bootmem() the case's fail_bootmem reaches), which fell back."""
    if subject.case.fail_fc_alloc >= 0 and subject.model.get("return") == -12:
        return True
    return subject.case.fail_bootmem >= 0 and any(
        tried.get("allocator") == "embed" and tried.get("return") == -12
        for tried in subject.model.get("attempts") or [])


def _page_ok_result(result: BootResult, arch_flow: bool) -> JsonValue:
    """What the page allocator returned where it set the chunk up: the
    result's return, or in an arch flow its last attempt's."""
    if not arch_flow:
        return result.get("return")
    tried = attempts.result_attempts(result) or []
    if tried and tried[-1].get("allocator") == "page" and tried[-1].get("reason") == "ok":
        return tried[-1].get("return")
    return None


def _page_returned_positive(subject: Subject) -> bool:
    """The page allocator succeeded on both sides, returning more than 0 in
    the kernel and 0 in the model; an arch flow's attempts agree otherwise."""
    arch_flow = subject.case.scenario != "page"
    kernel = _page_ok_result(subject.kernel, arch_flow)
    if not isinstance(kernel, int) or kernel <= 0:
        return False
    if _page_ok_result(subject.model, arch_flow) != 0:
        return False
    if not arch_flow:
        return True
    tried = [attempts.result_attempts(r) or [] for r in (subject.kernel, subject.model)]
    return tried[0][:-1] == tried[1][:-1]


def _populated_fill_crashed(subject: Subject) -> bool:
    """The kernel faulted on an all-ones address, what bitmap_fill() leaves
    where it overruns, in a boot whose first chunk (by the model) has more
    pages than one long of its populated bitmap holds."""
    outcome = subject.kernel.get("outcome") or {}
    if outcome.get("kind") != "crash" or outcome.get("fault_addr") != ALL_ONES:
        return False
    first_chunk = (subject.model.get("state") or {}).get("first_chunk")
    pages = first_chunk.get("nr_pages") if isinstance(first_chunk, dict) else None
    return isinstance(pages, int) and pages > BITS_PER_LONG


ALL_ONES = "0xffffffffffffffff"
BITS_PER_LONG = 64


PREDICATES: Mapping[str, Callable[[Subject], object]] = {
    "cpu_ids_have_holes": _cpu_ids_have_holes,
    "locality_not_transitive": _locality_not_transitive,
    "need_numa_missed": _need_numa_missed,
    "sparc64_chunk_overflow": _sparc64_chunk_overflow,
    "alloc_info_built_twice": _alloc_info_built_twice,
    "chunk_over_int_max": _chunk_over_int_max,
    "cpu0_possible": lambda s: 0 in s.case.possible,
    "groups_fill_nr_cpus": _groups_fill_nr_cpus,
    "has_empty_unit": _has_empty_unit,
    "last_unit_empty": _last_unit_empty,
    "units_reach_nr_cpus": _units_reach_nr_cpus,
    "unaligned_without_dyn": _unaligned_without_dyn,
    "kernel_groups_overlap": _kernel_groups_overlap,
    "populated_fill_crashed": _populated_fill_crashed,
    "area_starts_odd": _area_starts_odd,
    "embed_group_alloc_failed": _embed_group_alloc_failed,
    "page_returned_positive": _page_returned_positive,
}


@dataclass(frozen=True)
class Commit:
    """An upstream commit an entry names: an id prefix and its subject."""

    id: str
    subject: str

    def __str__(self) -> str:
        return f'{self.id} "{self.subject}"'


# `<hex prefix> "subject"`: the prefix alone could be mistyped unnoticed,
# the subject lets a reader check it against any tree.
_COMMIT_RE = re.compile(r'([0-9a-f]{7,40}) "(.+)"')
_REV_RE = re.compile(r"[0-9a-f]{7,40}")


@dataclass(frozen=True)
class TriageEntry:
    id: str
    generations: tuple[GenerationName, ...]
    fields: tuple[str, ...]
    wrong: str
    reason: str
    example: str
    scenarios: tuple[str, ...] = ()
    revisions: tuple[str, ...] = ()
    # Exact values a difference must have (TOML values, as the entry gives them).
    kernel: JsonValue = None
    model: JsonValue = None
    relation: str | None = None
    when: Mapping[str, JsonValue] | None = None
    consequences: bool = False
    # Where upstream brought the bug in and took it out; fix_check says why
    # the fix cannot be replayed on a stored tree (still there, not stored,
    # model-side), fix_base which revision to replay it on when the fix's
    # parent is not one the entry covers.
    introduced_by: Commit | None = None
    fixed_by: Commit | None = None
    fix_check: str | None = None
    fix_base: str | None = None

    @property
    def checkable(self) -> bool:
        """Whether the fix check replays this entry's fix."""
        return self.fixed_by is not None and self.fix_check is None

    def matches(self, diff: Difference, subject: Subject, generation: GenerationName,
                source: str) -> bool:
        if generation not in self.generations:
            return False
        if self.revisions and not any(rev in source for rev in self.revisions):
            return False
        if self.scenarios and not subject.scenarios() & set(self.scenarios):
            return False
        if not any(fnmatch.fnmatchcase(diff.field, pattern) for pattern in self.fields):
            return False
        if self.kernel is not None and diff.kernel != self._resolve(self.kernel, subject):
            return False
        if self.model is not None and diff.model != self._resolve(self.model, subject):
            return False
        if self.relation and not RELATIONS[self.relation](diff.kernel, diff.model):
            return False
        return all(self._condition(name, want, subject)
                   for name, want in (self.when or {}).items())

    @staticmethod
    def _resolve(value: JsonValue, subject: Subject) -> JsonValue:
        # Values that depend on the build rather than on the entry.
        return subject.case.nr_cpus if value == "NR_CPUS" else value

    @staticmethod
    def _condition(name: str, want: JsonValue, subject: Subject) -> bool:
        if name in PREDICATES:
            return bool(subject.ask(name) == want)
        return bool(getattr(subject.case, name) == want)


@dataclass(frozen=True)
class Labelled:
    difference: Difference
    entry: TriageEntry | None


def label(differences: Sequence[Difference], subject: Subject, generation: GenerationName,
          source: str,
          entries: Sequence[TriageEntry]) -> list[Labelled]:
    """Each difference with the first entry explaining it, or None.

    An entry marked `consequences` also explains the fields that are only
    missing on one side because of it (a BUG stops the boot before the
    state exists), and in an arch flow the attempt the BUG cut short.
    """
    first = [next((e for e in entries if e.matches(d, subject, generation, source)), None)
             for d in differences]
    causes = [e for e in first if e is not None and e.consequences]
    out: list[Labelled] = []
    for diff, entry in zip(differences, first, strict=True):
        if entry is None and causes and (ABSENT in (diff.kernel, diff.model) or
                                         _cut_short(diff)):
            entry = causes[0]
        out.append(Labelled(diff, entry))
    return out


def _cut_short(diff: Difference) -> bool:
    """The kernel's attempts end in one that never returned."""
    tried = diff.kernel if diff.field == "attempts" else None
    return isinstance(tried, list) and bool(tried) and \
        tried[-1].get("reason") == "did-not-return"


_KEYS = {"id", "generation", "fields", "wrong", "reason", "example", "scenarios", "revisions",
         "kernel", "model", "relation", "when", "consequences", "introduced_by", "fixed_by",
         "fix_check", "fix_base"}


def load_triage(path: Path | None = None) -> list[TriageEntry]:
    path = path or default_triage()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise UserError(f"triage file {path} does not exist: give one with --triage FILE") \
            from err
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"triage file {path} is not valid TOML: {err}") from err
    entries: list[TriageEntry] = []
    seen: set[str] = set()
    for n, raw in enumerate(data.get("entry", []), 1):
        entry = _entry(raw, n, path)
        if entry.id in seen:
            raise UserError(f"{path}: entry {n}: id '{entry.id}' is used twice")
        seen.add(entry.id)
        entries.append(entry)
    return entries


def _entry(raw: Mapping[str, JsonValue], n: int, path: Path) -> TriageEntry:
    where = f"{path}: entry {n}"
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise UserError(f"{where}: unknown key '{unknown[0]}'")
    for key in ("id", "generation", "fields", "wrong", "reason", "example"):
        if not raw.get(key):
            raise UserError(f"{where}: '{key}' is missing; every entry needs id, generation, "
                            "fields, wrong, reason and example")
    if len(str(raw["reason"]).split()) < 8:
        raise UserError(f"{where} ({raw['id']}): the reason is too short to be one: say what "
                        "each side does and why one of them is wrong")
    if raw["wrong"] not in SIDES:
        raise UserError(f"{where} ({raw['id']}): wrong = '{raw['wrong']}': use kernel or model")
    relation = raw.get("relation")
    if relation is not None and relation not in RELATIONS:
        raise UserError(f"{where} ({raw['id']}): relation '{relation}' unknown: use "
                        f"{' or '.join(repr(r) for r in RELATIONS)}")
    when = raw.get("when") or {}
    for name in when:
        if name not in PREDICATES and name not in Case.__dataclass_fields__:
            raise UserError(f"{where} ({raw['id']}): condition '{name}' unknown: use a case "
                            f"field or one of {', '.join(PREDICATES)}")
    for name in _as_list(raw["fields"]):
        check_path(str(name), f"{where} ({raw['id']})")
    example = path.parent / str(raw["example"])
    if not example.is_file():
        raise UserError(f"{where} ({raw['id']}): example case {example} does not exist")
    load_case(example)
    return TriageEntry(
        id=str(raw["id"]),
        generations=_generations(raw["generation"], f"{where} ({raw['id']})"),
        fields=tuple(str(f) for f in _as_list(raw["fields"])),
        wrong=str(raw["wrong"]),
        reason=" ".join(str(raw["reason"]).split()),
        example=str(raw["example"]),
        scenarios=tuple(str(s) for s in _as_list(raw.get("scenarios", []))),
        revisions=tuple(str(r) for r in _as_list(raw.get("revisions", []))),
        kernel=raw.get("kernel"),
        model=raw.get("model"),
        relation=relation,
        when=dict(when),
        consequences=bool(raw.get("consequences", False)),
        **_lapse_fields(raw, f"{where} ({raw['id']})"),
    )


class _LapseFields(TypedDict):
    introduced_by: Commit | None
    fixed_by: Commit | None
    fix_check: str | None
    fix_base: str | None


def _lapse_fields(raw: Mapping[str, JsonValue], where: str) -> _LapseFields:
    """introduced_by, fixed_by, fix_check and fix_base, checked.  All are
    optional here, so a user's own triage file needs none of them; the
    project's file gives fixed_by or fix_check on every entry (its test)."""
    fix_check, fix_base = raw.get("fix_check"), raw.get("fix_base")
    if fix_check is not None and (not isinstance(fix_check, str)
                                  or len(fix_check.split()) < 4):
        raise UserError(f"{where}: fix_check must say in words why the fix cannot be "
                        "replayed (still present, not in a stored tree, model-side)")
    fixed_by = _commit(raw.get("fixed_by"), "fixed_by", where)
    if fix_base is not None and (not isinstance(fix_base, str) or not _REV_RE.fullmatch(fix_base)
                                 or fixed_by is None):
        raise UserError(f"{where}: fix_base = {fix_base!r}: give a commit id prefix, with "
                        "fixed_by")
    return {"introduced_by": _commit(raw.get("introduced_by"), "introduced_by", where),
            "fixed_by": fixed_by,
            "fix_check": " ".join(fix_check.split()) if isinstance(fix_check, str) else None,
            "fix_base": fix_base}


def _commit(value: JsonValue, key: str, where: str) -> Commit | None:
    if value is None:
        return None
    match = _COMMIT_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise UserError(f"{where}: {key} = {value!r}: write a commit id prefix and its "
                        'subject, e.g. \'fb59e72e7e1 "percpu: make pcpu_build_alloc_info() '
                        'clear static buffers"\'')
    return Commit(match.group(1), match.group(2))


def _generations(value: JsonValue, where: str) -> tuple[GenerationName, ...]:
    known = generation.names()
    out = tuple(GenerationName(str(g)) for g in _as_list(value))
    unknown = [g for g in out if g not in known]
    if unknown:
        raise UserError(f"{where}: generation '{unknown[0]}' unknown: use "
                        f"{', '.join(known)} (harness/core/generations/)")
    return out


def _as_list(value: JsonValue) -> list[JsonValue]:
    return list(value) if isinstance(value, list) else [value]

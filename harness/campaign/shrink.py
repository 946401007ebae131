"""Shrink a case that shows a difference to a small reproducer.

A generated case that makes the kernel and a model (or two kernels) part
ways is usually far bigger than the bug: 64 cpus where 3 do, eight nodes
where two do, a static area of 53244 bytes where "not a page multiple" is
the point.  `shrink` walks such a case down greedily, asking the caller's
`still_fails` after each step whether the difference is still there.

It is deterministic (no randomness, candidates in a fixed order), so the
same case and predicate give the same reproducer on every machine.

Smaller means a smaller `size_key`, a tuple compared lexicographically:

    1. number of possible cpus
    2. NR_CPUS
    3. number of nodes (rows of the distance matrix; 1 without one)
    4. number of failure injections set (fail_fc_alloc, fail_bootmem)
    5. arch knobs off their plain value: percpu_alloc given, no PSE,
       CONFIG_NUMA, and one for each offline node
    6. sum of the possible cpu ids (low, dense ids read best)
    7. 1 if the topology is spelled out (cpu_node or distance given), else 0
    8. asymmetric node pairs (d[i][j] != d[j][i])
    9. distance entries off the standard 10 (diagonal) / 20 (elsewhere)
   10. total deviation of the distances from that standard
   11. size fields away from their canonical value: static 40960, reserved
       0 or 8192, dyn auto, atom 2M for lpage (4K otherwise), bootmem and
       vmalloc the Case defaults; the arch flows choose reserved, dyn and
       atom themselves, so for them those count as canonical (here and below)
   12. static/reserved/dyn sizes that are not page multiples
   13. total distance of the sizes from canonical (bytes; for the atom, in
       powers of two), with reserved measured from 0 and dyn from auto

Every accepted candidate has a strictly smaller key, and keys are tuples of
non-negative integers, so the loop ends even without a budget.  The order
of the components settles the trade-offs a candidate may make: one cpu
fewer is worth any other change; a symmetric matrix beats one closer to
10/20 (so "symmetric, max" can be kept); a page-aligned size beats one
closer to canonical (so rounding 40961 up to 45056 counts as simpler).

Passes, most to least impactful (each yields candidates; the first that
still fails is kept and the pass starts again from it -- the cpu-removal
pass at the chunk size that worked; rounds of all passes repeat until a
round keeps nothing or the budget is spent):

    1. drop failure injection
    2. plain arch knobs: no offline nodes (all, then one at a time), no
       percpu_alloc=, PSE, no CONFIG_NUMA
    3. fewer possible cpus: halves (second, then first), quarters, ... single cpus
    4. lower cpu ids: dense from 0 (or 1), shifted down keeping gaps, one cpu into the
       lowest hole
    5. smaller NR_CPUS: max(possible)+1, then powers of two above it
    6. simpler topology: none, unused nodes dropped, nodes merged, standard
       distances, symmetric distances (offline nodes follow their nodes)
    7. sizes towards canonical values (for the arch flows, which choose the
       reserved, dynamic and atom sizes themselves, the static size only)
    8. bootmem and vmalloc sizes back to the defaults

Where a shrink starts, and when it stops: a difference seen in many cases
is shrunk from the one with the smallest `start_key` -- NR_CPUS first, then
the number of possible cpus, then `size_key` -- because a boot costs about
what NR_CPUS and the possible cpus make it cost (a 2048-cpu case of an
NR_CPUS=4096 build boots for about a second, a 4-cpu one in milliseconds),
and the nearer the start is to the reproducer the fewer boots it takes.
The search stops when a round keeps nothing, when `budget` boots are spent,
or when `out_of_time()` says so (checked before each boot; a boot under way
is finished).  Time only decides how far the search gets, never whether a
candidate is kept: that is its boot's say, so a busy machine may stop a
shrink earlier, but the case it returns still showed the difference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from harness.core.case_kinds import NodeSet
from harness.core.cases import (
    ARCH_SCENARIOS,
    AUTO,
    CASE_FIELDS,
    LOCAL_DISTANCE,
    Case,
    CaseField,
    shrink_group,
)
from harness.core.errors import UserError

__all__ = ["PASSES", "ShrinkResult", "canonical_atom", "shrink", "size_key", "start_key"]

REMOTE_DISTANCE = 20
CANONICAL_STATIC = 40960
# Both are plain: 0 means no reserved chunk, 8192 is what x86 reserves for modules.
CANONICAL_RESERVED = (0, 8192)
LPAGE_ATOM = 2 << 20
DEFAULT_BUDGET = 400

# Two cases differing only in fields that do not boot are the same attempt.
_BOOTED = tuple(row.name for row in CASE_FIELDS if row.spec.booted)
# The fields each group's pass sets back to their defaults, and the key counts.
_FAILURES = shrink_group("failure")
_ARCH_KNOBS = shrink_group("arch knob")
_MEMORY = shrink_group("memory")

Matrix = tuple[tuple[int, ...], ...]
# A pass yields (stage, candidate).  After a candidate is kept the pass
# starts again on it, given that stage as `resume`, so a pass whose early
# candidates are costly to repeat can pick up where it succeeded.
Pass = Callable[[Case, int], Iterator[tuple[int, Case]]]


@dataclass(frozen=True)
class ShrinkResult:
    case: Case  # the smallest case found that still fails (the input if nothing smaller does)
    attempts: int  # how many times still_fails was called
    accepted: int  # how many candidates were kept
    # What ended the search before a round kept nothing: "boots" (the
    # budget), "time" (out_of_time), or None (it ran to its end).
    stopped: str | None = None


def canonical_atom(scenario: str) -> int:
    return LPAGE_ATOM if scenario == "lpage" else 4096


# --------------------------------------------------------------- the key

def _standard(i: int, j: int) -> int:
    return LOCAL_DISTANCE if i == j else REMOTE_DISTANCE


def _failures(case: Case) -> int:
    return sum(row.changed(case) for row in _FAILURES)


def _arch_knobs(case: Case) -> int:
    return sum(row.spec.kind.departures(row.value(case), row.default) for row in _ARCH_KNOBS)


def _plain(case: Case, rows: Sequence[CaseField]) -> Case:
    return replace(case, **{row.name: row.default for row in rows})


def _unaligned(value: int, page: int) -> bool:
    return value != AUTO and value % page != 0


def size_key(case: Case) -> tuple[int, ...]:
    """How big a case is, for the shrinker: smaller tuples are simpler cases.

    See the module docstring for what each component means.  The case must
    be valid.
    """
    m = case.distance or ()
    k = len(m)
    cells = [(i, j) for i in range(k) for j in range(k)]
    asymmetric = sum(1 for i, j in cells if i < j and m[i][j] != m[j][i])
    off_standard = sum(1 for i, j in cells if m[i][j] != _standard(i, j))
    deviation = sum(abs(m[i][j] - _standard(i, j)) for i, j in cells)

    atom = canonical_atom(case.scenario)
    # The arch flows choose the reserved, dynamic and atom sizes themselves:
    # the fields are not read, so they count as canonical whatever they hold.
    generic = case.scenario not in ARCH_SCENARIOS
    off_canonical = sum((
        case.static_size != CANONICAL_STATIC,
        generic and case.reserved_size not in CANONICAL_RESERVED,
        generic and case.dyn_size != AUTO,
        generic and case.atom_size != atom,
        *(row.changed(case) for row in _MEMORY),
    ))
    page = case.page_size
    read = (case.static_size, case.reserved_size, case.dyn_size) if generic \
        else (case.static_size,)
    unaligned = sum(_unaligned(v, page) for v in read)
    size_distance = abs(case.static_size - CANONICAL_STATIC)
    if generic:
        size_distance += (case.reserved_size + (case.dyn_size - AUTO)
                          + abs(case.atom_size.bit_length() - atom.bit_length()))
    return (
        len(case.possible),
        case.nr_cpus,
        case.nodes(),
        _failures(case),
        _arch_knobs(case),
        sum(case.possible),
        int(case.cpu_node is not None or case.distance is not None),
        asymmetric,
        off_standard,
        deviation,
        off_canonical,
        unaligned,
        size_distance,
    )


def start_key(case: Case) -> tuple[int, ...]:
    """Which of the cases that show a difference a shrink starts from: the
    smallest (see the module docstring).  NR_CPUS and the possible cpus lead
    because they are what a boot costs; `size_key` settles the rest."""
    return (case.nr_cpus, len(case.possible), *size_key(case))


# ------------------------------------------------------------ the passes

def drop_failures(case: Case) -> Iterator[Case]:
    injected = [row for row in _FAILURES if row.changed(case)]
    if injected:
        yield _plain(case, _FAILURES)
    if len(injected) > 1:
        # The difference may need some of them: drop one at a time.
        for row in injected:
            yield _plain(case, [row])


def plain_arch_knobs(case: Case) -> Iterator[Case]:
    """Node sets first, whole and then a node at a time, then each single knob."""
    sets = [row for row in _ARCH_KNOBS if isinstance(row.spec.kind, NodeSet)]
    for row in sets:
        nodes: tuple[int, ...] = row.value(case)
        if nodes:
            yield _plain(case, [row])
        if len(nodes) > 1:
            # The difference may need some node; keep the others.
            for gone in nodes:
                yield row.set(case, tuple(n for n in nodes if n != gone))
    for row in _ARCH_KNOBS:
        if row not in sets and row.changed(case):
            yield _plain(case, [row])


def _keep_positions(case: Case, keep: Sequence[int]) -> Case:
    nodes = case.cpu_node
    return replace(case, possible=tuple(case.possible[i] for i in keep),
                   cpu_node=None if nodes is None else tuple(nodes[i] for i in keep))


def fewer_cpus(case: Case, resume: int = 0) -> Iterator[tuple[int, Case]]:
    """Chunks of the mask removed, halves first; the stage is the chunk size.

    Restarting from halves after every success would cost about 2n/chunk
    attempts that mostly fail again, so after a success at some chunk size
    the pass resumes at that size (as ddmin does).
    """
    n = len(case.possible)
    chunk = min(resume, n // 2) if resume else n // 2
    while chunk >= 1:
        # From the end first: high cpus are the likeliest bystanders, and
        # keeping the low ones keeps cpu0 (the boot cpu) where it was.
        for start in reversed(range(0, n, chunk)):
            keep = [i for i in range(n) if not start <= i < start + chunk]
            if keep:
                yield chunk, _keep_positions(case, keep)
        chunk //= 2


def _renumber(case: Case, ids: Sequence[int]) -> Case:
    """Possible cpus renamed position by position to `ids`, re-sorted with their nodes."""
    if case.cpu_node is None:
        return replace(case, possible=tuple(sorted(ids)))
    pairs = sorted(zip(ids, case.cpu_node, strict=True))
    return replace(case, possible=tuple(c for c, _ in pairs),
                   cpu_node=tuple(n for _, n in pairs))


def lower_cpu_ids(case: Case) -> Iterator[Case]:
    possible = case.possible
    n = len(possible)
    # Which ids matter (cpu0 absent, gaps in the mask) is what these test,
    # so each is only a candidate: still_fails decides.
    # From 1 as well as from 0: a mask without cpu0 is a case of its own.
    for first in (0, 1):
        yield _renumber(case, range(first, first + n))
        yield _renumber(case, [c - possible[0] + first for c in possible])
    present = set(possible)
    holes = [next(i for i in range(lo, lo + n + 1) if i not in present) for lo in (0, 1)]
    for hole in dict.fromkeys(holes):
        # Highest first: the outlier (say cpu NR_CPUS-1) is what holds NR_CPUS up.
        for pos in reversed(range(n)):
            if possible[pos] > hole:
                yield _renumber(case, [hole if i == pos else c for i, c in enumerate(possible)])


def smaller_nr_cpus(case: Case) -> Iterator[Case]:
    need = max(case.possible) + 1
    candidates = [need]
    # Shims are usually built for powers of two; those are the fallbacks
    # when the difference needs room above the highest cpu.
    power = 1 << (need - 1).bit_length()
    while power < case.nr_cpus:
        if power != need:
            candidates.append(power)
        power *= 2
    for nr in candidates:
        if 1 <= nr < case.nr_cpus:
            yield replace(case, nr_cpus=nr)


def _nodes_used(case: Case) -> set[int]:
    return set(case.cpu_node) if case.cpu_node is not None else {0}


def _with_memory(case: Case, sizes: Sequence[int] | None) -> Case:
    """`case` with nodes that now hold `sizes` when it gave each node's
    memory (None: keep it): the memory gone with a node leaves the machine."""
    if case.node_memory is None or sizes is None:
        return case
    return replace(case, node_memory=tuple(sizes), bootmem_size=sum(sizes))


def _keep_nodes(case: Case, matrix: Matrix, keep: Sequence[int]) -> Case:
    index = {node: new for new, node in enumerate(keep)}
    nodes = case.cpu_node
    memory = case.node_memory
    kept = replace(case, distance=tuple(tuple(matrix[i][j] for j in keep) for i in keep),
                   cpu_node=None if nodes is None else tuple(index[n] for n in nodes),
                   offline_nodes=tuple(index[n] for n in case.offline_nodes if n in index))
    return _with_memory(kept, memory and [memory[n] for n in keep])


def _merge(case: Case, matrix: Matrix, into: int, gone: int) -> Case:
    """Node `gone` folded into `into`; `into`'s distances are kept."""
    def renamed(n: int) -> int:
        return into if n == gone else n - (n > gone)

    nodes = case.cpu_node
    keep = [n for n in range(len(matrix)) if n != gone]
    # The merged node is online or not as `into` was.
    offline = tuple(renamed(n) for n in case.offline_nodes if n != gone)
    memory = list(case.node_memory or ())
    if memory:
        memory[into] += memory.pop(gone)
        if into in case.offline_nodes:
            memory[into] = 0
    merged = replace(case, distance=tuple(tuple(matrix[i][j] for j in keep) for i in keep),
                     cpu_node=None if nodes is None else tuple(renamed(n) for n in nodes),
                     offline_nodes=offline)
    return _with_memory(merged, memory or None)


def _matrix(k: int, cell: Callable[[int, int], int]) -> Matrix:
    return tuple(tuple(cell(i, j) for j in range(k)) for i in range(k))


def simpler_topology(case: Case) -> Iterator[Case]:
    if case.cpu_node is not None or case.distance is not None:
        # One node, with memory: offline nodes go with the others.
        yield _with_memory(replace(case, cpu_node=None, distance=None, offline_nodes=()),
                           case.node_memory and [case.bootmem_size])
    m = case.distance
    if m is None:
        return
    k = len(m)
    unused = [n for n in range(k) if n not in _nodes_used(case)]
    if unused:
        yield _keep_nodes(case, m, [n for n in range(k) if n not in unused])
    if len(unused) > 1:
        for gone in unused:
            yield _keep_nodes(case, m, [n for n in range(k) if n != gone])
    for into in range(k):
        for gone in range(into + 1, k):
            yield _merge(case, m, into, gone)
    yield replace(case, distance=_matrix(k, _standard))
    # Partial clean-ups that keep an odd diagonal or an asymmetric pair,
    # for differences that need one but not the other.
    yield replace(case, distance=_matrix(k, lambda i, j: LOCAL_DISTANCE if i == j else m[i][j]))
    yield replace(case, distance=_matrix(
        k, lambda i, j: REMOTE_DISTANCE if i != j and m[i][j] == m[j][i] else m[i][j]))
    yield replace(case, distance=_matrix(k, lambda i, j: min(m[i][j], m[j][i])))
    yield replace(case, distance=_matrix(k, lambda i, j: max(m[i][j], m[j][i])))


def _towards(value: int, target: int, page: int) -> list[int]:
    """Steps from value towards target: page-rounded, halved, and keeping
    the sub-page remainder (so an unaligned size can get close to target
    and stay unaligned), then halfway.  The key throws out steps that go
    the wrong way."""
    steps: list[int] = []
    rem = value % page
    if rem:
        steps += [value + page - rem, value - rem]
    steps.append(value // 2)
    if rem:
        below = target - target % page
        steps += [below + rem, below - (page - rem)]
    # Rounded towards target, so that one short of target still moves.
    steps.append((value + target + (value < target)) // 2)
    # A zero static area is a different scenario (a BUG in the kernel), not a plainer one.
    return [s for s in steps if s > 0 and s != value]


def canonical_sizes(case: Case) -> Iterator[Case]:
    page = case.page_size
    static = case.static_size
    for size in (CANONICAL_STATIC, *_towards(static, CANONICAL_STATIC, page)):
        yield replace(case, static_size=size)
    if case.scenario in ARCH_SCENARIOS:
        # The arch flows choose the other sizes themselves (size_key ignores them).
        return
    reserved = case.reserved_size
    for size in (*CANONICAL_RESERVED, *_towards(reserved, 0, page)):
        yield replace(case, reserved_size=size)
    dyn = case.dyn_size
    yield replace(case, dyn_size=AUTO)
    if dyn != AUTO:
        for size in (0, *_towards(dyn, 0, page)):
            yield replace(case, dyn_size=size)
    atom = canonical_atom(case.scenario)
    if case.atom_size != atom:
        yield replace(case, atom_size=atom)
        # One power of two nearer, for differences that need a non-default atom.
        yield replace(case, atom_size=case.atom_size * 2 if case.atom_size < atom
                      else case.atom_size // 2)


def default_memory(case: Case) -> Iterator[Case]:
    # node_memory adds up to bootmem_size: both at once first.
    yield _plain(case, _MEMORY)
    for row in _MEMORY:
        yield _plain(case, [row])


def _from_the_start(candidates: Callable[[Case], Iterator[Case]]) -> Pass:
    """A pass whose candidates are few enough to regenerate them all after a success."""
    def step(case: Case, resume: int) -> Iterator[tuple[int, Case]]:
        return ((0, candidate) for candidate in candidates(case))

    step.__name__ = step.__qualname__ = candidates.__name__
    return step


PASSES: tuple[Pass, ...] = (
    _from_the_start(drop_failures),
    _from_the_start(plain_arch_knobs),
    fewer_cpus,
    _from_the_start(lower_cpu_ids),
    _from_the_start(smaller_nr_cpus),
    _from_the_start(simpler_topology),
    _from_the_start(canonical_sizes),
    _from_the_start(default_memory),
)


# ------------------------------------------------------------ the search

def _booted_fields(case: Case) -> tuple[object, ...]:
    return tuple(getattr(case, name) for name in _BOOTED)


class _Search:
    def __init__(self, start: Case, still_fails: Callable[[Case], bool], budget: int,
                 progress: Callable[[int, Case], None] | None,
                 out_of_time: Callable[[], bool] | None) -> None:
        self.best = start
        self.best_key = size_key(start)
        self.still_fails = still_fails
        self.budget = budget
        self.progress = progress
        # The input is known to fail: never boot it again.
        self.tried = {_booted_fields(start)}
        self.out_of_time = out_of_time
        self.attempts = 0
        self.accepted = 0
        self.stopped: str | None = None

    def spent(self) -> bool:
        if self.stopped is None:
            if self.attempts >= self.budget:
                self.stopped = "boots"
            elif self.out_of_time is not None and self.out_of_time():
                self.stopped = "time"
        return self.stopped is not None

    def attempt(self, candidate: Case) -> bool:
        """Boot the candidate if it is new, valid and smaller; True if it is kept."""
        fields = _booted_fields(candidate)
        if fields in self.tried:
            return False
        try:
            candidate.validate()
        except UserError:
            return False
        key = size_key(candidate)
        if key >= self.best_key:
            return False
        self.tried.add(fields)
        self.attempts += 1
        kept = self.still_fails(candidate)
        if kept:
            self.best, self.best_key = candidate, key
            self.accepted += 1
        if self.progress is not None:
            self.progress(self.attempts, self.best)
        return kept

    def run_pass(self, step: Pass) -> bool:
        """Apply one pass until none of its candidates still fails; True if any did."""
        progressed = False
        resume = 0
        while not self.spent():
            for stage, candidate in step(self.best, resume):
                if self.spent():
                    return progressed
                if self.attempt(candidate):
                    progressed, resume = True, stage
                    break
            else:
                return progressed
        return progressed

    def run(self) -> None:
        progressed = True
        while progressed and not self.spent():
            progressed = False
            for step in PASSES:
                progressed |= self.run_pass(step)


def shrink(case: Case, still_fails: Callable[[Case], bool], *, budget: int = DEFAULT_BUDGET,
           progress: Callable[[int, Case], None] | None = None,
           out_of_time: Callable[[], bool] | None = None) -> ShrinkResult:
    """The smallest case (by `size_key`) found that `still_fails`, greedily.

    `case` is taken to fail already and is never passed to `still_fails`;
    candidates keep its name, description and expect so the predicate sees
    them as variants of it.  At most `budget` calls are made, never twice
    for the same booted fields, never on a case that does not validate.
    `progress(attempts, best)` is called after each call.  `out_of_time()`,
    asked before each call, ends the search when it says so (the result's
    `stopped` is then "time"; "boots" when the budget ended it).

    If some candidate still failed, the result is named f"{name}-min" and
    its description says what it was shrunk from; otherwise the result's
    case is `case` itself.  Raises UserError if `case` does not validate.
    """
    case.validate()
    search = _Search(case, still_fails, budget, progress, out_of_time)
    search.run()
    if not search.accepted:
        return ShrinkResult(case, search.attempts, 0, search.stopped)
    origin = f"shrunk from {case.name} in {search.attempts} attempts"
    description = f"{origin}: {case.description}" if case.description else origin
    smallest = replace(search.best, name=f"{case.name}-min", description=description)
    return ShrinkResult(smallest, search.attempts, search.accepted, search.stopped)

"""Generated machine topologies and sizes for differential runs.

Two front ends share one description of the case families, so property
tests and long runs never drift apart:

* `cases()` is a hypothesis strategy for property tests.  Every choice is
  an integer draw whose smallest value is the plainest option (dense mask,
  one node, typical sizes, no failure injection), so failures shrink to
  small cpu sets, few nodes and simple sizes.
* `generate()` draws the same families from `random.Random` for long runs;
  it makes thousands of cases a second where hypothesis's `.example()` is
  neither fast nor reproducible.

Each family is a function of a `Draw`, the handful of primitive draws the
two front ends implement.  The weight tables below give the mix used by
`generate()`: mostly what real machines boot with, plus a steady fraction
of masks, distance matrices and sizes that only a buggy firmware, a
hotplug-heavy platform or a careless caller would produce -- those are
where the kernel and the model are most likely to part ways.

Every case says in its description which families it came from, e.g.
"sparse random mask 3 of 64 cpus, 3 nodes random, asymmetric distances,
static 53244 unaligned, reserved 8192, dyn auto".

The arch flows (x86's and sparc64's setup_per_cpu_areas()) pick their own
sizes and allocator: their cases share the machine families (masks,
topologies) and draw the arch knobs instead of the reserved, dynamic and
atom sizes -- the percpu_alloc= parameter, PSE, CONFIG_NUMA, nodes without
memory, a vmalloc area around x86's 20% rule, a failing bootmem allocation.
Which scenarios a run covers is the caller's choice: GENERIC_ORDER for
mm/percpu.c's own paths (the models cover those), ALL_ORDER to add the
arch flows when the kernel sources have their arch files.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import TypeVar

from hypothesis import strategies as st

from harness.core.arch_sizes import (
    KB,
    MB,
    PCPU_MIN_UNIT_SIZE,
    PERCPU_DYNAMIC_RESERVE,
    PERCPU_MODULE_RESERVE,
    SPARC64_CHUNK_SIZE,
    X86_PMD_SIZE,
    page_align,
)
from harness.core.cases import (
    ARCH_MIN_STATIC,
    ARCH_PAGE_SIZE,
    ARCH_SCENARIOS,
    AUTO,
    GENERIC_SCENARIOS,
    LOCAL_DISTANCE,
    NUMA_ONLY_SCENARIOS,
    SCENARIOS,
    Case,
)

T = TypeVar("T")

# NR_CPUS values the shims are usually built for; cases() picks among them
# when the caller does not fix one (smallest first, so it shrinks there).
NR_CPUS_CHOICES = (4, 8, 64, 256, 4096)

# Per-case cost (shim and model) grows with the possible cpus, so counts
# stay at or below this most of the time even when NR_CPUS is 4096.
SMALL_CPUS = 256

MAX_DISTANCE = 255
REMOTE_DISTANCE = 20
PAGE = 4096


class Draw(ABC):
    """The primitive draws a family may make.

    Weight tables and booleans are arranged so that the lowest integer and
    False are the plain options: hypothesis shrinks towards them.
    """

    @abstractmethod
    def integers(self, lo: int, hi: int) -> int:
        """An integer in lo..hi inclusive."""

    @abstractmethod
    def boolean(self, p: float) -> bool:
        """True (the unusual branch) with probability about p."""

    @abstractmethod
    def subset(self, n: int, k: int) -> list[int]:
        """k distinct integers of 0..n-1, sorted."""

    def choice(self, seq: Sequence[T]) -> T:
        return seq[self.integers(0, len(seq) - 1)]

    def weighted(self, table: Sequence[tuple[int, T]]) -> T:
        """One value of a (weight, value) table, plainest value first."""
        pick = self.integers(0, sum(w for w, _ in table) - 1)
        for weight, value in table:
            if pick < weight:
                return value
            pick -= weight
        raise AssertionError("unreachable: pick is below the total weight")


class RandomDraw(Draw):
    """Draws from a seeded random.Random, for bulk generation."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integers(self, lo: int, hi: int) -> int:
        return self.rng.randrange(lo, hi + 1)

    def boolean(self, p: float) -> bool:
        return self.rng.random() < p

    def subset(self, n: int, k: int) -> list[int]:
        return sorted(self.rng.sample(range(n), k))


class HypothesisDraw(Draw):
    """Draws through a hypothesis composite's `draw`, so cases shrink."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def integers(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def boolean(self, p: float) -> bool:
        # An integer rather than st.booleans() keeps the requested odds;
        # it shrinks to 0, which is False.
        scale = 1000
        return self.draw(st.integers(0, scale - 1)) >= scale - max(1, round(p * scale))

    def subset(self, n: int, k: int) -> list[int]:
        # Unique lists get slow as they fill the range, so past half of it
        # draw the cpus left out instead.
        if 2 * k <= n:
            return sorted(self.draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k,
                                             unique=True)))
        out = set(self.draw(st.lists(st.integers(0, n - 1), min_size=n - k, max_size=n - k,
                                     unique=True)))
        return [c for c in range(n) if c not in out]


# ---------------------------------------------------------------- cpu counts

def _count(d: Draw, hi: int) -> int:
    """A cpu count in 1..hi, mostly small or a power of two, rarely above SMALL_CPUS."""
    cap = min(hi, SMALL_CPUS)
    table: list[tuple[int, str]] = [(30, "few"), (30, "pow2"), (30, "any")]
    if hi > cap:
        table.append((10, "big"))
    kind = d.weighted(table)
    if kind == "few":
        return d.integers(1, min(cap, 8))
    if kind == "pow2":
        # From 2: one cpu has its own family, and "few" already reaches it.
        return 1 << d.integers(min(1, cap.bit_length() - 1), cap.bit_length() - 1)
    if kind == "any":
        return d.integers(1, cap)
    return d.integers(cap + 1, hi)


def _cpus_label(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


# --------------------------------------------------------- possible masks
# Each family: (draw, nr_cpus) -> (possible cpus, label).

Mask = tuple[int, ...]
MaskFamily = Callable[[Draw, int], tuple[Mask, str]]


def mask_dense(d: Draw, n: int) -> tuple[Mask, str]:
    c = _count(d, n)
    return tuple(range(c)), f"dense mask {_cpus_label(0, c - 1)}"


def mask_all(d: Draw, n: int) -> tuple[Mask, str]:
    return tuple(range(n)), f"all {n} cpus possible"


def mask_blocks(d: Draw, n: int) -> tuple[Mask, str]:
    """Contiguous blocks with holes: sockets with disabled cores, hotplug gaps."""
    span = min(n, max(3, _count(d, n)))
    cuts = d.integers(2, min(7, span - 1))
    bounds = [0, *(b + 1 for b in d.subset(span - 1, cuts)), span]
    # Segments alternate present, hole, present...; an odd cut count ends in a hole.
    cpus = tuple(c for i in range(0, len(bounds) - 1, 2) for c in range(bounds[i], bounds[i + 1]))
    return cpus, f"blocks-with-holes mask {(cuts + 2) // 2} blocks in 0-{span - 1}"


def mask_stride(d: Draw, n: int) -> tuple[Mask, str]:
    """Every other (third, fourth) cpu: SMT siblings disabled, 0,2,4..."""
    stride = d.weighted(((70, 2), (20, 3), (10, 4)))
    offset = d.integers(1, min(stride - 1, n - 1)) if d.boolean(0.2) else 0
    c = _count(d, (n - 1 - offset) // stride + 1)
    return tuple(range(offset, offset + stride * c, stride)), \
        f"sparse stride-{stride} mask from {offset}, {c} cpus"


def mask_random(d: Draw, n: int) -> tuple[Mask, str]:
    span = max(2, _count(d, n))
    k = d.integers(1, min(span - 1, SMALL_CPUS))
    return tuple(d.subset(span, k)), f"sparse random mask {k} of {span} cpus"


def mask_no_cpu0(d: Draw, n: int) -> tuple[Mask, str]:
    """cpu0 absent: code that assumes cpu 0 is possible (or first) breaks here."""
    if d.boolean(0.3):
        span = max(2, _count(d, n))
        k = d.integers(1, min(span - 1, SMALL_CPUS))
        return tuple(c + 1 for c in d.subset(span - 1, k)), \
            f"no-cpu0 random mask {k} of 1-{span - 1}"
    start = d.integers(2, n - 1) if n > 2 and d.boolean(0.3) else 1
    c = _count(d, n - start)
    return tuple(range(start, start + c)), f"no-cpu0 mask {_cpus_label(start, start + c - 1)}"


def mask_single(d: Draw, n: int) -> tuple[Mask, str]:
    where = d.weighted(((60, "first"), (20, "last"), (20, "any")))
    cpu = 0 if where == "first" else n - 1 if where == "last" else d.integers(0, n - 1)
    return (cpu,), f"single cpu {cpu}"


def mask_last(d: Draw, n: int) -> tuple[Mask, str]:
    """NR_CPUS-1 possible after a gap: off-by-ones at the top of the cpu range."""
    c = _count(d, n - 2)
    return (*range(c), n - 1), f"last-cpu mask 0-{c - 1},{n - 1}"


# (weight, least NR_CPUS for the family to mean what it says, family)
MASK_FAMILIES: tuple[tuple[int, int, MaskFamily], ...] = (
    (400, 1, mask_dense),
    (60, 1, mask_all),
    (120, 3, mask_blocks),
    (90, 3, mask_stride),
    (100, 2, mask_random),
    (80, 2, mask_no_cpu0),
    (60, 1, mask_single),
    (90, 3, mask_last),
)


def possible_mask(d: Draw, n: int) -> tuple[Mask, str]:
    family = d.weighted([(w, f) for w, least, f in MASK_FAMILIES if n >= least])
    return family(d, n)


# ------------------------------------------------------- distance matrices
# Each family: (draw, nodes) -> (matrix, label); values stay in 10..255.

Matrix = list[list[int]]
DistanceFamily = Callable[[Draw, int], tuple[Matrix, str]]


def _flat(k: int, remote: int) -> Matrix:
    return [[LOCAL_DISTANCE if i == j else remote for j in range(k)] for i in range(k)]


def dist_symmetric(d: Draw, k: int) -> tuple[Matrix, str]:
    return _flat(k, REMOTE_DISTANCE), "symmetric 10/20 distances"


def dist_graded(d: Draw, k: int) -> tuple[Matrix, str]:
    m = [[min(MAX_DISTANCE, LOCAL_DISTANCE * (1 + abs(i - j))) for j in range(k)]
         for i in range(k)]
    return m, "graded 10/20/30 distances"


def dist_asymmetric(d: Draw, k: int) -> tuple[Matrix, str]:
    """d[i][j] != d[j][i]: the kernel asks distance(cpu, tcpu) one way only."""
    m = _flat(k, REMOTE_DISTANCE)
    for _ in range(d.integers(1, k)):
        i, j = d.subset(k, 2)
        if d.boolean(0.2):
            near = d.integers(LOCAL_DISTANCE + 1, MAX_DISTANCE - 1)
        else:
            near = d.choice((LOCAL_DISTANCE, REMOTE_DISTANCE))
        wide = d.boolean(0.3)
        far = d.integers(near + 1, MAX_DISTANCE) if wide else min(near + 10, MAX_DISTANCE)
        m[i][j], m[j][i] = (near, far) if d.boolean(0.5) else (far, near)
    return m, "asymmetric distances"


def dist_non_transitive(d: Draw, k: int) -> tuple[Matrix, str]:
    """a local to b, b local to c, a remote from c: grouping depends on cpu order."""
    m = _flat(k, REMOTE_DISTANCE)
    a, b, c = d.subset(k, 3)
    a, b = (a, b) if d.boolean(0.5) else (b, a)  # vary which node is the bridge
    for x, y in ((a, b), (b, c)):
        m[x][y] = m[y][x] = LOCAL_DISTANCE
    remote = d.integers(LOCAL_DISTANCE + 1, MAX_DISTANCE) if d.boolean(0.3) else REMOTE_DISTANCE
    m[a][c] = m[c][a] = remote
    return m, "non-transitive distances"


def dist_all_local(d: Draw, k: int) -> tuple[Matrix, str]:
    return _flat(k, LOCAL_DISTANCE), "all-local distances"


def dist_random_symmetric(d: Draw, k: int) -> tuple[Matrix, str]:
    m = _flat(k, REMOTE_DISTANCE)
    for i in range(k):
        for j in range(i + 1, k):
            m[i][j] = m[j][i] = d.integers(LOCAL_DISTANCE, MAX_DISTANCE)
    return m, "random symmetric distances"


def dist_random(d: Draw, k: int) -> tuple[Matrix, str]:
    m = _flat(k, REMOTE_DISTANCE)
    for i in range(k):
        for j in range(k):
            if i != j:
                m[i][j] = d.integers(LOCAL_DISTANCE, MAX_DISTANCE)
    return m, "random distances"


# (weight, least node count the family needs, family)
DISTANCE_FAMILIES: tuple[tuple[int, int, DistanceFamily], ...] = (
    (350, 2, dist_symmetric),
    (200, 2, dist_graded),
    (130, 2, dist_asymmetric),
    (120, 3, dist_non_transitive),
    (60, 2, dist_all_local),
    (70, 2, dist_random_symmetric),
    (70, 2, dist_random),
)

NODE_COUNTS = ((40, 2), (15, 3), (25, 4), (4, 5), (3, 6), (3, 7), (10, 8), (3, 12), (4, 16))

Topology = tuple[tuple[int, ...] | None, tuple[tuple[int, ...], ...] | None, str]


def _assign(d: Draw, ncpus: int, nodes: list[int]) -> tuple[list[int], str]:
    """Node of each possible cpu, spread over `nodes`."""
    p = len(nodes)
    how = d.weighted(((50, "blocks"), (25, "round-robin"), (25, "random")))
    if how == "blocks":
        return [nodes[i * p // ncpus] for i in range(ncpus)], "blocks"
    if how == "round-robin":
        return [nodes[i % p] for i in range(ncpus)], "round-robin"
    if ncpus <= SMALL_CPUS:
        return [nodes[d.integers(0, p - 1)] for _ in range(ncpus)], "random"
    # A draw per cpu would make big cases slow (and overrun hypothesis's
    # buffer); random block boundaries still scatter the node sizes.
    cuts = [0, *(c + 1 for c in d.subset(ncpus - 1, min(p - 1, ncpus - 1))), ncpus]
    order = [nodes[d.integers(0, p - 1)] for _ in range(len(cuts) - 1)]
    return [order[b] for b in range(len(cuts) - 1) for _ in range(cuts[b], cuts[b + 1])], \
        "random blocks"


def _odd_diagonal(d: Draw, m: Matrix) -> str:
    """Occasionally a node that is not at LOCAL_DISTANCE from itself (firmware bugs)."""
    if not d.boolean(0.05):
        return ""
    value = d.integers(LOCAL_DISTANCE + 1, MAX_DISTANCE) if d.boolean(0.5) else REMOTE_DISTANCE
    targets = range(len(m)) if d.boolean(0.5) else (d.integers(0, len(m) - 1),)
    for i in targets:
        m[i][i] = value
    return ", diagonal != 10"


def topology(d: Draw, ncpus: int) -> Topology:
    kind = d.weighted(((450, "one"), (30, "explicit"), (520, "numa")))
    if kind == "one":
        return None, None, "single node"
    if kind == "explicit":
        m = [[LOCAL_DISTANCE]]
        odd = _odd_diagonal(d, m)
        return (0,) * ncpus, (tuple(m[0]),), "single node explicit" + odd
    least, family = d.weighted([(w, (least, f)) for w, least, f in DISTANCE_FAMILIES])
    # Real machines rarely have more nodes than cpus; sometimes allow it,
    # leaving nodes without cpus.
    most = NODE_COUNTS[-1][1] if d.boolean(0.1) else max(least, ncpus)
    k = d.weighted([(w, n) for w, n in NODE_COUNTS if least <= n <= most])
    nodes = list(range(k))
    if d.boolean(0.1):
        # A memory-only node: present in the distance table, owns no cpus.
        nodes.pop(d.integers(0, k - 1))
    cpu_node, how = _assign(d, ncpus, nodes)
    m, dist_label = family(d, k)
    odd = _odd_diagonal(d, m)
    empty = k - len(set(cpu_node))
    label = f"{k} nodes {how}" + (f" ({empty} empty)" if empty else "")
    return tuple(cpu_node), tuple(tuple(r) for r in m), f"{label}, {dist_label}{odd}"


# ------------------------------------------------------------------- sizes

# Static percpu sizes seen on real configs, several not page multiples.
REAL_STATIC_SIZES = (40960, 53244, 28672, 36864, 45056, 61440, 73728, 90112, 123040, 155648)


# Every possible cpu's unit gets a copy of the static area: past this many
# bytes in all a case spends its time in memcpy and page faults, not in the
# code under test, so big machines get proportionally smaller static areas.
STATIC_COPY_BUDGET = 256 * MB


def static_size(d: Draw, ncpus: int) -> tuple[int, str]:
    kind = d.weighted(((475, "typical"), (200, "real"), (180, "page-edge"), (80, "tiny"),
                       (60, "large"), (5, "zero")))
    if kind == "typical":
        size = d.integers(4 * KB, 200 * KB)
        if d.boolean(0.5):
            size -= size % PAGE
    elif kind == "real":
        size = d.choice(REAL_STATIC_SIZES)
    elif kind == "page-edge":
        size = d.integers(1, 48) * PAGE + (d.integers(-64, 64) if d.boolean(0.3)
                                           else d.choice((-1, 1)))
    elif kind == "tiny":
        size = d.integers(1, 64)
    elif kind == "large":
        size = d.integers(1 * MB, 8 * MB)
        if d.boolean(0.5):
            size -= size % PAGE
    else:
        # No static area at all: a BUG_ON in the kernel that both sides must hit.
        return 0, "static 0 (BUG)"
    capped = ""
    if size * ncpus > STATIC_COPY_BUDGET:
        size = max(STATIC_COPY_BUDGET // ncpus // PAGE * PAGE, PAGE)
        capped = " (capped)"
    return size, f"static {size}" + (" unaligned" if size % PAGE else "") + capped


def _maybe_aligned(d: Draw, size: int) -> int:
    return size - size % PAGE if d.boolean(0.5) else size


def reserved_size(d: Draw) -> tuple[int, str]:
    kind = d.weighted(((400, 8192), (400, 0), (200, -1)))
    size = _maybe_aligned(d, d.integers(0, 64 * KB)) if kind < 0 else kind
    return size, f"reserved {size}"


def dyn_size(d: Draw) -> tuple[int, str]:
    kind = d.weighted(((550, AUTO), (100, 0), (340, 1), (10, 2)))
    if kind == AUTO:
        return AUTO, "dyn auto"
    if kind == 2:
        # Large units at no copying cost: what overflows int-sized chunk sizes
        # on big machines.
        size = _maybe_aligned(d, d.integers(256 * KB, 4 * MB))
        return size, f"dyn {size} (huge)"
    size = _maybe_aligned(d, d.integers(0, 128 * KB)) if kind else 0
    return size, f"dyn {size}"


LPAGE_ATOMS = ((700, 2 * MB), (80, 4 * MB), (80, 1 * MB), (60, 64 * KB), (40, PAGE), (40, 8 * MB))


def atom_size(d: Draw, scenario: str) -> int:
    return d.weighted(LPAGE_ATOMS) if scenario == "lpage" else PAGE


def failure(d: Draw) -> tuple[int, int, str]:
    """Rarely, make one allocation fail: (fail_fc_alloc, fail_bootmem, label)."""
    if not d.boolean(0.02):
        return -1, -1, ""
    if d.boolean(0.5):
        k = d.integers(0, 1)
        return -1, k, f", fail bootmem #{k}"
    k = d.integers(0, 7)
    return k, -1, f", fail fc alloc #{k}"


# ------------------------------------------------------------ arch flows
# x86's and sparc64's setup_per_cpu_areas() choose the reserved, dynamic
# and atom sizes themselves; a case gives the machine and the knobs.

# percpu_alloc= as typed: mostly absent, then each allocator the kernel
# knows; "auto" and other words the parser does not know (it warns and
# stays on auto), "4k" being the name the page allocator had before 2.6.31.
PERCPU_ALLOC_TABLE = ((640, ""), (100, "lpage"), (100, "embed"), (100, "page"), (30, "auto"),
                      (30, "?"))
BOGUS_PERCPU_ALLOC = ("bogus", "4k", "LPAGE", "largepage")

# sparc64 keeps the static, module and dynamic areas of each cpu's chunk.
SPARC64_RESERVED = PERCPU_MODULE_RESERVE + PERCPU_DYNAMIC_RESERVE


def x86_lpage_chunk(case: Case) -> int:
    """About the chunk x86's lpage allocator weighs against a fifth of the
    vmalloc area (units times unit size).

    An estimate for placing vmalloc sizes on both sides of that rule, after
    pcpu_build_alloc_info()'s kernel-doc: cpus grouped by node, allocations
    of whole large pages cut into page-aligned units, at most a third of the
    possible cpus' worth of units wasted, the fewest allocations.
    """
    # What x86_64's setup_pcpu_lpage() asks pcpu_build_alloc_info() for: the
    # module reserve, PERCPU_DYNAMIC_RESERVE, PMD-sized atoms, 64K units at least.
    size_sum = page_align(case.static_size + PERCPU_MODULE_RESERVE + PERCPU_DYNAMIC_RESERVE,
                          case.page_size)
    min_unit = max(size_sum, PCPU_MIN_UNIT_SIZE)
    alloc = page_align(min_unit, X86_PMD_SIZE)
    per_node: dict[int, int] = {}
    for cpu in case.possible:
        node = case.node_of(cpu) if case.numa else 0
        per_node[node] = per_node.get(node, 0) + 1
    groups = list(per_node.values())
    best_allocs = sum(groups)  # one unit per allocation always fits
    for upa in range(alloc // min_unit, 1, -1):
        if alloc % upa or (alloc // upa) % case.page_size:
            continue
        allocs = sum(-(-n // upa) for n in groups)
        if allocs * upa - len(case.possible) <= len(case.possible) // 3:
            best_allocs = min(best_allocs, allocs)
    return best_allocs * alloc


def x86_auto_tries_lpage(case: Case) -> bool:
    """Whether x86 with no allocator chosen tries lpage, and so applies the
    20% rule: CONFIG_NUMA, PSE, and cpus on two online nodes."""
    if not (case.numa and case.pse) or case.percpu_alloc in ("lpage", "embed", "page"):
        return False
    nodes = {case.node_of(cpu) for cpu in case.possible}
    return len(nodes - set(case.offline_nodes)) >= 2


def arch_static_size(d: Draw, scenario: str, ncpus: int) -> tuple[int, str]:
    """Static percpu sizes of real kernels: tens of KB to a few hundred, now
    and then MBs, never below what the arch's own per-cpu variables need."""
    page = ARCH_PAGE_SIZE[scenario]
    least = ARCH_MIN_STATIC[scenario]
    kind = d.weighted(((520, "typical"), (220, "real"), (140, "page-edge"), (60, "least"),
                       (60, "large")))
    over = ""
    if kind == "typical":
        size = d.integers(max(least, 16 * KB), 400 * KB)
        if d.boolean(0.5):
            size -= size % page
    elif kind == "real":
        size = d.choice(REAL_STATIC_SIZES)
    elif kind == "page-edge":
        size = d.integers(-(-least // page) + 1, 64) * page + (
            d.integers(-64, 64) if d.boolean(0.3) else d.choice((-1, 1)))
    elif kind == "least":
        size = least + (d.integers(1, 2 * page) if d.boolean(0.5) else 0)
    elif scenario == "sparc64" and d.boolean(0.1):
        # Larger than the 4M chunk holds with its reserves: the point is
        # what the flow does then.
        size = d.integers(SPARC64_CHUNK_SIZE - SPARC64_RESERVED + 1, 8 * MB)
        over = " (over the 4M chunk)"
    else:
        top = SPARC64_CHUNK_SIZE - SPARC64_RESERVED if scenario == "sparc64" else 8 * MB
        size = d.integers(1 * MB, top)
        if d.boolean(0.5):
            size -= size % page
    capped = ""
    if size * ncpus > STATIC_COPY_BUDGET:
        size = max(STATIC_COPY_BUDGET // ncpus // page * page, -(-least // page) * page)
        capped, over = " (capped)", ""
    return size, f"static {size}" + (" unaligned" if size % page else "") + capped + over


def percpu_alloc(d: Draw) -> str:
    word = d.weighted(PERCPU_ALLOC_TABLE)
    return d.choice(BOGUS_PERCPU_ALLOC) if word == "?" else word


def offline_nodes(d: Draw, nodes: int) -> tuple[int, ...]:
    """Rarely, nodes with no memory online: mostly some of them, now and then all."""
    if nodes < 2 or not d.boolean(0.1):
        return ()
    if d.boolean(0.1):
        return tuple(range(nodes))
    return tuple(d.subset(nodes, d.integers(1, nodes - 1)))


def vmalloc_size(d: Draw, chunk: int, likely: bool) -> tuple[int, str]:
    """A vmalloc area around five times the lpage chunk (x86's 20% rule),
    often where the rule is asked, rarely elsewhere; else the default.
    Either side of the rule equally: by a few bytes, within a factor of
    two, or up to sixteen times off."""
    if not d.boolean(0.5 if likely else 0.03):
        return Case.vmalloc_size, ""
    threshold = 5 * chunk  # the largest chunk that fits takes exactly a fifth
    over = d.boolean(0.5)
    how = d.weighted(((35, "edge"), (40, "near"), (25, "far")))
    if how == "edge":
        size = threshold - d.integers(1, 5) if over else threshold + d.integers(0, 4)
    else:
        factor = d.integers(2, 16) if how == "far" else 2
        size = d.integers(threshold // factor, threshold - 1) if over \
            else d.integers(threshold, threshold * factor)
        if d.boolean(0.5):
            # Round towards the threshold, so the side stays what was drawn.
            size = size + (-size % MB) if over else size - size % MB
            size = min(size, threshold - 1) if over else max(size, threshold)
    size = max(size, PAGE)
    side = "over" if size < threshold else "within"
    return size, f", vmalloc {size} (lpage chunk ~{chunk >> 20}M {side} 20%)"


def fail_bootmem(d: Draw, first: int) -> tuple[int, str]:
    """Rarely, the k-th nopanic bootmem allocation fails, k mostly small;
    k = 0 about `first` per cent of the time."""
    if not d.boolean(0.03):
        return -1, ""
    lo, hi = d.weighted(((first, (0, 0)), (50, (0, 3)), (35, (4, 10)), (15, (11, 20))))
    k = d.integers(lo, hi)
    return k, f", fail bootmem #{k}"


def sparc64_bootmem(d: Draw, ncpus: int) -> tuple[int, str]:
    """Enough bootmem for a 4M chunk per possible cpu; rarely too little."""
    need = (ncpus + 16) * SPARC64_CHUNK_SIZE
    if d.boolean(0.015):
        # The chunks are 4M-aligned after the flow's small allocations, so
        # ncpus chunks' worth runs out at the last cpu at the latest.
        size = d.integers(1, ncpus) * SPARC64_CHUNK_SIZE
        return size, f", bootmem {size >> 20}M (short of {ncpus} 4M chunks)"
    return max(Case.bootmem_size, need), ""


def build_arch_case(d: Draw, name: str, scenario: str, nr_cpus: int) -> Case:
    """One case of an arch flow: the machine families plus the arch knobs; validated."""
    possible, mask_label = possible_mask(d, nr_cpus)
    cpu_node, distance, topo_label = topology(d, len(possible))
    nodes = len(distance) if distance else 1
    # (drawn for every flow, so adding a NUMA-only one changed no other's cases)
    numa = d.boolean(0.7) or scenario in NUMA_ONLY_SCENARIOS
    offline = offline_nodes(d, nodes) if numa else ()
    static, static_label = arch_static_size(d, scenario, len(possible))
    case = Case(name=name, scenario=scenario, nr_cpus=nr_cpus, possible=possible,
                cpu_node=cpu_node, distance=distance, static_size=static,
                page_size=ARCH_PAGE_SIZE[scenario], numa=numa, offline_nodes=offline)
    knobs = [mask_label, topo_label, static_label]
    knobs.append("numa" if numa else "no numa")
    if offline:
        knobs.append(f"offline nodes {','.join(map(str, offline))}")
    extra = ""
    if scenario == "x86":
        word = percpu_alloc(d)
        pse = not d.boolean(0.1)
        case = replace(case, percpu_alloc=word, pse=pse)
        knobs.append(f"percpu_alloc={word}" if word else "no percpu_alloc")
        if not pse:
            knobs.append("no pse")
        vmalloc, extra = vmalloc_size(d, x86_lpage_chunk(case), x86_auto_tries_lpage(case))
        case = replace(case, vmalloc_size=vmalloc)
    elif scenario == "sparc64":
        bootmem, extra = sparc64_bootmem(d, len(possible))
        case = replace(case, bootmem_size=bootmem)
    else:
        # GENERIC_ARCH_NUMA: the firmware's distances reach the grouping.
        word = percpu_alloc(d)
        case = replace(case, percpu_alloc=word)
        knobs.append(f"percpu_alloc={word}" if word else "no percpu_alloc")
    # sparc64 makes one nopanic allocation (its alloc_info): the first.
    fail, fail_label = fail_bootmem(d, 50 if scenario == "sparc64" else 0)
    case = replace(case, fail_bootmem=fail, description=", ".join(knobs) + extra + fail_label)
    return memory_knobs(d, case).validate()


def node_memory(d: Draw, case: Case) -> tuple[tuple[int, ...] | None, str]:
    """How the machine's memory sits on its nodes: mostly equal shares (the
    default), else uneven, with an online node that has none, or with one
    node so small that node-directed allocations spill to other nodes.
    Drawn for every flow; only a CONFIG_NUMA build sees the nodes."""
    nodes = case.nodes()
    online = [n for n in range(nodes) if n not in case.offline_nodes]
    if len(online) < 2 or not d.boolean(0.3):
        return None, ""
    how = d.weighted(((40, "uneven"), (30, "memoryless"), (30, "tiny")))
    total = case.bootmem_size // PAGE
    weights = [d.integers(1, 8) if n in online else 0 for n in range(nodes)]
    if how != "uneven":
        small = d.choice(online)
        weights[small] = 0
    # A tiny node has a few MB: enough for some units, not for every cpu's.
    tiny = min(d.integers(1, 64) * (MB // PAGE), total // 4) if how == "tiny" else 0
    pages = [(total - tiny) * w // sum(weights) for w in weights]
    if how == "tiny":
        pages[small] = tiny
    sizes = [p * PAGE for p in pages]
    rest = next(n for n in reversed(online) if weights[n])
    sizes[rest] += case.bootmem_size - sum(sizes)
    return tuple(sizes), f", node memory {how} ({','.join(str(b >> 20) for b in sizes)}M)"


def vmalloc_tight(d: Draw, case: Case) -> tuple[int, str]:
    """Now and then a vmalloc area about as small as the first chunk's
    units, either side of the embed allocator's check (the groups' span
    must stay within three quarters of VMALLOC_TOTAL)."""
    if not d.boolean(0.15):
        return case.vmalloc_size, ""
    dyn = max(case.dyn_size, PERCPU_DYNAMIC_RESERVE)
    unit = max(page_align(case.static_size + case.reserved_size + dyn, case.page_size),
               PCPU_MIN_UNIT_SIZE)
    unit = page_align(unit, case.atom_size) if case.scenario != "page" else unit
    span = len(case.possible) * unit
    edge = span * 4 // 3
    size = max(PAGE, d.integers(edge // 2, edge * 2))
    if d.boolean(0.5):
        size -= size % PAGE
    side = "tight" if size * 3 // 4 < span else "roomy"
    return max(size, PAGE), f", vmalloc {size} ({side} for {span >> 10}K of units)"


def memory_knobs(d: Draw, case: Case) -> Case:
    """The machine's memory per node and, for the flows that embed
    (mm/percpu.c's own, GENERIC_ARCH_NUMA's), the vmalloc area: drawn after
    everything else, so that adding them left every other field of a seed's
    cases as it was."""
    memory, memory_label = node_memory(d, case)
    # x86 draws its own around its 20% rule; sparc64 maps a chunk per cpu.
    vmalloc, vmalloc_label = (case.vmalloc_size, "") if case.scenario in ("x86", "sparc64") \
        else vmalloc_tight(d, case)
    return replace(case, node_memory=memory, vmalloc_size=vmalloc,
                   description=case.description + memory_label + vmalloc_label)


# ------------------------------------------------------------------- cases

def build_case(d: Draw, name: str, scenario: str, nr_cpus: int) -> Case:
    """One case of every family drawn from d; validated."""
    if scenario in ARCH_SCENARIOS:
        return build_arch_case(d, name, scenario, nr_cpus)
    possible, mask_label = possible_mask(d, nr_cpus)
    cpu_node, distance, numa_label = topology(d, len(possible))
    static, static_label = static_size(d, len(possible))
    reserved, reserved_label = reserved_size(d)
    dyn, dyn_label = dyn_size(d)
    atom = atom_size(d, scenario)
    fail_fc, fail_bm, fail_label = failure(d)
    atom_label = ""
    if scenario == "lpage":
        atom_label = f", atom {atom >> 20}M" if atom >= MB else f", atom {atom >> 10}K"
    return memory_knobs(d, Case(
        name=name,
        scenario=scenario,
        nr_cpus=nr_cpus,
        possible=possible,
        cpu_node=cpu_node,
        distance=distance,
        static_size=static,
        reserved_size=reserved,
        dyn_size=dyn,
        atom_size=atom,
        fail_fc_alloc=fail_fc,
        fail_bootmem=fail_bm,
        description=f"{mask_label}, {numa_label}, {static_label}, {reserved_label}, "
                    f"{dyn_label}{atom_label}{fail_label}",
    )).validate()


# Scenario lists a caller picks from: mm/percpu.c's own first-chunk paths
# (what the models cover), the arch flows (which need the arch files in the
# kernel sources), or both.
GENERIC_ORDER: tuple[str, ...] = GENERIC_SCENARIOS
ARCH_ORDER: tuple[str, ...] = ARCH_SCENARIOS
ALL_ORDER: tuple[str, ...] = SCENARIOS
# The default of cases() and generate_mixed(): the generic paths.
SCENARIO_ORDER = GENERIC_ORDER


def _check(scenario: str | None, nr_cpus: int | None) -> None:
    if scenario is not None and scenario not in SCENARIOS:
        raise ValueError(f"scenario '{scenario}' unknown: use one of {', '.join(SCENARIOS)}")
    if nr_cpus is not None and not 1 <= nr_cpus <= 8192:
        raise ValueError(f"nr_cpus {nr_cpus} out of range 1..8192")


def _check_scenarios(scenarios: Sequence[str]) -> tuple[str, ...]:
    if not scenarios:
        raise ValueError("no scenarios given: name at least one of " + ", ".join(SCENARIOS))
    for sc in scenarios:
        _check(sc, None)
    return tuple(scenarios)


def cases(scenario: str | None = None, nr_cpus: int | None = None,
          scenarios: Sequence[str] = SCENARIO_ORDER) -> st.SearchStrategy[Case]:
    """Hypothesis strategy over the generated families.

    A fixed `scenario` (any of cases.SCENARIOS), or one of `scenarios`
    (the generic paths unless told: ALL_ORDER adds the arch flows);
    any NR_CPUS of NR_CPUS_CHOICES if `nr_cpus` is None.
    """
    _check(scenario, nr_cpus)
    pool = (scenario,) if scenario is not None else _check_scenarios(scenarios)

    @st.composite
    def strategy(draw: st.DrawFn) -> Case:
        sc = pool[0] if len(pool) == 1 else draw(st.sampled_from(pool))
        n = nr_cpus if nr_cpus is not None else draw(st.sampled_from(NR_CPUS_CHOICES))
        return build_case(HypothesisDraw(draw), f"{sc}-hypothesis", sc, n)

    return strategy()


def generate(count: int, seed: int, scenario: str, nr_cpus: int, *,
             start: int = 0) -> Iterator[Case]:
    """`count` cases named f"{scenario}-s{seed}-{i:05d}" for i from `start`.

    Case i depends only on (seed, scenario, nr_cpus, i), not on what came
    before it, so start=i regenerates one case of a long run on its own.
    """
    _check(scenario, nr_cpus)
    for i in range(start, start + count):
        # A string seed is hashed (sha512) by random.Random: neighbouring
        # indices get unrelated streams.
        rng = random.Random(f"percpu-diff/{seed}/{scenario}/{nr_cpus}/{i}")
        yield build_case(RandomDraw(rng), f"{scenario}-s{seed}-{i:05d}", scenario, nr_cpus)


# NR_CPUS of a mixed run: small builds often (sparse and full masks are
# likely there), the common 64, and the big ones that overflow things.
NR_CPUS_MENU = ((10, 2), (10, 4), (15, 8), (10, 16), (25, 64), (10, 256), (5, 1024), (5, 4096))


def generate_mixed(count: int, seed: int, scenarios: Sequence[str] = SCENARIO_ORDER,
                   nr_cpus_menu: Sequence[tuple[int, int]] = NR_CPUS_MENU) -> list[Case]:
    """`count` cases taking `scenarios` in turn, NR_CPUS from the menu, named
    f"run-s{seed}-{i:05d}"; case i depends only on (seed, i) and, for which
    scenario it runs, on the scenario list.

    `scenarios` is the caller's: GENERIC_ORDER (the default), ARCH_ORDER, or
    ALL_ORDER when the kernel sources have the arch files.
    """
    pool = _check_scenarios(scenarios)
    out: list[Case] = []
    for i in range(count):
        rng = random.Random(f"percpu-diff/mixed/{seed}/{i}")
        scenario = pool[i % len(pool)]
        nr_cpus = RandomDraw(rng).weighted(nr_cpus_menu)
        out.append(build_case(RandomDraw(rng), f"run-s{seed}-{i:05d}", scenario, nr_cpus))
    return out


# ------------------------------------------------------- the arch knob matrix

# Topologies the matrix crosses every knob with: one node; two nodes; two
# nodes of which the second has no memory; three nodes with the memoryless
# one between the others in cpu order (pcpu_need_numa() compares each cpu's
# node with the previous cpu's only).
MATRIX_TOPOLOGIES: tuple[tuple[str, tuple[int, ...], tuple[int, ...] | None, int,
                               tuple[int, ...]], ...] = (
    ("one-node", (0, 1, 2, 3), None, 1, ()),
    ("two-nodes", (0, 1, 2, 3, 4, 5), (0, 0, 0, 1, 1, 1), 2, ()),
    ("node1-offline", (0, 1, 2, 3, 4, 5), (0, 0, 0, 1, 1, 1), 2, (1,)),
    ("offline-between", (0, 1, 2, 3, 4, 5), (0, 0, 2, 2, 1, 1), 3, (2,)),
)
MATRIX_PERCPU_ALLOC = ("", "lpage", "embed", "page", "bogus")
MATRIX_FAILURES = (-1, 0, 1, 2)
MATRIX_VMALLOC = (32 << 40, 8 * MB)


def arch_matrix(nr_cpus: int = 8, static: int = 64 * KB) -> list[Case]:
    """Every combination of the arch knobs, on the matrix topologies: x86
    with each percpu_alloc=, PSE on and off, NUMA built in or not, a large
    and a small vmalloc area, and no, the first, second or third fallible
    allocation failing; sparc64 with NUMA on and off and the same failures."""
    out: list[Case] = []
    for topo, possible, cpu_node, nodes, offline in MATRIX_TOPOLOGIES:
        distance = None if nodes == 1 else tuple(
            tuple(LOCAL_DISTANCE if i == j else REMOTE_DISTANCE for j in range(nodes))
            for i in range(nodes))
        common = Case(name="", nr_cpus=nr_cpus, possible=possible, cpu_node=cpu_node,
                      distance=distance, offline_nodes=offline, static_size=static)
        for numa in (False, True):
            for fail in MATRIX_FAILURES:
                tag = f"{topo}-{'numa' if numa else 'flat'}-fail{fail}"
                out.append(replace(common, name=f"matrix-sparc64-{tag}", scenario="sparc64",
                                   page_size=8192, numa=numa, fail_bootmem=fail).validate())
                for alloc in MATRIX_PERCPU_ALLOC:
                    for pse in (True, False):
                        for vmalloc in MATRIX_VMALLOC:
                            name = (f"matrix-x86-{tag}-{alloc or 'auto'}-"
                                    f"{'pse' if pse else 'nopse'}-vm{vmalloc >> 20}M")
                            out.append(replace(common, name=name, scenario="x86", numa=numa,
                                               fail_bootmem=fail, percpu_alloc=alloc, pse=pse,
                                               vmalloc_size=vmalloc).validate())
    return out

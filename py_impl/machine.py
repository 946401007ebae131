"""The machine a model boots on, and the record of what its boot did.

A model sees the same case the shim runs: possible cpus, nodes and their
distances, NR_CPUS and PAGE_SIZE.  What the real code does through the arch
callbacks (first-chunk page allocation, freeing, mapping) and the bootmem
calls allowed to fail is accounted here in the same units the shim reports,
so the two results can be compared field by field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from harness.core import topology
from harness.core.cases import LOCAL_DISTANCE, Case
from harness.core.result import Bootmem

ENOMEM = 12
EINVAL = 22
KERN_DEBUG, KERN_INFO, KERN_WARNING = "7", "6", "4"


class ModelBug(Exception):
    """A documented precondition does not hold: the kernel would BUG here."""

    kind = "bug"

    def __init__(self, check: str) -> None:
        super().__init__(check)
        self.check = check


class ModelPanic(ModelBug):
    """The boot cannot go on and the kernel says so: panic()."""

    kind = "panic"


@dataclass(frozen=True)
class Machine:
    case: Case

    @property
    def possible(self) -> tuple[int, ...]:
        return self.case.possible

    @property
    def nr_possible(self) -> int:
        return len(self.case.possible)

    @property
    def nr_cpu_ids(self) -> int:
        # One past the highest possible cpu: ids at or above it never exist.
        return self.case.possible[-1] + 1

    @property
    def nr_cpus(self) -> int:
        return self.case.nr_cpus

    @property
    def page_size(self) -> int:
        return self.case.page_size

    @cached_property
    def nodes(self) -> dict[int, int]:
        """Node of every possible cpu."""
        nodes = self.case.cpu_node or (0,) * len(self.case.possible)
        return dict(zip(self.case.possible, nodes, strict=True))

    def node_of(self, cpu: int) -> int:
        return self.nodes[cpu]

    def node_distance(self, from_node: int, to_node: int) -> int:
        if self.case.distance is None:
            return LOCAL_DISTANCE
        return self.case.distance[from_node][to_node]

    def nodes_local(self, a: int, b: int) -> bool:
        return topology.nodes_local(self.case, a, b)

    def local(self, a: int, b: int) -> bool:
        return self.nodes_local(self.node_of(a), self.node_of(b))


@dataclass
class BootRecord:
    """What one boot did, in the units the shim reports."""

    machine: Machine
    log: list[tuple[str, str]] = field(default_factory=list)
    fc_allocs: int = 0
    fc_alloc_bytes: int = 0
    fc_frees: int = 0
    fc_free_bytes: int = 0
    fc_alloc_bytes_by_node: list[int] = field(default_factory=list)
    vm_areas: list[tuple[int, int]] = field(default_factory=list)
    maps: int = 0
    ptes_populated: int = 0
    chunk_held: int | None = None
    # Where the first chunk allocator's bootmem search starts: from 0 for
    # the shim's generic callback, from an arch's goal for its own.
    fc_goal: int = 0
    _fallible_bootmem_calls: int = 0
    _fc_alloc_calls: int = 0

    def __post_init__(self) -> None:
        self.fc_alloc_bytes_by_node = [0] * self.machine.case.nodes()

    def printk(self, level: str, text: str) -> None:
        self.log.append((level, text))

    def bootmem_may_fail(self) -> bool:
        """One bootmem allocation allowed to fail; False when the case makes it fail."""
        index = self._fallible_bootmem_calls
        self._fallible_bootmem_calls += 1
        return index != self.machine.case.fail_bootmem

    def fc_alloc(self, cpu: int, size: int) -> bool:
        """The arch's first-chunk allocator, asked for memory near `cpu`."""
        return self.fc_alloc_many(cpu, size, 1) == 1

    def fc_alloc_many(self, cpu: int, size: int, count: int) -> int:
        """`count` allocations near `cpu`, stopping at the first that fails;
        how many succeeded.  Counted, not looped: the page allocator asks
        for every page of every unit."""
        case = self.machine.case
        # Call j fails in the arch allocator itself when its index is the
        # injected one, else in bootmem (which it allocates from) likewise.
        fc_fail = case.fail_fc_alloc - self._fc_alloc_calls
        bootmem_fail = case.fail_bootmem - self._fallible_bootmem_calls
        got = count
        if 0 <= fc_fail < got:
            got = fc_fail
        if 0 <= bootmem_fail < got:
            got = bootmem_fail
        failed = got < count
        # A call the arch allocator fails itself never reaches bootmem.
        failed_in_bootmem = failed and got != fc_fail
        self._fc_alloc_calls += got + failed
        self._fallible_bootmem_calls += got + failed_in_bootmem
        self.fc_allocs += got
        self.fc_alloc_bytes += got * size
        # An empty slot's cpu (NR_CPUS) has no node; the shim charges node 0.
        self.fc_alloc_bytes_by_node[self.machine.nodes.get(cpu, 0)] += got * size
        return got

    def fc_free(self, size: int) -> None:
        self.fc_frees += 1
        self.fc_free_bytes += size

    # Where the machine's memory is modelled (an arch flow's record), the
    # calls below place and give back real addresses; here they only count.
    places_memory = False

    def percpu_alloc(self, size: int) -> bool:
        """One of mm/percpu.c's own bootmem allocations that may fail."""
        del size
        return self.bootmem_may_fail()

    def fc_place(self, cpu: int, size: int, align: int) -> int | None:
        """The first-chunk allocator asked for `size` at `align` near `cpu`:
        the address (0 where memory is not modelled), None on failure."""
        del align
        return 0 if self.fc_alloc(cpu, size) else None

    def fc_free_at(self, place: int, size: int) -> None:
        del place
        self.fc_free(size)

    def register_vm(self, size: int, align: int) -> None:
        self.vm_areas.append((size, align))

    def log_text(self) -> str:
        return "".join(f"<{level}>{text}\n" for level, text in self.log)

    def bootmem_json(self) -> Bootmem:
        return {
            "fc_allocs": self.fc_allocs,
            "fc_alloc_bytes": self.fc_alloc_bytes,
            "fc_frees": self.fc_frees,
            "fc_free_bytes": self.fc_free_bytes,
            "fc_alloc_bytes_by_node": list(self.fc_alloc_bytes_by_node),
            "bad_free_count": 0,
            "vm_areas": [{"size": s, "align": a} for s, a in self.vm_areas],
            "maps": self.maps,
            "ptes_populated": self.ptes_populated,
        }

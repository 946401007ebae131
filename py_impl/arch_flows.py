"""Models of the arch flows: x86's and sparc64's setup_per_cpu_areas().

An arch flow decides the sizes and the first-chunk allocator itself and
calls the same mm/percpu.c functions the generic scenarios model, so the
models here are the arch's decisions on top of each generation's embed,
page and large-page models.  Written from the documented contract:

* arch/x86/kernel/setup_percpu.c's comments: "Allocate percpu area.  If
  PSE is supported, try to make use of large page mappings"; lpage is
  declined "on non-NUMA, embedding is better", "need PSE", "don't consume
  more than 20% of vmalloc area" (only when the allocator was not chosen);
  embedding is declined when "large page isn't supported" or because it
  "doesn't play well with NUMA"; the page allocator is the "boring
  fallback"; a chosen allocator that fails falls back to page size, and a
  failed page allocator leaves "cannot initialize percpu area" (panic);
  x86_64 reserves PERCPU_MODULE_RESERVE in the first chunk and asks for
  PERCPU_DYNAMIC_RESERVE in all, large pages are PMD_SIZE; the lpage
  distance callback calls cpus of one node LOCAL_DISTANCE, others remote;
* pcpu_need_numa()'s kernel-doc: "If NUMA is not configured or there is
  only one NUMA node available, there is no reason to consider NUMA";
* pcpu_alloc_bootmem()'s kernel-doc: a NUMA friendly allocation "for cpu
  @cpu", node-local when the node is online and has memory, from anywhere
  (and said so) otherwise;
* sparc64's smp_64.c: every possible cpu gets a PCPU_CHUNK_SIZE (4M)
  chunk of node-local bootmem, keeps the static, module and dynamic areas
  and gives the rest back, the chunks are mapped cpu by cpu into one vm
  area of nr_cpu_ids chunks and handed to pcpu_setup_first_chunk() as the
  identity map (alloc_info: one group of nr_cpu_ids units, cpu n in unit
  n, NR_CPUS in the slots of impossible cpus);
* the percpu_alloc= entry of Documentation/kernel-parameters.txt: "embed",
  "page" and "lpage", "Archs may support subset or none of the
  selections"; which subset is the arch's Kconfig: x86 always has embed
  and page, lpage only with NEED_MULTIPLE_NODES (NUMA); sparc64 selects
  none, so every word is unknown there;
* the commit message of fd1e8a1fe2b5: x86's lpage path and sparc64 change
  only in how the layout travels (pcpu_build_alloc_info() in place of
  pcpu_lpage_build_unit_map(); one alloc_info for sparc64); no behaviour
  changes other than packing.

Each flow states what it tried ("attempts", harness/core/attempts.py's vocabulary)
and, when setup_per_cpu_areas() completes, where each possible cpu's static
copy starts relative to the chunk's base ("arch").
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from harness.core import dumpfmt, result
from harness.core.arch_sizes import (
    PERCPU_DYNAMIC_RESERVE,
    PERCPU_MODULE_RESERVE,
    SPARC64_CHUNK_SIZE,
    X86_DYN_SIZE,
    X86_FIRST_CHUNK_RESERVE,
    X86_PMD_SIZE,
    page_align,
)
from harness.core.cases import LOCAL_DISTANCE, Case
from harness.core.generation import GenerationName
from harness.core.topology import group_cpus
from py_impl import alloc_info, unit_map
from py_impl.alloc_era import X86_NO_BOOTMEM
from py_impl.layout import AreaSizes, area_sizes, min_unit_size, padded, plan_units
from py_impl.lpage import large_page_per_cpu, map_large_pages
from py_impl.machine import (
    EINVAL,
    ENOMEM,
    KERN_DEBUG,
    KERN_INFO,
    KERN_WARNING,
    BootRecord,
    Machine,
    ModelPanic,
)
from py_impl.memblock import Memblock
from py_impl.result import Boot
from py_impl.words import Words

# pcpu_fc_names[]: what pcpu_chosen_fc is called.
AUTO, EMBED, PAGE, LPAGE = "auto", "embed", "page", "lpage"

# The fact that the revision's x86 setup_percpu.c defines pr_fmt (read by
# harness/extract/closure.py), and what that puts before the file's messages.
X86_PR_FMT = "x86_pr_fmt"
X86_PR_PREFIX = "setup_percpu: "
# The fact that the revision's x86 setup_percpu.c reads percpu_alloc= itself
# (2009, before "percpu: generalize first chunk allocator selection").
X86_OWN_PERCPU_ALLOC = "x86_own_percpu_alloc"
# ... and that it calls its page allocator "4k" (before "percpu: rename 4k
# first chunk allocator to page"), the word that chooses it and the size
# a failed choice falls back to.
X86_PAGE_NAMED_4K = "x86_page_named_4k"
# ... and that its lpage path hands pcpu_lpage_first_chunk() one large page
# per cpu (before "percpu: teach large page allocator about sparse unit
# mapping"), checking the vmalloc space before PSE.
X86_LPAGE_PER_CPU = "x86_lpage_per_cpu"

# What "%016lx" of a physical address prints; the comparison masks it.
_ADDRESS = "0" * 16
# __pa(MAX_DMA_ADDRESS), the goal of the arch's bootmem allocations, on
# the simulated machine.
MAX_DMA_ADDRESS = 16 << 20
SMP_CACHE_BYTES = 64


def bootmem_search(nodes: Sequence[tuple[int, int]], goal: int, node: int | None
                   ) -> list[tuple[int, int]]:
    """Where bootmem looks for a block, in order (Bootmem's contract): the
    node asked for (from the goal when it lies inside), then every node
    from the goal up, then every node from 0."""
    out: list[tuple[int, int]] = []
    if node is not None and 0 <= node < len(nodes):
        start, end = nodes[node]
        out.append((goal if start < goal < end else start, end))
    out += [(max(start, goal), end) for start, end in nodes if end > goal]
    if goal:
        out += nodes
    return out


class Bootmem:
    """The machine's boot memory, for a flow whose allocations panic when
    it runs out (sparc64: a 4M chunk per cpu is a lot to ask).

    __alloc_bootmem()'s kernel-doc: the goal is the "preferred starting
    address"; "The goal is dropped if it can not be satisfied and the
    allocation will fall back to memory below @goal".  Placed first fit
    from the goal up, else first fit below it; memory given back is free
    again.  __alloc_bootmem_node()'s: "Allocation may fall back to any node
    in the system if the specified node can not hold the requested
    memory".  The nodes hold consecutive ranges in node order from 0; a
    block lies within one node.
    """

    def __init__(self, size: int, node_sizes: Sequence[int] | None = None) -> None:
        self.size = size
        self.used: list[tuple[int, int]] = []  # sorted, disjoint [start, end)
        self.nodes: list[tuple[int, int]] = []
        at = 0
        for bytes_on_node in node_sizes if node_sizes is not None else (size,):
            self.nodes.append((at, at + bytes_on_node))
            at += bytes_on_node

    def alloc(self, size: int, align: int, goal: int, node: int | None = None) -> int | None:
        """The address of `size` bytes aligned to `align`, or None."""
        for low, high in bootmem_search(self.nodes, goal, node):
            place = self._fit(low, high, size, align)
            if place is not None:
                self.used.append((place, place + size))
                self.used.sort()
                return place
        return None

    def free(self, start: int, size: int) -> None:
        end = start + size
        kept: list[tuple[int, int]] = []
        for lo, hi in self.used:
            if hi <= start or lo >= end:
                kept.append((lo, hi))
                continue
            if lo < start:
                kept.append((lo, start))
            if end < hi:
                kept.append((end, hi))
        self.used = kept

    def _fit(self, low: int, high: int, size: int, align: int) -> int | None:
        place = -(-low // align) * align
        for lo, hi in self.used:
            if hi <= place:
                continue
            if lo >= place + size:
                break
            place = -(-hi // align) * align
        return place if place + size <= high else None


class SharedMemory(Memblock):
    """The machine's memory under an x86 flow of the alloc_info generation,
    where two boot allocators give out the same memory: bootmem's first fit
    (Bootmem's contract, bootmem_search()) and memblock's top-down search
    (Memblock's).  mm/percpu.c's own calls take bootmem's until it calls
    memblock itself (3.13 on); the arch's pcpu_alloc_bootmem() takes
    bootmem's, or memblock's on an x86 without bootmem (mm/nobootmem.c's
    bootmem interface: memblock's "highest free range at or above the
    goal", the node's first).  Frees are exact: everything percpu gives
    back here is whole pages."""

    def first_fit(self, size: int, align: int, goal: int, node: int | None) -> int | None:
        for low, high in bootmem_search(self.nodes, goal, node):
            place = self._lowest_fit(low, high, size, align)
            if place is not None:
                self._hold(place, place + size)
                return place
        return None

    def _lowest_fit(self, low: int, high: int, size: int, align: int) -> int | None:
        def aligned(at: int) -> int:
            return -(-at // align) * align
        place = aligned(low)
        i = bisect.bisect_right(self._ends, place)
        while i < len(self._starts) and self._starts[i] < place + size:
            place = max(place, aligned(self._ends[i]))
            i += 1
        return place if place + size <= high else None

    def place(self, size: int, align: int, goal: int, node: int | None, top_down: bool
              ) -> int | None:
        if top_down:
            return self.alloc(size, align, goal, counted=False, node=node)
        return self.first_fit(size, align, goal, node)


# ------------------------------------------------------------ the machine

@dataclass
class ArchRecord(BootRecord):
    """A boot whose first-chunk memory comes from the arch's
    pcpu_alloc_bootmem() rather than the harness's callbacks.

    That allocator goes straight to bootmem: node-directed when the kernel
    knows nodes and the cpu's node is online with memory, from anywhere
    otherwise (and it says so); the debug line about each allocation is
    printed whether it succeeded or not.  Its frees are plain
    free_bootmem() calls.  x86 uses the allocations that may fail, sparc64
    the ones that panic.
    """

    may_fail: bool = True
    # Bytes of node-directed allocations per node; None until one is made.
    node_bytes: list[int] | None = None
    # Where allocations that panic are placed (None: memory never runs out).
    memory: Bootmem | None = None
    # What the arch file's pr_fmt puts before its own messages.
    prefix: str = ""
    fc_goal: int = MAX_DMA_ADDRESS
    # The shim's bootmem notes a node-directed call whether it succeeds or
    # not, its memblock (an x86 without bootmem) only a block it handed out.
    nodes_on_success: bool = False
    # The machine's memory as percpu's allocations and the arch's place it
    # (None: addresses not modelled), and which of them search top-down.
    shared: SharedMemory | None = None
    percpu_top_down: bool = False
    arch_top_down: bool = False

    @property
    def places_memory(self) -> bool:  # type: ignore[override]
        return self.shared is not None

    def percpu_alloc(self, size: int) -> bool:
        """alloc_bootmem_nopanic() (memblock_virt_alloc_nopanic() from 3.13):
        SMP_CACHE_BYTES aligned, from __pa(MAX_DMA_ADDRESS) or top-down."""
        if not self.bootmem_may_fail():
            return False
        if self.shared is None:
            return True
        return self.shared.place(size, SMP_CACHE_BYTES, MAX_DMA_ADDRESS, None,
                                 self.percpu_top_down) is not None

    def fc_place(self, cpu: int, size: int, align: int) -> int | None:
        place = self.place_for_cpu(cpu, size, align)
        if place is not None:
            self.count_fc_alloc(cpu, size)
        return place

    def fc_free_at(self, place: int, size: int) -> None:
        self.fc_free(size)
        if self.shared is not None:
            self.shared.free(place, size)

    @property
    def numa(self) -> bool:
        return self.machine.case.numa

    def cpu_node(self, cpu: int) -> int:
        """early_cpu_to_node(): every cpu is on node 0 without NUMA."""
        return self.machine.node_of(cpu) if self.numa else 0

    def node_has_memory(self, node: int) -> bool:
        """node_online(node) && NODE_DATA(node)."""
        case = self.machine.case
        if not self.numa:
            return node == 0
        return 0 <= node < case.nodes() and node not in case.offline_nodes

    def nr_node_ids(self) -> int:
        return self.machine.case.nodes() if self.numa else 1

    def alloc_bootmem(self, size: int, align: int = SMP_CACHE_BYTES,
                      goal: int = MAX_DMA_ADDRESS, node: int | None = None) -> int:
        """alloc_bootmem() and friends (for `node`, None: any): an address,
        or panic when memory has run out (0 when the machine's memory is not
        modelled)."""
        if self.memory is None:
            return 0
        place = self.memory.alloc(size, align, goal, node)
        if place is None:
            raise ModelPanic(f"out of memory: {size} bytes of bootmem")
        return place

    def free_bootmem(self, start: int, size: int) -> None:
        if self.memory is not None:
            self.memory.free(start, size)

    def alloc_for_cpu(self, cpu: int, size: int) -> bool:
        """pcpu_alloc_bootmem(cpu, size, align), align being size; not
        placed in the shared memory: the page allocator's pages, which come
        this way, are never looked at by address, and follow every
        placement that is."""
        return self.place_for_cpu(cpu, size, placed=False) is not None

    def place_for_cpu(self, cpu: int, size: int, align: int | None = None,
                      placed: bool = True) -> int | None:
        """pcpu_alloc_bootmem() (aligned to `size` unless told): the
        address, None when the allocation failed."""
        place: int | None
        node = self.cpu_node(cpu)
        wanted = node if self.numa and self.node_has_memory(node) else None
        if not self.may_fail:
            place = self.alloc_bootmem(size, size, node=wanted)
        elif not self.bootmem_may_fail():
            place = None
        elif self.shared is None or not placed:
            place = 0
        else:
            place = self.shared.place(size, align or size, self.fc_goal, wanted,
                                      self.arch_top_down)
        if not self.numa:
            return place
        node = self.cpu_node(cpu)
        if self.node_has_memory(node):
            if self.node_bytes is None and (place is not None or not self.nodes_on_success):
                self.node_bytes = [0] * self.machine.case.nodes()
            if place is not None and self.node_bytes is not None:
                self.node_bytes[node] += size
            self.printk(KERN_DEBUG, f"{self.prefix}per cpu data for cpu{cpu} {size} bytes "
                                    f"on node{node} at {_ADDRESS}")
        else:
            self.printk(KERN_INFO, f"{self.prefix}cpu {cpu} has no node {node} or node-local "
                                   "memory")
            self.printk(KERN_DEBUG, f"{self.prefix}per cpu data for cpu{cpu} {size} bytes "
                                    f"at {_ADDRESS}")
        return place

    def fc_alloc_many(self, cpu: int, size: int, count: int) -> int:
        """The arch's pcpu_fc_alloc(): pcpu_alloc_bootmem() near `cpu`,
        counted as first-chunk allocations like the generic callbacks."""
        for done in range(count):
            if not self.alloc_for_cpu(cpu, size):
                return done
            self.count_fc_alloc(cpu, size)
        return count

    def count_fc_alloc(self, cpu: int, size: int) -> None:
        self.fc_allocs += 1
        self.fc_alloc_bytes += size
        # An empty slot's cpu (NR_CPUS) has no node; the shim charges node 0.
        self.fc_alloc_bytes_by_node[self.machine.nodes.get(cpu, 0)] += size

    def bootmem_json(self) -> result.Bootmem:
        out = super().bootmem_json()
        if self.node_bytes is not None:
            out["node_bytes"] = list(self.node_bytes)
        return out


def arch_record(boot: Boot, case: Case, may_fail: bool) -> ArchRecord:
    """Replace the boot's record by one for the arch flow.

    `case` is the booted case with the sizes the arch decides written into
    it (reserved, dynamic, atom), so the generic models of mm/percpu.c's
    helpers called on the boot see what the arch passes them.
    """
    record = ArchRecord(Machine(case), may_fail=may_fail,
                        prefix=X86_PR_PREFIX if boot.constants.get(X86_PR_FMT) else "",
                        nodes_on_success=bool(boot.constants.get(X86_NO_BOOTMEM)))
    boot.record = record
    boot.reports_return = False  # setup_per_cpu_areas() returns nothing
    return record


def parse_percpu_alloc(record: BootRecord, word: str, supported: Sequence[str]) -> str:
    """percpu_alloc=: one of the arch's allocators, or a warning and auto."""
    if not word:
        return AUTO
    if word in supported:
        return word
    record.printk(KERN_WARNING, f"PERCPU: unknown allocator {word} specified")
    return AUTO


def unit_offsets(boot: Boot) -> list[int | None]:
    """Where each possible cpu's unit starts from the chunk's base: units lie
    back to back in unit order (both generations; alloc_info's base_offset
    is documented to place its groups "as if ... back-to-back")."""
    state = boot.state
    assert state is not None
    machine = boot.record.machine
    return [state.unit_of_cpu[cpu] * state.unit_size if cpu in state.unit_of_cpu else None
            for cpu in range(machine.nr_cpu_ids)]


class Attempts:
    """The allocator attempts of one boot, as harness/core/attempts.py names them."""

    def __init__(self, boot: Boot) -> None:
        self.items: list[result.Attempt] = []
        boot.attempts = self.items

    def start(self, allocator: str, chosen: bool | None) -> result.Attempt:
        # Until it returns, an attempt is one the boot ended in (BUG).
        entry: result.Attempt = {"allocator": allocator, "chosen": chosen, "return": None,
                 "reason": "did-not-return"}
        self.items.append(entry)
        return entry

    @staticmethod
    def end(entry: result.Attempt, returned: int, reason: str) -> int:
        entry["return"] = returned
        entry["reason"] = reason
        return returned


# ------------------------------------------------------------------- x86

@dataclass(frozen=True)
class LpageLayout:
    """What the x86 lpage path builds: sizes, unit size, and the units of
    each group (cpus grouped by node, padded to whole large pages)."""

    sizes: AreaSizes
    unit_size: int
    alloc_size: int
    groups: tuple[tuple[int | None, ...], ...]

    @property
    def slots(self) -> list[int | None]:
        return [cpu for group in self.groups for cpu in group]

    @property
    def chunk_bytes(self) -> int:
        return self.unit_size * len(self.slots)


def x86_lpage_layout(record: ArchRecord) -> LpageLayout:
    """pcpu_lpage_build_unit_map() / pcpu_build_alloc_info() with x86's
    arguments: the first-chunk reserve, the dynamic reserve, PMD-sized
    large pages and "same node is LOCAL_DISTANCE, anything else remote"."""
    machine = record.machine
    sizes = area_sizes(machine.case.static_size, X86_FIRST_CHUNK_RESERVE, X86_DYN_SIZE,
                       machine.page_size)
    groups = group_cpus(machine.possible, record.cpu_node, lambda a, b: a == b)
    plan = plan_units([len(g) for g in groups], min_unit_size(sizes, machine.page_size),
                      X86_PMD_SIZE, machine.page_size)
    return LpageLayout(sizes, plan.unit_size, plan.alloc_size,
                       tuple(tuple(padded(g, plan.units_per_alloc)) for g in groups))


def _all_local(case: Case) -> tuple[tuple[int, ...], ...] | None:
    """A NULL cpu_distance_fn: every cpu LOCAL_DISTANCE from every other
    (the nodes stay, for the bookkeeping by node)."""
    if case.distance is None:
        return None
    return tuple(tuple(LOCAL_DISTANCE for _ in row) for row in case.distance)


class X86:
    """setup_per_cpu_areas() of arch/x86/kernel/setup_percpu.c (x86_64)."""

    def __init__(self, boot: Boot, generation: GenerationName) -> None:
        case = boot.record.machine.case
        # What x86 hands pcpu_embed_first_chunk() and
        # pcpu_page_first_chunk(): the models of those read it from the case.
        # Once embedding takes an atom and a distance callback, this flow
        # passes a page and no callback ("Embedding allocator users are
        # converted to specify NULL cpu_distance_fn, so this patch doesn't
        # cause any visible behavior difference"): page-aligned units in
        # one group, as before.  The large-page path uses PMD_SIZE and its
        # own by-node distance, not these.
        arch_case = replace(case, reserved_size=X86_FIRST_CHUNK_RESERVE, dyn_size=X86_DYN_SIZE,
                            atom_size=case.page_size, distance=_all_local(case))
        self.boot = boot
        self.generation = generation
        self.record = arch_record(boot, arch_case, may_fail=True)
        self.attempts = Attempts(boot)

    @property
    def case(self) -> Case:
        return self.record.machine.case

    def need_numa(self) -> bool:
        """pcpu_need_numa(): NUMA built in and more than one node available.

        "Available" to percpu allocation: online, with memory, and home of
        a possible cpu (a node without cpus holds no percpu memory, and one
        without memory can take none).
        """
        record = self.record
        if not record.numa:
            return False
        nodes = {record.cpu_node(cpu) for cpu in record.machine.possible}
        return len({n for n in nodes if record.node_has_memory(n)}) > 1

    def supported(self) -> tuple[str, ...]:
        # Kconfig: NEED_PER_CPU_LPAGE_FIRST_CHUNK depends on NEED_MULTIPLE_NODES.
        return (EMBED, PAGE, LPAGE) if self.record.numa else (EMBED, PAGE)

    def run(self) -> int:
        record = self.record
        machine = record.machine
        own_choice = bool(self.boot.constants.get(X86_OWN_PERCPU_ALLOC))
        chosen = (self.case.percpu_alloc or AUTO) if own_choice else \
            parse_percpu_alloc(record, self.case.percpu_alloc, self.supported())
        record.printk(KERN_INFO, f"NR_CPUS:{machine.nr_cpus} nr_cpumask_bits:{machine.nr_cpus} "
                                 f"nr_cpu_ids:{machine.nr_cpu_ids} "
                                 f"nr_node_ids:{record.nr_node_ids()}")
        ret = -EINVAL
        if own_choice and self.case.percpu_alloc:
            # Any word given, "auto" too, is a choice here.
            ret = self.own_choice(chosen)
        elif chosen != AUTO:
            if chosen != PAGE:
                ret = self.lpage(True) if chosen == LPAGE else self.embed(True)
                if ret < 0:
                    record.printk(KERN_WARNING, f"PERCPU: {chosen} allocator failed ({ret}), "
                                                "falling back to page size")
        else:
            ret = self.lpage(False)
            if ret < 0:
                ret = self.embed(False)
        if ret < 0:
            ret = self.page()
        if ret < 0:
            raise ModelPanic(f"cannot initialize percpu area (err={ret})")
        self.boot.arch = {
            "name": "x86",
            "percpu_alloc": chosen,
            "unit_offsets": unit_offsets(self.boot),
            # Every cpu's per-cpu variables land in its own unit.
            "readback_bad_cpus": [],
            "cpu_number_bad_cpus": [],
        }
        return ret

    def own_choice(self, word: str) -> int:
        """x86's own percpu_alloc= (until f58dc01ba2c): the word is kept as
        given, "page" goes straight to the "boring fallback", lpage and
        embed are tried as chosen, and any other word is warned about and,
        like a chosen allocator that failed, falls back to page size."""
        record = self.record
        named_4k = bool(self.boot.constants.get(X86_PAGE_NAMED_4K))
        ret = -EINVAL
        if word == ("4k" if named_4k else PAGE):
            return ret
        if word == LPAGE:
            ret = self.lpage(True)
        elif word == EMBED:
            ret = self.embed(True)
        else:
            record.printk(KERN_WARNING, f"PERCPU: unknown allocator {word} specified")
        if ret < 0:
            record.printk(KERN_WARNING, f"PERCPU: {word} allocator failed ({ret}), "
                          f"falling back to {'4k' if named_4k else 'page size'}")
        return ret

    # ------------------------------------------------------------ allocators

    def embed(self, chosen: bool) -> int:
        entry = self.attempts.start(EMBED, chosen)
        if not chosen:
            if not self.case.pse:
                return self.attempts.end(entry, -EINVAL, "no-pse")
            if self.need_numa():
                return self.attempts.end(entry, -EINVAL, "numa")
        ret = (unit_map.embed if self.old else alloc_info.embed)(self.boot)
        return self.attempts.end(entry, ret, "ok" if ret >= 0 else "alloc-failed")

    def page(self) -> int:
        entry = self.attempts.start(PAGE, None)
        ret = (unit_map.page if self.old else alloc_info.page)(self.boot)
        return self.attempts.end(entry, ret, "ok" if ret >= 0 else "alloc-failed")

    def lpage(self, chosen: bool) -> int:
        entry = self.attempts.start(LPAGE, chosen)
        record = self.record
        if not record.numa:
            # Compiled out: the large-page allocator needs multiple-node support.
            return self.attempts.end(entry, -EINVAL, "not-built")
        if self.boot.constants.get(X86_LPAGE_PER_CPU):
            return self.lpage_per_cpu(entry, chosen)
        if not chosen and not self.need_numa():
            return self.attempts.end(entry, -EINVAL, "not-numa")
        if not self.case.pse:
            record.printk(KERN_WARNING, "PERCPU: lpage allocator requires PSE")
            return self.attempts.end(entry, -EINVAL, "no-pse")
        layout = x86_lpage_layout(record)
        info: alloc_info.AllocInfo | None = None
        if self.old:
            # The unit map lives in bootmem that may not be there.
            if not record.bootmem_may_fail():
                record.printk(KERN_WARNING, "PERCPU: failed to allocate unit_map")
                return self.attempts.end(entry, -ENOMEM, "alloc-failed")
        else:
            info = self.build_alloc_info(layout)
            if info is None:
                record.printk(KERN_WARNING, f"PERCPU: failed to build unit_map ({-ENOMEM})")
                return self.attempts.end(entry, -ENOMEM, "build-failed")
        # "don't consume more than 20% of vmalloc area"
        if not chosen and 5 * layout.chunk_bytes > self.case.vmalloc_size:
            record.printk(KERN_INFO, f"PERCPU: too large chunk size "
                                     f"{layout.chunk_bytes >> 20}MB for large page remap")
            return self.attempts.end(entry, -EINVAL, "vmalloc-limit")
        ret = self.lpage_first_chunk(layout, info)
        return self.attempts.end(entry, ret, "ok" if ret >= 0 else "alloc-failed")

    def lpage_per_cpu(self, entry: result.Attempt, chosen: bool) -> int:
        """The first lpage path: unless chosen, NUMA and the chunk - a large
        page per possible cpu - within a fifth of the vmalloc area; then
        PSE; then pcpu_lpage_first_chunk(), whose unit is one large page."""
        record = self.record
        if not chosen:
            if not self.need_numa():
                return self.attempts.end(entry, -EINVAL, "not-numa")
            chunk_bytes = record.machine.nr_possible * X86_PMD_SIZE
            if 5 * chunk_bytes > self.case.vmalloc_size:
                record.printk(KERN_INFO, f"PERCPU: too large chunk size {chunk_bytes >> 20}MB "
                                         "for large page remap")
                return self.attempts.end(entry, -EINVAL, "vmalloc-limit")
        if not self.case.pse:
            record.printk(KERN_WARNING, "PERCPU: lpage allocator requires PSE")
            return self.attempts.end(entry, -EINVAL, "no-pse")
        ret = lpage_per_cpu_first_chunk(self.boot, area_sizes(
            self.case.static_size, X86_FIRST_CHUNK_RESERVE, X86_DYN_SIZE,
            record.machine.page_size))
        return self.attempts.end(entry, ret, "ok" if ret >= 0 else "alloc-failed")

    @property
    def old(self) -> bool:
        return self.generation == unit_map.GENERATION

    def build_alloc_info(self, layout: LpageLayout) -> alloc_info.AllocInfo | None:
        """pcpu_build_alloc_info()'s result for the layout; None when
        allocating the info fails."""
        machine = self.record.machine
        info = alloc_info.alloc_alloc_info(self.record, len(layout.groups), len(layout.slots))
        if info is None:
            return None
        info.static_size = layout.sizes.static
        info.reserved_size = layout.sizes.reserved
        info.dyn_size = layout.sizes.dyn
        info.unit_size = layout.unit_size
        info.atom_size = X86_PMD_SIZE
        info.alloc_size = layout.alloc_size
        first_unit = 0
        for group, slots in zip(info.groups, layout.groups, strict=True):
            group.nr_units = len(slots)
            group.base_offset = first_unit * layout.unit_size
            group.cpu_map = [machine.nr_cpus if cpu is None else cpu for cpu in slots]
            first_unit += len(slots)
        return info

    def lpage_first_chunk(self, layout: LpageLayout, info: alloc_info.AllocInfo | None) -> int:
        """pcpu_lpage_first_chunk(): allocate, trim and map the large pages,
        then set up the first chunk (the old one prints its layout first)."""
        record = self.record
        slots = layout.slots
        sizes = layout.sizes
        if info is None:
            table = dumpfmt.lpage_table(sizes.static, sizes.reserved, sizes.dyn, layout.unit_size,
                                     X86_PMD_SIZE, slots)
            for line in dumpfmt.render(table).split("\n"):
                record.printk(KERN_DEBUG, line)
        # The banner's words follow the revision, as the generic lpage's do.
        if not map_large_pages(record, sizes, layout.unit_size, X86_PMD_SIZE, slots,
                               Words.of(self.boot.constants)):
            return -ENOMEM
        if info is None:
            units = {cpu: unit for unit, cpu in enumerate(slots) if cpu is not None}
            return unit_map.setup_first_chunk(self.boot, sizes, layout.unit_size, "vmalloc",
                                              units)
        return alloc_info.setup_first_chunk(self.boot, info, "vmalloc")


def lpage_per_cpu_first_chunk(boot: Boot, sizes: AreaSizes) -> int:
    """pcpu_lpage_first_chunk() before the unit map reached it (a large
    page per cpu, the rest of each given back), then the first chunk set
    up with a NULL ("sequential") unit map."""
    record = boot.record
    ret = large_page_per_cpu(record, sizes, min_unit_size(sizes, record.machine.page_size),
                             X86_PMD_SIZE)
    if ret < 0:
        return ret
    return unit_map.setup_first_chunk(boot, sizes, X86_PMD_SIZE, "vmalloc", None)


def x86(boot: Boot, generation: GenerationName) -> int:
    """x86's setup_per_cpu_areas() on the given API generation."""
    return X86(boot, generation).run()


# --------------------------------------------------------------- sparc64

def sparc64(boot: Boot, generation: GenerationName) -> int:
    """setup_per_cpu_areas() of arch/sparc/kernel/smp_64.c.

    A 4M chunk of node-local bootmem per possible cpu (allocations that
    panic rather than fail), the tail past static + module reserve +
    dynamic reserve (page aligned) given back, mapped at cpu * 4M of a vm
    area of nr_cpu_ids chunks, and the identity cpu -> unit map.
    """
    case = boot.record.machine.case
    record = arch_record(boot, case, may_fail=False)
    record.memory = Bootmem(case.bootmem_size, case.memory_of_nodes() if case.numa else None)
    machine = record.machine
    Attempts(boot)  # no choice of allocator: none tried
    # mm/percpu.c reads percpu_alloc= on every arch; sparc64 has none of
    # the allocators it names.
    chosen = parse_percpu_alloc(record, case.percpu_alloc, ())
    size_sum = page_align(case.static_size + PERCPU_MODULE_RESERVE + PERCPU_DYNAMIC_RESERVE,
                          machine.page_size)
    sizes = AreaSizes(case.static_size, PERCPU_MODULE_RESERVE,
                      size_sum - case.static_size - PERCPU_MODULE_RESERVE)
    info: alloc_info.AllocInfo | None = None
    if generation == alloc_info.GENERATION:
        info = alloc_info.alloc_alloc_info(record, 1, machine.nr_cpu_ids)
        if info is None:
            # The flow has no way to go on without its alloc_info; every other
            # allocation it makes panics when bootmem runs out.
            raise ModelPanic("pcpu_alloc_alloc_info() failed")
        record.alloc_bootmem(machine.page_size)  # a page or so: never the size that matters
    # The array of the chunks' addresses.
    record.alloc_bootmem(page_align(machine.nr_cpu_ids * 8, machine.page_size))
    for cpu in machine.possible:
        place = record.place_for_cpu(cpu, SPARC64_CHUNK_SIZE)
        assert place is not None  # these allocations panic rather than fail
        if size_sum < SPARC64_CHUNK_SIZE:
            record.free_bootmem(place + size_sum, SPARC64_CHUNK_SIZE - size_sum)
    record.register_vm(machine.nr_cpu_ids * SPARC64_CHUNK_SIZE, SPARC64_CHUNK_SIZE)
    # Mapping the chunks takes page-table pages from bootmem (at least one).
    record.alloc_bootmem(machine.page_size, machine.page_size, machine.page_size)
    if info is None:
        ret = unit_map.setup_first_chunk(boot, sizes, SPARC64_CHUNK_SIZE, "vmalloc", None)
    else:
        info.static_size, info.reserved_size, info.dyn_size = sizes.static, sizes.reserved, \
            sizes.dyn
        info.unit_size = info.atom_size = info.alloc_size = SPARC64_CHUNK_SIZE
        group = info.groups[0]
        group.nr_units = machine.nr_cpu_ids
        possible = set(machine.possible)
        group.cpu_map = [cpu if cpu in possible else machine.nr_cpus
                         for cpu in range(machine.nr_cpu_ids)]
        ret = alloc_info.setup_first_chunk(boot, info, "vmalloc")
    boot.arch = {
        "name": "sparc64",
        "percpu_alloc": chosen,
        "unit_offsets": unit_offsets(boot),
        "readback_bad_cpus": [],
    }
    return ret


def flows(generation: GenerationName) -> dict[str, Callable[[Boot], int]]:
    """The arch flows as scenarios of a 2009 generation's model."""
    return {"x86": lambda boot: x86(boot, generation),
            "sparc64": lambda boot: sparc64(boot, generation)}

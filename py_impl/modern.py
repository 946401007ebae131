"""Model of the modern generation (Linux 6.1 and 6.12): bitmap chunks, memblock.

pcpu_setup_first_chunk(ai, base_addr) takes the same struct pcpu_alloc_info
as the alloc_info generation but returns nothing: a setup it cannot accept
is a BUG.  Written from the kernel-doc of mm/percpu.c (the file's opening
comment, pcpu_build_alloc_info, pcpu_alloc_alloc_info, pcpu_embed_first_chunk,
pcpu_page_first_chunk, pcpu_setup_first_chunk, pcpu_alloc_first_chunk), the
comments on its variables and on struct pcpu_chunk (mm/percpu-internal.h),
and include/linux/percpu.h:

* the first chunk is <static | [reserved] | dynamic>; the static area is
  managed by no chunk, a reserved area by its own chunk and the dynamic
  area by pcpu_first_chunk, which "always exists";
* pcpu_build_alloc_info(): groups are multiples of the atom, "CPUs which
  are of LOCAL_DISTANCE both ways are grouped together", the result is
  "guaranteed to have CPUs on different nodes on different groups and >=75%
  usage of allocated virtual address space"; base offsets "as if all groups
  are located back-to-back"; empty cpu_map slots hold NR_CPUS;
* embed: each group is one pcpu_fc_alloc() of whole atoms "aligned to
  @atom_size", used in place (no vmalloc), "the leftover is returned using
  pcpu_fc_free"; @dyn_size is the "minimum dynamic area size"; a spread of
  the groups beyond 75% of the vmalloc space fails the call when the page
  allocator exists as a fallback (both are configured in the shim);
* page: "Static percpu area is allocated page-by-page into vmalloc area",
  one group (no distances); pages come from pcpu_fc_alloc(), a unit's ptes
  are populated before the unit is mapped;
* setup: unit_size page aligned, at least static + reserved + dynamic, at
  least PCPU_MIN_UNIT_SIZE; pcpu_low/high_unit_cpu are "cpus with the lowest
  and highest unit addresses"; pcpu_alloc_first_chunk(): "The base_addr is
  page aligned down of @tmp_addr while the region end is page aligned up",
  the parts outside the region hidden; the first chunk is immutable and fully
  populated; nr_empty_pop_pages counts the "empty populated pages" and "The
  reserved chunk doesn't contribute to the count";
* percpu.h: PCPU_MIN_UNIT_SIZE = PFN_ALIGN(32K), PCPU_MIN_ALLOC_SIZE = 4,
  PERCPU_DYNAMIC_EARLY_SIZE (12K in 6.1, 20K in 6.12), "Keep
  PERCPU_DYNAMIC_RESERVE equal to or larger than PERCPU_DYNAMIC_EARLY_SIZE";
* memblock (the brief and memblock's own kernel-doc): top-down, zeroed, NULL
  on failure, memblock_free() gives back exactly the bytes named.

Where the documentation is silent the code was read for the intent only,
and the model says so here:

* the early minimum: the dynamic size is raised to PERCPU_DYNAMIC_EARLY_SIZE
  before page rounding (a code comment, "ensure dyn_size is enough for early
  alloc"; setup BUGs on less);
* the static area's end is aligned up to PCPU_MIN_ALLOC_SIZE and the dynamic
  area shrunk by as much (a code comment in pcpu_setup_first_chunk()).  The
  same comment says the result stays "above the configured sizes", which a
  dynamic size that is not a multiple of 4 can miss by up to 3 bytes; the
  model follows the mechanism, as the kernel does;
* the checks pcpu_setup_first_chunk() BUGs on, their order, and the text it
  prints for them (the C condition, stringified: observable output); the
  reserved size must be a multiple of PCPU_MIN_ALLOC_SIZE;
* slot numbering: the comment says "1-31 bytes share the same slot", which
  does not fix absolute numbers (and is not exact: 1-15 and 16-31 differ);
  the numbering and the three slots after the active ones (sidelined, free,
  to_depopulate) come from the code and its comment there; the kernel-doc
  of pcpu_setup_first_chunk() says the dynamic chunk "is circulated in the
  chunk slots", pcpu_chunk_relocate()'s that "the reserved chunk is never
  put on chunk slots", and that a chunk too full for the smallest
  allocation sits on slot 0 was read for its intent;
* pcpu_chunk_struct_size is a struct's size under the build's
  configuration: the model leaves it out and nothing compares it;
* pcpu_nr_populated counts the first chunk's static + reserved + dynamic
  pages once ("include all regions of the first chunk");
* the bookkeeping the brief asks the model to mirror: which memblock calls
  are made in which order and of which sizes (fail_bootmem indexes them,
  and the top-down placement that the NUMA debug lines print depends on
  them), one pcpu_fc_free() per cpu unit even when its leftover is empty,
  the messages pcpu_fc_alloc() prints on NUMA builds, and how
  pcpu_populate_pte() walks the page table levels.  Struct sizes are those
  of the LP64 declarations in 6.1's headers; after the last printed address
  they decide nothing compared.

The percpu.h sizes differ between the revisions (6.12 raised
PERCPU_DYNAMIC_EARLY_SIZE to 20K), so they are inputs like NR_CPUS: the
scenarios take them from the boot's constants (the shim reports its
revision's), 6.1's where none are given.

The model covers the bitmap allocator from 4.14 on: what changed between
its revisions (the chunk's fields, the slots, the arch's allocation
callbacks, memblock_virt_alloc(), the banners) comes from the revision's
facts, and py_impl/bitmap_eras.py documents each rule; without facts the
rules are today's.

Grouping follows the documented guarantee: a cpu joins the first group all
of whose members are LOCAL_DISTANCE from it both ways, so no group ever
holds two cpus that are not.  Modern kernels compare each cpu with a
group's first cpu only, which can put two remote cpus into one group when
distances are not transitive; the model does not follow that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from harness.core import dumpfmt
from harness.core.arch_sizes import page_align
from harness.core.cases import AUTO, LOCAL_DISTANCE
from harness.core.result import Bootmem, Chunk, State
from harness.core.topology import group_cpus
from py_impl.alloc_info import AllocInfo, GroupInfo, fill_alloc_info
from py_impl.bitmap_eras import (
    TODAY,
    Era,
    chunk_json,
    empty_pop_pages,
    era_of,
    virt_alloc_panic,
)
from py_impl.first_chunk import chunk_slot
from py_impl.layout import AreaSizes, padded, plan_units
from py_impl.machine import (
    EINVAL,
    ENOMEM,
    KERN_DEBUG,
    KERN_INFO,
    KERN_WARNING,
    BootRecord,
    Machine,
    ModelBug,
    ModelPanic,
)
from py_impl.memblock import Memblock, run_addresses
from py_impl.result import Boot

GENERATION = "modern"

KERN_EMERG = "0"
# pr_fmt() of mm/percpu.c: KBUILD_MODNAME ": ".
PREFIX = "percpu: "

# include/linux/percpu.h
PCPU_MIN_ALLOC_SIZE = 4
PCPU_MIN_UNIT_BYTES = 32 << 10  # PFN_ALIGN()ed to the page size

# The shim's machine: SMP_CACHE_BYTES, and __pa(MAX_DMA_ADDRESS), the goal
# pcpu_fc_alloc() gives memblock.
SMP_CACHE_BYTES = 64
MAX_DMA_ADDRESS = 16 << 20
# __pa() of a failed allocation (NULL) as printed: the shim's memory starts
# at this virtual address.
_ARENA_BASE = 0x600000000000
NULL_PA = -_ARENA_BASE % (1 << 64)

# LP64 sizes of the structures whose memblock allocations are modelled.
POINTER = 8
ALLOC_INFO_HEAD = 64  # struct pcpu_alloc_info up to groups[]
GROUP_INFO = 24  # struct pcpu_group_info
CPU_MAP_ENTRY = 4  # unsigned int
LIST_HEAD = 16
CHUNK_HEAD = 120  # struct pcpu_chunk up to populated[] (6.1, no stats, no memcg)
BLOCK_MD = 32  # struct pcpu_block_md


@dataclass(frozen=True)
class Headers:
    """The include/linux/percpu.h sizes a revision sets."""

    dynamic_early_size: int
    dynamic_reserve: int
    # PCPU_MIN_UNIT_SIZE for this page size; None: PFN_ALIGN(32K).
    min_unit: int | None = None

    def min_unit_size(self, page_size: int) -> int:
        if self.min_unit is not None:
            return self.min_unit
        return page_align(PCPU_MIN_UNIT_BYTES, page_size)


LINUX_6_1 = Headers(dynamic_early_size=12 << 10, dynamic_reserve=28 << 10)
# PERCPU_DYNAMIC_SIZE_SHIFT is 10 without CONFIG_RANDOM_KMALLOC_CACHES.
LINUX_6_12 = Headers(dynamic_early_size=20 << 10, dynamic_reserve=28 << 10)


def headers_of(boot: Boot) -> Headers:
    """The revision's sizes from the boot's constants, 6.1's for any missing."""
    given = boot.constants
    return Headers(
        dynamic_early_size=given.get("PERCPU_DYNAMIC_EARLY_SIZE", LINUX_6_1.dynamic_early_size),
        dynamic_reserve=given.get("PERCPU_DYNAMIC_RESERVE", LINUX_6_1.dynamic_reserve),
        min_unit=given.get("PCPU_MIN_UNIT_SIZE"),
    )


# ------------------------------------------------------------- the record

@dataclass(frozen=True)
class FcAllocVoice:
    """Who takes the first chunk's memory node by node and says where:
    mm/percpu.c's own pcpu_fc_alloc() (under its pr_fmt, the address as
    0x%llx), or an arch's callback doing the same under its own pr_fmt and
    printing the address as 16 hex digits (x86's pcpu_alloc_bootmem())."""

    prefix: str = PREFIX
    padded_address: bool = False

    def address(self, physical: int) -> str:
        return f"{physical:016x}" if self.padded_address else f"0x{physical:x}"


MM_PERCPU_FC_ALLOC = FcAllocVoice()


@dataclass
class ModernRecord(BootRecord):
    """A boot whose memory is memblock's, node-directed on NUMA builds."""

    memblock: Memblock = field(default_factory=lambda: Memblock(0, -1))
    era: Era = TODAY
    # Calls of the arch's allocation callback (fail_fc_alloc counts them).
    callback_calls: int = 0
    # Bytes of node-directed memblock allocations per node; None until one.
    node_bytes: list[int] | None = None
    # The arch's own first chunk allocator (x86's until 5.16), node-directed
    # like mm/percpu.c's later pcpu_fc_alloc(); None: the era's default,
    # the shim's silent callbacks where the allocators take callbacks.
    arch_fc_alloc: FcAllocVoice | None = None
    # The arch's own allocator asks memblock for the cpu's node and says
    # nothing (arch_numa's until 5.17), where the callbacks ask for none.
    arch_fc_alloc_by_node: bool = False

    @property
    def case_numa(self) -> bool:
        return self.machine.case.numa

    def node_has_memory(self, node: int) -> bool:
        """node_online(node) && NODE_DATA(node)."""
        case = self.machine.case
        return 0 <= node < case.nodes() and node not in case.offline_nodes

    def node_directed(self, node: int, size: int) -> None:
        if self.node_bytes is None:
            self.node_bytes = [0] * self.machine.case.nodes()
        self.node_bytes[node] += size

    def count_fc_alloc(self, cpu: int, size: int, count: int) -> None:
        self.fc_allocs += count
        self.fc_alloc_bytes += count * size
        # Charged to the cpu's node of the topology whether NUMA is built or not.
        self.fc_alloc_bytes_by_node[self.machine.nodes.get(cpu, 0)] += count * size

    def fc_free(self, size: int, count: int = 1) -> None:
        self.fc_frees += count
        self.fc_free_bytes += size * count

    def bootmem_json(self) -> Bootmem:
        out = super().bootmem_json()
        out["bad_free_count"] = self.memblock.bad_frees
        if self.node_bytes is not None:
            out["node_bytes"] = list(self.node_bytes)
        return out


def modern_record(boot: Boot) -> ModernRecord:
    if isinstance(boot.record, ModernRecord):
        # An arch flow's fallback allocator: memblock as the first one left it.
        return boot.record
    machine = boot.record.machine
    case = machine.case
    # A kernel without NUMA has one node holding all the memory.
    memory = Memblock(case.bootmem_size, case.fail_bootmem,
                      case.memory_of_nodes() if case.numa else None)
    record = ModernRecord(machine, memblock=memory, era=era_of(boot))
    boot.record = record
    return record


def pcpu_fc_alloc_run(record: ModernRecord, cpu: int, size: int, align: int,
                      count: int) -> list[tuple[int, int]]:
    """`count` pcpu_fc_alloc() calls for `cpu`, stopping at a failure.

    On NUMA builds memory comes from the cpu's node when it is online with
    memory, from anywhere otherwise (saying so), and each call prints where
    its memory is, NULL included.
    """
    voice = record.arch_fc_alloc or (None if record.era.fc_callbacks else MM_PERCPU_FC_ALLOC)
    if voice is None:
        if record.arch_fc_alloc_by_node:
            return node_alloc_run(record, cpu, size, align, count)
        return callback_alloc_run(record, cpu, size, align, count)
    memblock = record.memblock
    numa = record.case_numa
    node = record.machine.node_of(cpu) if numa else 0
    directed = numa and record.node_has_memory(node)
    runs = memblock.alloc_run(count, size, align, MAX_DMA_ADDRESS, node if directed else None)
    got = sum(n for _, n in runs)
    record.count_fc_alloc(cpu, size, got)
    if directed and got:
        record.node_directed(node, size * got)
    if numa:
        places: list[int] = run_addresses(runs, size)
        if got < count:
            places.append(NULL_PA)
        for place in places:
            at = voice.address(place)
            if directed:
                record.printk(KERN_DEBUG, f"{voice.prefix}per cpu data for cpu{cpu} {size} "
                                          f"bytes on node{node} at {at}")
            else:
                record.printk(KERN_INFO, f"{voice.prefix}cpu {cpu} has no node {node} or "
                                         "node-local memory")
                record.printk(KERN_DEBUG, f"{voice.prefix}per cpu data for cpu{cpu} {size} "
                                          f"bytes at {at}")
    return runs


def callback_alloc_run(record: ModernRecord, cpu: int, size: int, align: int,
                       count: int) -> list[tuple[int, int]]:
    """`count` calls of the allocation callback the generic scenarios hand
    the allocators of its era: memblock above __pa(MAX_DMA_ADDRESS) for no
    node, silently; the case's fail_fc_alloc-th call fails before memblock
    is asked."""
    fail_at = record.machine.case.fail_fc_alloc - record.callback_calls
    wanted = fail_at if 0 <= fail_at < count else count
    runs = record.memblock.alloc_run(wanted, size, align, MAX_DMA_ADDRESS)
    got = sum(n for _, n in runs)
    record.callback_calls += got + (got < count)
    record.count_fc_alloc(cpu, size, got)
    return runs


def node_alloc_run(record: ModernRecord, cpu: int, size: int, align: int,
                   count: int) -> list[tuple[int, int]]:
    """`count` calls of an arch's allocator that asks memblock for the
    cpu's node above __pa(MAX_DMA_ADDRESS), whether or not the node has
    memory (memblock_alloc_try_nid() falls back to any node itself)."""
    node = record.machine.node_of(cpu) if record.case_numa else None
    runs = record.memblock.alloc_run(count, size, align, MAX_DMA_ADDRESS, node)
    record.count_fc_alloc(cpu, size, sum(n for _, n in runs))
    return runs


def pcpu_fc_alloc(record: ModernRecord, cpu: int, size: int, align: int) -> int | None:
    runs = pcpu_fc_alloc_run(record, cpu, size, align, 1)
    return runs[0][0] if runs else None


def pcpu_fc_free(record: ModernRecord, place: int, size: int) -> None:
    record.fc_free(size)
    record.memblock.free(place, size)


def must_alloc(record: ModernRecord, size: int, align: int, what: str) -> int:
    """An allocation the code cannot do without: panic when it fails."""
    if record.era.virt_alloc:
        place = record.memblock.alloc(size, align, counted=False)
        if place is None:
            raise ModelPanic(virt_alloc_panic(size, align))
        return place
    place = record.memblock.alloc(size, align)
    if place is None:
        raise ModelPanic(f"{what}: Failed to allocate {size} bytes")
    return place


# ---------------------------------------------------------- alloc_info

@dataclass
class Built:
    """An alloc_info and the memblock block that holds it."""

    info: AllocInfo
    place: int
    size: int


def alloc_alloc_info(record: ModernRecord, nr_groups: int, nr_units: int) -> Built | None:
    """pcpu_alloc_alloc_info(): room for the groups and their cpu maps in
    whole pages, group 0's map all NR_CPUS; None when memblock fails."""
    head = -(-(ALLOC_INFO_HEAD + GROUP_INFO * nr_groups) // CPU_MAP_ENTRY) * CPU_MAP_ENTRY
    size = page_align(head + nr_units * CPU_MAP_ENTRY, record.machine.page_size)
    place = record.memblock.alloc(size, record.machine.page_size)
    if place is None:
        return None
    groups = [GroupInfo() for _ in range(nr_groups)]
    if groups:
        groups[0].cpu_map = [record.machine.nr_cpus] * nr_units
    return Built(AllocInfo(groups=groups), place, size)


def free_alloc_info(record: ModernRecord, built: Built) -> None:
    record.memblock.free(built.place, built.size)


def both_ways_local(machine: Machine) -> Callable[[int, int], bool]:
    """The documented closeness: LOCAL_DISTANCE from one node to the other
    and back (the distance callback compares the cpus' nodes)."""
    def local(a: int, b: int) -> bool:
        return (machine.node_distance(a, b) == LOCAL_DISTANCE
                and machine.node_distance(b, a) == LOCAL_DISTANCE)
    return local


def build_alloc_info(record: ModernRecord, headers: Headers, reserved: int, dyn: int,
                     atom_size: int, use_distance: bool) -> Built | None:
    """pcpu_build_alloc_info(); None for the documented ENOMEM failure."""
    machine = record.machine
    page = machine.page_size
    static = machine.case.static_size
    used = page_align(static + reserved + max(dyn, headers.dynamic_early_size), page)
    needed = max(used, headers.min_unit_size(page))
    if use_distance:
        groups = group_cpus(machine.possible, machine.node_of, both_ways_local(machine))
    else:
        groups = [list(machine.possible)]
    # "fewest allocations, then the largest units" among layouts using at
    # least 75% of what they allocate.
    plan = plan_units([len(g) for g in groups], needed, atom_size, page)
    slots = [padded(g, plan.units_per_alloc) for g in groups]
    built = alloc_alloc_info(record, len(groups), sum(map(len, slots)))
    if built is None:
        return None
    fill_alloc_info(built.info, AreaSizes(static, reserved, used - static - reserved), plan,
                    atom_size, slots, machine.nr_cpus)
    return built


def cpu_mask_hex(cpus: Sequence[int], nr_bits: int) -> str:
    """printk's %*pb: hex in 32-bit chunks, most significant first, commas
    between, the first chunk only as wide as its bits need."""
    mask = sum(1 << cpu for cpu in cpus)
    top_bits = nr_bits % 32 or 32
    chunks = []
    shift = -(-nr_bits // 32) * 32 - 32
    bits = top_bits
    while shift >= 0:
        value = (mask >> shift) & ((1 << bits) - 1)
        chunks.append(f"{value:0{-(-bits // 4)}x}")
        shift -= 32
        bits = 32
    return ",".join(chunks)


def dump_alloc_info(record: BootRecord, level: str, info: AllocInfo) -> None:
    nr_cpus = record.machine.nr_cpus
    table = dumpfmt.alloc_table(
        info.static_size, info.reserved_size, info.dyn_size, info.unit_size, info.atom_size,
        info.alloc_size,
        [[None if cpu == nr_cpus else cpu for cpu in g.cpu_map] for g in info.groups],
    )
    for line in dumpfmt.render(table).split("\n"):
        record.printk(level, line)


# ---------------------------------------------------------------- setup

@dataclass(frozen=True)
class ChunkState:
    """A chunk pcpu_alloc_first_chunk() makes to serve one region."""

    free_bytes: int
    base_region: str
    start_offset: int
    end_offset: int
    nr_pages: int
    nr_empty_pop_pages: int

    def to_json(self, era: Era = TODAY) -> Chunk:
        return chunk_json(era, self._fields(), self.start_offset)

    def _fields(self) -> Chunk:
        return {
            "free_bytes": self.free_bytes,
            "base_addr": self.base_region,
            # The chunk's maps are memblock memory; its data pointer is unused.
            "alloc_map": "phys",
            "bound_map": "phys",
            "md_blocks": "phys",
            "data": None,
            "immutable": True,
            "isolated": False,
            "start_offset": self.start_offset,
            "end_offset": self.end_offset,
            "nr_pages": self.nr_pages,
            "nr_populated": self.nr_pages,
            "nr_empty_pop_pages": self.nr_empty_pop_pages,
            "populated_bits": self.nr_pages,
        }


def alloc_first_chunk(record: ModernRecord, start: int, map_size: int,
                      base_region: str) -> ChunkState:
    """pcpu_alloc_first_chunk() for the region at `start` (an offset from the
    page aligned chunk base) of `map_size` bytes."""
    page = record.machine.page_size
    start_offset = start % page
    region = page_align(start_offset + map_size, page)
    nr_pages = region // page
    # The bitmap's hidden head and tail are allocated: the pages holding
    # them are not empty.
    hidden = {0} if start_offset else set()
    end_offset = region - start_offset - map_size
    if end_offset:
        hidden.add(nr_pages - 1)
    bits = nr_pages * page // PCPU_MIN_ALLOC_SIZE
    for size in (CHUNK_HEAD + POINTER * -(-nr_pages // 64),  # the chunk and its populated map
                 POINTER * -(-bits // 64),  # alloc_map
                 POINTER * -(-(bits + 1) // 64),  # bound_map
                 BLOCK_MD * nr_pages):  # one md block per page
        must_alloc(record, size, SMP_CACHE_BYTES, "pcpu_alloc_first_chunk")
    return ChunkState(map_size, base_region, start_offset, end_offset, nr_pages,
                      nr_pages - len(hidden))


def size_to_slot(size: int) -> int:
    """The slot of a chunk whose largest free area is `size` bytes."""
    return max(size.bit_length() - 3, 1)


def setup_bug(record: ModernRecord, info: AllocInfo, condition: str) -> ModelBug:
    """PCPU_SETUP_BUG_ON(): say which check failed, show the input, BUG."""
    machine = record.machine
    record.printk(KERN_EMERG, f"{PREFIX}failed to initialize, {condition}")
    record.printk(KERN_EMERG, f"{PREFIX}cpu_possible_mask="
                              f"{cpu_mask_hex(machine.possible, machine.nr_cpu_ids)}")
    dump_alloc_info(record, KERN_EMERG, info)
    return ModelBug(condition)


def setup_first_chunk(boot: Boot, headers: Headers, info: AllocInfo, base_region: str,
                      base: int) -> None:
    """pcpu_setup_first_chunk(ai, base_addr): check the input, BUG on what
    it cannot take, and leave the state the comments describe."""
    record = boot.record
    assert isinstance(record, ModernRecord)
    machine = record.machine
    boot.setup_args = {"base_addr": base_region, "alloc_info": info.to_json()}
    # Taken as setup begins: what the allocator has kept of its groups.
    held = held_by_groups(record, info, base) if base_region == "phys" else None
    check_setup_args(record, headers, info, base)
    for size, what in ((info.nr_groups * POINTER, "group offsets"),
                       (info.nr_groups * POINTER, "group sizes"),
                       (machine.nr_cpu_ids * 4, "unit map"),
                       (machine.nr_cpu_ids * POINTER, "unit offsets")):
        must_alloc(record, size, SMP_CACHE_BYTES, f"pcpu_setup_first_chunk: {what}")
    units = map_units(record, info)
    dump_alloc_info(record, KERN_DEBUG, info)
    boot.modern_state = first_chunk_state(record, info, units, base_region)
    boot.static_copies = {"bad_cpus": [], "checked": machine.nr_possible, "chunk_held": held}


def held_by_groups(record: ModernRecord, info: AllocInfo, base: int) -> int:
    """Bytes of the groups' memory the allocator still holds."""
    return sum(record.memblock.overlap(base + g.base_offset,
                                       base + g.base_offset + g.nr_units * info.unit_size)
               for g in info.groups)


def check_setup_args(record: ModernRecord, headers: Headers, info: AllocInfo,
                     base: int) -> None:
    """The checks in the order the kernel makes them, each named as it prints it."""
    page = record.machine.page_size
    size_sum = info.static_size + info.reserved_size + info.dyn_size
    checks = [
        (info.nr_groups <= 0, "ai->nr_groups <= 0"),
        (info.static_size == 0, "!ai->static_size"),
        (base % page != 0, "offset_in_page(base_addr)"),
        (info.unit_size < size_sum, "ai->unit_size < size_sum"),
        (info.unit_size % page != 0, "offset_in_page(ai->unit_size)"),
        (info.unit_size < headers.min_unit_size(page), "ai->unit_size < PCPU_MIN_UNIT_SIZE"),
        (info.dyn_size < headers.dynamic_early_size,
         "ai->dyn_size < PERCPU_DYNAMIC_EARLY_SIZE"),
        # (6.1 then BUGs on "!ai->dyn_size", which the check above implies.)
        (info.reserved_size % PCPU_MIN_ALLOC_SIZE != 0,
         "!IS_ALIGNED(ai->reserved_size, PCPU_MIN_ALLOC_SIZE)"),
    ]
    for failed, condition in checks:
        if failed:
            raise setup_bug(record, info, condition)


@dataclass(frozen=True)
class UnitMap:
    """Where each possible cpu's unit is: its number and its offset."""

    unit_of: dict[int, int]
    offset_of: dict[int, int]
    nr_units: int


def map_units(record: ModernRecord, info: AllocInfo) -> UnitMap:
    """Units numbered through the groups in order; a cpu the map may not
    hold, or holds twice, or leaves out, is a BUG."""
    machine = record.machine
    possible = set(machine.possible)
    unit_of: dict[int, int] = {}
    offset_of: dict[int, int] = {}
    unit = 0
    for group in info.groups:
        for i, cpu in enumerate(group.cpu_map[:group.nr_units]):
            if cpu == machine.nr_cpus:
                continue
            if cpu >= machine.nr_cpu_ids:
                raise setup_bug(record, info, "cpu >= nr_cpu_ids")
            if cpu not in possible:
                raise setup_bug(record, info, "!cpu_possible(cpu)")
            if cpu in unit_of:
                raise setup_bug(record, info, "unit_map[cpu] != UINT_MAX")
            unit_of[cpu] = unit + i
            offset_of[cpu] = group.base_offset + i * info.unit_size
        unit += group.nr_units
    if any(cpu not in unit_of for cpu in machine.possible):
        raise setup_bug(record, info, "unit_map[cpu] == UINT_MAX")
    return UnitMap(unit_of, offset_of, unit)


def first_chunk_state(record: ModernRecord, info: AllocInfo, units: UnitMap,
                      base_region: str) -> State:
    """The chunks made and the variables set once the input passed."""
    page = record.machine.page_size
    nr_cpu_ids = record.machine.nr_cpu_ids
    era = record.era
    unit_pages = info.unit_size // page
    nr_slots = size_to_slot(unit_pages * page) + 1 + era.slots_after_active()
    must_alloc(record, nr_slots * LIST_HEAD, SMP_CACHE_BYTES, "pcpu_setup_first_chunk")
    static = -(-info.static_size // PCPU_MIN_ALLOC_SIZE) * PCPU_MIN_ALLOC_SIZE
    dyn = info.dyn_size - (static - info.static_size)
    reserved_chunk = None
    if info.reserved_size:
        reserved_chunk = alloc_first_chunk(record, static, info.reserved_size, base_region)
    first_chunk = alloc_first_chunk(record, static + info.reserved_size, dyn, base_region)
    by_offset = sorted(units.offset_of, key=units.offset_of.__getitem__)
    state: State = {
        "unit_map": [units.unit_of.get(cpu) for cpu in range(nr_cpu_ids)],
        "nr_units": units.nr_units,
        "unit_pages": unit_pages,
        "unit_size": unit_pages * page,
        "nr_slots": nr_slots,
        "base_addr": base_region,
        "low_unit_cpu": by_offset[0],
        "high_unit_cpu": by_offset[-1],
        "atom_size": info.atom_size,
        "nr_groups": info.nr_groups,
        "nr_empty_pop_pages": empty_pop_pages(era, first_chunk.nr_empty_pop_pages),
        "nr_populated": (info.static_size + info.reserved_size + info.dyn_size) // page,
        "group_offsets": [g.base_offset for g in info.groups],
        "group_sizes": [g.nr_units * info.unit_size for g in info.groups],
        "unit_offsets": [units.offset_of.get(cpu) for cpu in range(nr_cpu_ids)],
        "first_chunk": first_chunk.to_json(era),
        "reserved_chunk": reserved_chunk.to_json(era) if reserved_chunk else None,
    }
    if not era.counts_populated:
        del state["nr_populated"]
    state.update(slot_state(era, unit_pages * page, first_chunk))
    return state


def slot_state(era: Era, unit_size: int, first_chunk: ChunkState) -> State:
    """The slots after the active ones, and the slot list each first-setup
    chunk is on: the first chunk "is circulated in the chunk slots" by its
    largest free area, here its whole region (hints count whole
    PCPU_MIN_ALLOC_SIZE bits); "the reserved chunk is never put on chunk
    slots"."""
    active = size_to_slot(unit_size) + 1
    state: State = {}
    for name, slot in era.slot_variables(active).items():
        state[name] = slot  # type: ignore[literal-required]  # a State key by name
    largest_free = first_chunk.free_bytes // PCPU_MIN_ALLOC_SIZE * PCPU_MIN_ALLOC_SIZE
    state["first_chunk_slot"] = chunk_slot(largest_free, unit_size, era.free_slot(active))
    state["reserved_chunk_slot"] = None
    return state


# ---------------------------------------------------------------- embed

def embed(boot: Boot, headers: Headers) -> int:
    """pcpu_embed_first_chunk(reserved, dyn, atom, distance, cpu_to_node)."""
    record = modern_record(boot)
    machine = record.machine
    case = machine.case
    dyn = headers.dynamic_reserve if case.dyn_size == AUTO else case.dyn_size
    built = build_alloc_info(record, headers, case.reserved_size, dyn, case.atom_size, True)
    if built is None:
        return -ENOMEM
    info = built.info
    memblock = record.memblock
    size_sum = info.static_size + info.reserved_size + info.dyn_size
    areas_size = page_align(info.nr_groups * POINTER, machine.page_size)
    areas = memblock.alloc(areas_size, SMP_CACHE_BYTES)
    # A BUG or panic in between ends the boot with nothing given back.
    rc = -ENOMEM if areas is None else embed_groups(boot, record, headers, info, size_sum)
    free_alloc_info(record, built)
    if areas is not None:
        memblock.free(areas, areas_size)
    return rc


def embed_groups(boot: Boot, record: ModernRecord, headers: Headers, info: AllocInfo,
                 size_sum: int) -> int:
    """One allocation per group, the spread checked, the leftovers given back."""
    machine = record.machine
    nr_cpus = machine.nr_cpus
    places: list[int] = []
    for group in info.groups:
        cpu = next((c for c in group.cpu_map if c != nr_cpus), nr_cpus)
        if cpu == nr_cpus:
            raise ModelBug("a group without a cpu")
        place = pcpu_fc_alloc(record, cpu, group.nr_units * info.unit_size, info.atom_size)
        if place is None:
            return give_back(record, info, places, -ENOMEM)
        places.append(place)
    base = min(places)
    highest = max(range(len(places)), key=places.__getitem__)
    spread = places[highest] - base + info.unit_size * info.groups[highest].nr_units
    vmalloc_total = machine.case.vmalloc_size
    if spread > vmalloc_total * 3 // 4:
        record.printk(KERN_WARNING, f"{PREFIX}max_distance=0x{spread:x} too large for vmalloc "
                                    f"space 0x{vmalloc_total:x}")
        # The page allocator is built too: fail, and let the arch fall back.
        return give_back(record, info, places, -EINVAL)
    for group, place in zip(info.groups, places, strict=True):
        for i, cpu in enumerate(group.cpu_map):
            unit = place + i * info.unit_size
            if cpu == nr_cpus:
                pcpu_fc_free(record, unit, info.unit_size)
            else:
                pcpu_fc_free(record, unit + size_sum, info.unit_size - size_sum)
    for group, place in zip(info.groups, places, strict=True):
        group.base_offset = place - base
    page = machine.page_size
    record.printk(KERN_INFO, f"{PREFIX}Embedded {size_sum // page} pages/cpu"
                             f"{record.era.banner_at('bootmem')} s{info.static_size} "
                             f"r{info.reserved_size} d{info.dyn_size} u{info.unit_size}")
    setup_first_chunk(boot, headers, info, "phys", base)
    return 0


def give_back(record: ModernRecord, info: AllocInfo, places: Sequence[int], rc: int) -> int:
    for group, place in zip(info.groups, places, strict=False):
        pcpu_fc_free(record, place, group.nr_units * info.unit_size)
    return rc


# ----------------------------------------------------------------- page

@dataclass(frozen=True)
class TableEvent:
    """A page table pcpu_populate_pte() allocates: where, and which level."""

    offset: int
    level: int  # 0: p4d, 1: pud, 2: pmd, 3: pte


def page_table_events(vm_size: int, page_size: int) -> list[TableEvent]:
    """The tables populating every page of [0, vm_size) of the vmalloc area
    allocates, in order: a pte table per span its ptes cover, a pmd table
    per span its entries cover, and so on up to one p4d table.  The area's
    start is aligned to every span below the top level."""
    entries = page_size // 8
    events = []
    for level in range(4):
        span = page_size * entries ** (4 - level)
        for k in range(1 if level == 0 else -(-vm_size // span)):
            events.append(TableEvent(k * span, level))
    events.sort(key=lambda e: (e.offset, e.level))
    return events


def page(boot: Boot, headers: Headers) -> int:
    """pcpu_page_first_chunk(reserved, cpu_to_node)."""
    record = modern_record(boot)
    machine = record.machine
    page_size = machine.page_size
    built = build_alloc_info(record, headers, machine.case.reserved_size, 0, page_size, False)
    if built is None:
        return -ENOMEM
    info = built.info
    if info.nr_groups != 1:
        raise ModelBug("ai->nr_groups != 1")
    upa = info.alloc_size // info.unit_size
    if info.groups[0].nr_units != -(-machine.nr_possible // upa) * upa:
        # Unreachable with one group of the possible cpus; the shim's
        # WARN_ON names file and line, which a model cannot.
        record.printk(KERN_WARNING, "WARNING: ai->groups[0].nr_units != nr_g0_units")
        free_alloc_info(record, built)
        return -EINVAL
    rc = page_units(boot, record, headers, info)
    free_alloc_info(record, built)
    return rc


def page_units(boot: Boot, record: ModernRecord, headers: Headers, info: AllocInfo) -> int:
    """Every unit's pages, the vm area, the page tables, the mappings."""
    machine = record.machine
    memblock = record.memblock
    page_size = machine.page_size
    unit_pages = info.unit_size // page_size
    nr_units = machine.nr_possible
    pages_size = page_align(unit_pages * nr_units * POINTER, page_size)
    pages = must_alloc(record, pages_size, SMP_CACHE_BYTES, "pcpu_page_first_chunk")
    psize = f"{page_size >> 10}K"
    got: list[tuple[int, int]] = []
    for cpu in info.groups[0].cpu_map[:nr_units]:
        runs = pcpu_fc_alloc_run(record, cpu, page_size, page_size, unit_pages)
        got += runs
        if sum(n for _, n in runs) < unit_pages:
            record.printk(KERN_WARNING, f"{PREFIX}failed to allocate {psize} page for cpu{cpu}")
            for top, n in reversed(got):
                record.fc_free(page_size, n)
                memblock.free(top - (n - 1) * page_size, n * page_size)
            memblock.free(pages, pages_size)
            return -ENOMEM

    populate_and_map(record, info, nr_units)
    record.printk(KERN_INFO, f"{PREFIX}{unit_pages} {psize} pages/cpu"
                             f"{record.era.banner_at('vmalloc')} s{info.static_size} "
                             f"r{info.reserved_size} d{info.dyn_size}")
    setup_first_chunk(boot, headers, info, "vmalloc", 0)
    memblock.free(pages, pages_size)
    return 0


def populate_and_map(record: ModernRecord, info: AllocInfo, nr_units: int) -> None:
    """The vm area registered, every page's page tables populated, every
    unit mapped; a table that cannot be had panics."""
    page_size = record.machine.page_size
    vm_size = nr_units * info.unit_size
    record.register_vm(vm_size, page_size)
    if record.era.pte_callback_per_page:
        # The callback the alloc_info generation's glue hands: one call
        # per page, counted per call, tables of its own.
        record.ptes_populated += vm_size // page_size
        record.maps += nr_units
        return
    events = page_table_events(vm_size, page_size)
    tables = sum(n for _, n in record.memblock.alloc_run(len(events), page_size, page_size))
    record.ptes_populated += sum(e.level == 3 for e in events[:tables])
    if tables < len(events):
        # Units are populated and mapped one by one: the one whose table
        # failed is not mapped.
        record.maps += events[tables].offset // info.unit_size
        raise ModelPanic("pcpu_populate_pte: Failed to allocate memory")
    record.maps += nr_units


Scenario = Callable[[Boot], int]


SCENARIOS: Mapping[str, Scenario] = {
    "embed": lambda boot: embed(boot, headers_of(boot)),
    "page": lambda boot: page(boot, headers_of(boot)),
}

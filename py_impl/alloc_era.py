"""What changed inside the alloc_info generation (2.6.32 to 4.9), for its model.

The generation's API stayed one struct pcpu_alloc_info from August 2009 to
4.9, but what the revisions document changed under it.  Each rule below is
one fact of the revision (harness/core/generations/alloc_info.py reads
them from its source and the shim reports them with the constants); with
no facts at all the model is the generation's first revision,
fd1e8a1fe2b5.  From the kernel-doc, variable comments and commit messages:

* "percpu: add pcpu_unit_offsets[]": "units can be mapped to arbitrary
  offsets from the chunk base address" (a unit's offset is its group's
  base offset plus its place in the group times the unit size), and
  pcpu_setup_first_chunk() and the first chunk allocators return "0 on
  success, -errno on failure" instead of the unit size;
* "percpu: use group information to allocate vmap areas sparsely":
  pcpu_atom_size, pcpu_nr_groups and the group offsets and sizes compiled
  from ai->groups[] (a group's size is its units times the unit size);
  pcpu_chunk_size goes;
* "percpu: add chunk->base_addr": a chunk knows its base address; its vm
  areas (vms, later data) are the vmalloc chunks' own, none for the first;
* "percpu: update embedding first chunk allocator to handle sparse units":
  embed allocates "space for the whole group" per group with @alloc_fn near
  the group's first cpu, "Allocations are always whole multiples of
  @atom_size aligned to @atom_size", and "the leftover is returned using
  @free_fn": every empty unit whole, every used unit's tail; the groups then
  lie where the allocator put them, "base address is now known, determine
  group base offsets": each group's distance from the lowest.  The generic
  scenarios' callbacks ask for no node: the shim's bootmem places the
  groups back to back upwards, memblock (the revision's own
  pcpu_dfl_fc_alloc(), 3.13 on) each below the one before.  The x86 flow's
  pcpu_alloc_bootmem() asks for the group's node ("NUMA friendly"), and
  its addresses are modelled (py_impl/arch_flows.py SharedMemory): in the
  node, first fit from the goal (bootmem's __alloc_bootmem_node()), or
  top-down (an x86 whose Kconfig turns on CONFIG_NO_BOOTMEM, 2.6.35 -
  4.19: mm/nobootmem.c's bootmem interface over memblock), each falling
  back to any node as the allocator's kernel-doc says;
* "percpu: make embedding first chunk allocator check vmalloc space size":
  a spread of the groups beyond 75% of the vmalloc space is warned about
  and fails the call with -EINVAL (the shim configures the page fallback;
  the spread is the highest base offset plus a unit, and a failed check
  gives back nothing more);
* the unused parts are given back group by group as each is allocated,
  until (3.x) they "Copy data and free unused parts.  This should happen
  after all allocations are complete; otherwise, we may end up with
  overlapping groups"; later (4.9) the spread is the highest group's end,
  checked before anything is given back, and a failed check gives every
  group back whole;
* "percpu: fix chunk range calculation": pcpu_low/high_unit_cpu, "cpus with
  the lowest and highest unit addresses", replace pcpu_first/last_unit_cpu
  ("... unit numbers");
* "percpu: make @dyn_size always mean min dyn_size in first chunk init
  functions": @dyn_size is the "minimum free size for dynamic allocation"
  (the glue passes PERCPU_DYNAMIC_RESERVE for "auto"), and the page
  allocator asks for none beyond the minimum; where PERCPU_DYNAMIC_EARLY_SIZE
  exists the dynamic area is raised to it ("ensure dyn_size is enough for
  early alloc") before page rounding; PCPU_MIN_UNIT_SIZE is the revision's;
* "percpu: store offsets instead of lengths in ->map[]": each map entry is
  the offset an area starts at, its lowest bit set when it is in use, and
  map_used counts the areas (the sentry after them is not reported);
  first_free ("no free below this") is 0 and nr_populated counts every page
  of the fully populated first chunk; pcpu_nr_empty_pop_pages counts the
  dynamic chunk's wholly free pages ("The reserved chunk doesn't contribute
  to the count");
* "percpu: make pcpu_setup_first_chunk() failures more verbose": a check
  that fails says which ("failed to initialize, " and the condition), prints
  the possible cpu mask (over NR_CPUS bits where cpumask_scnprintf() prints
  it, nr_cpu_ids bits with %*pb) and dumps the alloc_info at KERN_EMERG
  before the BUG; of its checks only the empty static area is reachable
  from the generic scenarios.  Until 4.9 the first of those lines has no
  newline, so the printk stream (which the shim records as it comes) runs
  it into the next: the model prints the same stream;
* messages: pr_fmt's "percpu: " prefix where the file defines it, and the
  banners' "@address" only where the revision prints it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.core.cases import AUTO
from harness.core.result import Chunk, State
from py_impl.layout import MIN_UNIT_SIZE

# The fact of an x86 whose Kconfig turns on CONFIG_NO_BOOTMEM (2.6.35 -
# 4.19): its setup_percpu.c's bootmem calls are mm/nobootmem.c's, which
# take from memblock (harness/extract/stubs.py reads it).
X86_NO_BOOTMEM = "x86_no_bootmem"


@dataclass(frozen=True)
class Era:
    """One revision's form of the generation, from its facts."""

    returns_unit_size: bool = True
    unit_offsets: bool = False
    chunk_size_variable: bool = True
    atom_size_variable: bool = False
    group_variables: bool = False
    unit_cpu_by_address: bool = False
    embed_per_group: bool = False
    top_down: bool = False
    embed_checks_vmalloc: bool = False
    embed_frees_after_allocating: bool = False
    embed_spread_of_highest_group: bool = False
    dyn_size_is_minimum: bool = False
    early_dyn_size: int = 0
    dynamic_reserve: int = 20 << 10
    min_unit_size: int = MIN_UNIT_SIZE
    map_holds_offsets: bool = False
    nr_empty_pop_pages: bool = False
    chunk_fields: tuple[str, ...] = ()
    prefix: str = "PERCPU: "
    banner_shows_address: bool = True
    verbose_failures: bool = False
    failure_line_ends: bool = True
    mask_over_nr_cpus: bool = True

    @classmethod
    def of(cls, constants: Mapping[str, int]) -> Era:
        if "setup_returns_unit_size" not in constants:
            return cls()

        def fact(name: str) -> bool:
            return bool(constants.get(name, 0))

        return cls(
            returns_unit_size=fact("setup_returns_unit_size"),
            unit_offsets=fact("unit_offsets_variable"),
            chunk_size_variable=fact("chunk_size_variable"),
            atom_size_variable=fact("atom_size_variable"),
            group_variables=fact("group_variables"),
            unit_cpu_by_address=fact("unit_cpu_by_address"),
            embed_per_group=fact("embed_allocates_per_group"),
            # the first chunk's memory comes from memblock: the generic
            # callback's, or an x86 flow's on an x86 without bootmem
            top_down=fact("boot_allocator_top_down") or fact(X86_NO_BOOTMEM),
            embed_checks_vmalloc=fact("embed_checks_vmalloc_space"),
            embed_frees_after_allocating=fact("embed_frees_after_allocating"),
            embed_spread_of_highest_group=fact("embed_spread_of_highest_group"),
            dyn_size_is_minimum=fact("dyn_size_is_minimum"),
            early_dyn_size=constants.get("PERCPU_DYNAMIC_EARLY_SIZE", 0),
            dynamic_reserve=constants.get("PERCPU_DYNAMIC_RESERVE", 20 << 10),
            min_unit_size=constants.get("PCPU_MIN_UNIT_SIZE", MIN_UNIT_SIZE),
            map_holds_offsets=fact("chunk_map_holds_offsets"),
            nr_empty_pop_pages=fact("nr_empty_pop_pages_variable"),
            chunk_fields=tuple(name for name in ("base_addr", "vms", "data", "first_free",
                                                 "nr_populated") if fact(f"chunk_{name}")),
            prefix="percpu: " if fact("messages_pr_fmt") else "PERCPU: ",
            banner_shows_address=fact("banner_shows_address"),
            verbose_failures=fact("setup_failures_verbose"),
            failure_line_ends=fact("setup_failure_line_ends"),
            mask_over_nr_cpus=fact("possible_mask_over_nr_cpus"),
        )

    def dyn_request(self, dyn_size: int, page: bool) -> int:
        """The dynamic size an allocator asks pcpu_build_alloc_info() for."""
        if not self.dyn_size_is_minimum:
            return -1 if page else dyn_size
        if page:
            return 0
        return self.dynamic_reserve if dyn_size == AUTO else dyn_size

    def early_minimum(self, dyn_request: int) -> int:
        """The request raised to the early minimum, where the revision has one."""
        if self.early_dyn_size and dyn_request >= 0:
            return max(dyn_request, self.early_dyn_size)
        return dyn_request

    def address(self, where: str) -> str:
        """The banner's address part: ' @<bootmem>', or nothing."""
        return f" @<{where}>" if self.banner_shows_address else ""


@dataclass(frozen=True)
class Layout:
    """Where the units of the first chunk lie, from the groups."""

    unit_size: int
    atom_size: int
    group_offsets: tuple[int, ...]
    group_cpus: tuple[tuple[int | None, ...], ...]  # None: an empty unit

    def offset_of(self) -> dict[int, int]:
        """cpu -> its unit's offset from the chunk base."""
        offsets: dict[int, int] = {}
        for base, cpus in zip(self.group_offsets, self.group_cpus, strict=True):
            for i, cpu in enumerate(cpus):
                if cpu is not None:
                    offsets[cpu] = base + i * self.unit_size
        return offsets


def placed_offsets(group_sizes: Sequence[int], top_down: bool) -> list[int]:
    """Each group's offset from the lowest, for groups allocated back to
    back in order, upwards or (top_down) each below the one before."""
    offsets: list[int] = []
    for group in range(len(group_sizes)):
        below = group_sizes[group + 1:] if top_down else group_sizes[:group]
        offsets.append(sum(below))
    return offsets


# The boot allocator the shim's bootmem stands for: percpu's own metadata
# goes "at or above the goal", __pa(MAX_DMA_ADDRESS); the arch callback asks
# for the groups from the bottom.  LP64 sizes of the alloc_info's parts.
DMA_GOAL = 16 << 20
ALLOC_INFO_HEAD = 64  # struct pcpu_alloc_info up to groups[]
GROUP_INFO = 24  # struct pcpu_group_info
CPU_MAP_ENTRY = 4  # unsigned int
POINTER = 8


def bootmem_offsets(group_sizes: Sequence[int], nr_units: int, align: int,
                    page_size: int, goal: int = 0) -> list[int]:
    """Each group's offset from the lowest where bootmem places them: the
    lowest free range at or above `goal` that holds it (bootmem's first
    fit; memory above the goal never runs out here), with what percpu
    allocated before the groups held at the DMA goal - the alloc_info
    ("alloc_bootmem_nopanic(PFN_ALIGN(ai_size))") and embed's array of
    group areas.  The shim's generic callback searches from 0, an arch's
    pcpu_alloc_bootmem() from its goal, __pa(MAX_DMA_ADDRESS)."""
    def pages(size: int) -> int:
        return -(-size // page_size) * page_size

    info = ALLOC_INFO_HEAD + GROUP_INFO * len(group_sizes) + CPU_MAP_ENTRY * nr_units
    held = [(DMA_GOAL, DMA_GOAL + pages(info) + pages(POINTER * len(group_sizes)))]
    places: list[int] = []
    for size in group_sizes:
        start = -(-goal // align) * align
        for held_start, held_end in sorted(held):
            if held_end <= start:
                continue
            if start + size <= held_start:
                break
            start = max(start, -(-held_end // align) * align)
        held.append((start, start + size))
        places.append(start)
    base = min(places)
    return [place - base for place in places]


def era_state(state: State, era: Era, layout: Layout, nr_cpu_ids: int,
              used: int, dyn_start: int) -> State:
    """The 2009 end state (first_chunk.setup_state()) in the revision's terms."""
    out: State = dict(state)  # type: ignore[assignment]
    if era.unit_cpu_by_address:
        offsets = layout.offset_of()
        out.pop("first_unit_cpu", None)
        out.pop("last_unit_cpu", None)
        out["low_unit_cpu"] = min(offsets, key=lambda cpu: (offsets[cpu], cpu))
        out["high_unit_cpu"] = max(offsets, key=lambda cpu: (offsets[cpu], -cpu))
    if not era.chunk_size_variable:
        out.pop("chunk_size", None)
    if era.atom_size_variable:
        out["atom_size"] = layout.atom_size
    if era.group_variables:
        out["nr_groups"] = len(layout.group_offsets)
        out["group_offsets"] = list(layout.group_offsets)
        out["group_sizes"] = [len(cpus) * layout.unit_size for cpus in layout.group_cpus]
    if era.unit_offsets:
        offsets = layout.offset_of()
        out["unit_offsets"] = [offsets.get(cpu) for cpu in range(nr_cpu_ids)]
    if era.nr_empty_pop_pages:
        out["nr_empty_pop_pages"] = _empty_pages(dyn_start, used, state)
    base_addr = str(state.get("base_addr"))
    first, reserved = out.get("first_chunk"), out.get("reserved_chunk")
    if first is not None:
        out["first_chunk"] = era_chunk(first, era, base_addr)
    if reserved is not None:
        out["reserved_chunk"] = era_chunk(reserved, era, base_addr)
    return out


def _empty_pages(dyn_start: int, used: int, state: State) -> int:
    """Pages of the dynamic chunk's free area that hold nothing."""
    if dyn_start >= used:
        return 0
    page_size = int(state["unit_size"]) // int(state["unit_pages"])
    first = -(-dyn_start // page_size)
    return max(used // page_size - first, 0)


def era_chunk(chunk: Chunk, era: Era, base_addr: str) -> Chunk:
    out: Chunk = dict(chunk)  # type: ignore[assignment]
    if era.map_holds_offsets:
        out["map"] = offsets_map(chunk["map"])
    extra: dict[str, object] = {
        "base_addr": base_addr, "vms": None, "data": None, "first_free": 0,
        "nr_populated": chunk["populated_bits"],
    }
    for name in era.chunk_fields:
        out[name] = extra[name]  # type: ignore[literal-required]
    return out


def offsets_map(areas: Sequence[int]) -> list[int]:
    """Lengths (negative: in use) as start offsets with the in-use bit."""
    starts: list[int] = []
    offset = 0
    for length in areas:
        starts.append(offset | (1 if length < 0 else 0))
        offset += abs(length)
    return starts


def mask_hex(cpus: Sequence[int], nr_bits: int) -> str:
    """A cpu mask as the kernel prints it: comma-separated 32-bit hex
    chunks, most significant first, the first only as wide as its bits."""
    mask = sum(1 << cpu for cpu in cpus)
    chunks: list[str] = []
    bits = nr_bits % 32 or 32
    shift = nr_bits - bits
    while shift >= 0:
        chunks.append(f"{(mask >> shift) & ((1 << bits) - 1):0{-(-bits // 4)}x}")
        shift -= 32
        bits = 32
    return ",".join(chunks)

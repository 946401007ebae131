"""Model of the alloc_info generation ("percpu: introduce pcpu_alloc_info and
pcpu_group_info", 2.6.32).

Everything about the first chunk travels in a pcpu_alloc_info: sizes, the
atom and allocation size, and groups of units, each with an offset and a
unit -> cpu map whose empty slots hold NR_CPUS.  pcpu_build_alloc_info()
makes one for every allocator; embed and page use a single group, the
large-page allocator groups local cpus.  The commit message promises no
change in behaviour other than packing: possible cpus get consecutive
units, so sparse cpu ids no longer leave holes.  pcpu_setup_first_chunk()
prints the layout as a `pcpu-alloc:` dump.

The generation lasted to 4.9, and what its revisions document changed
under the same struct: the return value, unit offsets, group variables,
low/high unit cpus, per-group embed allocation, the dynamic size minimum,
the chunk map's encoding, verbose setup failures, the messages.  Which of
these a revision has comes from its facts (reported with the constants);
py_impl/alloc_era.py lists each rule and where it is documented.  Without
facts the model is the generation's first revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.core import dumpfmt
from harness.core.arch_sizes import page_align
from harness.core.result import AllocInfo as AllocInfoJson
from harness.core.topology import group_cpus
from py_impl.alloc_era import (
    ALLOC_INFO_HEAD,
    CPU_MAP_ENTRY,
    GROUP_INFO,
    Era,
    Layout,
    bootmem_offsets,
    era_state,
    mask_hex,
    placed_offsets,
)
from py_impl.embed import embed_chunk, embed_groups
from py_impl.first_chunk import check_one_to_one, check_unit_size, setup_state
from py_impl.layout import (
    AreaSizes,
    UnitPlan,
    lpage_groups,
    min_unit_size,
    padded,
    plan_units,
)
from py_impl.lpage import map_large_pages
from py_impl.machine import ENOMEM, KERN_DEBUG, BootRecord, Machine, ModelBug
from py_impl.page import page_chunk
from py_impl.result import Boot

KERN_EMERG = "0"

GENERATION = "alloc_info"


@dataclass
class GroupInfo:
    nr_units: int = 0
    base_offset: int = 0
    cpu_map: list[int] = field(default_factory=list)  # NR_CPUS marks an empty unit


@dataclass
class AllocInfo:
    static_size: int = 0
    reserved_size: int = 0
    dyn_size: int = 0
    unit_size: int = 0
    atom_size: int = 0
    alloc_size: int = 0
    groups: list[GroupInfo] = field(default_factory=list)

    @property
    def nr_groups(self) -> int:
        return len(self.groups)

    @property
    def sizes(self) -> AreaSizes:
        return AreaSizes(self.static_size, self.reserved_size, self.dyn_size)

    def to_json(self) -> AllocInfoJson:
        return {
            "static_size": self.static_size,
            "reserved_size": self.reserved_size,
            "dyn_size": self.dyn_size,
            "unit_size": self.unit_size,
            "atom_size": self.atom_size,
            "alloc_size": self.alloc_size,
            "nr_groups": self.nr_groups,
            "groups": [
                {"nr_units": g.nr_units, "base_offset": g.base_offset, "cpu_map": list(g.cpu_map)}
                for g in self.groups
            ],
        }


def alloc_alloc_info(record: BootRecord, nr_groups: int, nr_units: int) -> AllocInfo | None:
    """pcpu_alloc_alloc_info(): room for the groups and units, group 0's map
    all NR_CPUS; None when bootmem cannot supply it."""
    head = -(-(ALLOC_INFO_HEAD + GROUP_INFO * nr_groups) // CPU_MAP_ENTRY) * CPU_MAP_ENTRY
    if not record.percpu_alloc(page_align(head + CPU_MAP_ENTRY * nr_units,
                                          record.machine.page_size)):
        return None
    groups = [GroupInfo() for _ in range(nr_groups)]
    if groups:
        groups[0].cpu_map = [record.machine.nr_cpus] * nr_units
    return AllocInfo(groups=groups)


def free_alloc_info(info: AllocInfo) -> None:
    """pcpu_free_alloc_info(): bootmem bookkeeping of the info itself is not modelled."""


def build_alloc_info(
    record: BootRecord, reserved: int, dyn_request: int, atom_size: int, use_distance: bool,
    era: Era | None = None,
) -> AllocInfo | None:
    """pcpu_build_alloc_info(); None for the documented ENOMEM failure.

    Groups are multiples of the allocation in units, local cpus share a
    group and cpus of different nodes never do, and at least 75% of the
    allocated address space is used.  base_offset is set "as if all groups
    are located back-to-back".
    """
    machine = record.machine
    era = era or Era()
    if era.early_dyn_size or era.dyn_size_is_minimum:
        sizes, plan, groups = era_groups(machine, era, reserved, dyn_request, atom_size,
                                         use_distance)
    else:
        sizes, plan, groups = lpage_groups(machine, reserved, dyn_request, atom_size,
                                           use_distance)
    slots_per_group = [padded(group, plan.units_per_alloc) for group in groups]
    info = alloc_alloc_info(record, len(groups), sum(map(len, slots_per_group)))
    if info is None:
        return None
    fill_alloc_info(info, sizes, plan, atom_size, slots_per_group, machine.nr_cpus)
    return info


def era_groups(machine: Machine, era: Era, reserved: int, dyn_request: int, atom_size: int,
               use_distance: bool) -> tuple[AreaSizes, UnitPlan, list[list[int]]]:
    """Sizes, plan and groups where @dyn_size is a minimum: static + reserved
    + the (early-raised) minimum, page aligned, the dynamic area taking the
    alignment's slack; units no smaller than the revision's minimum."""
    page_size = machine.page_size
    static = machine.case.static_size
    wanted = era.early_minimum(max(dyn_request, 0))
    used = page_align(static + reserved + wanted, page_size)
    sizes = AreaSizes(static, reserved, used - static - reserved)
    needed = min_unit_size(sizes, page_size, era.min_unit_size)
    if use_distance:
        groups = group_cpus(machine.possible, machine.node_of, machine.nodes_local)
    else:
        groups = [list(machine.possible)]
    plan = plan_units([len(g) for g in groups], needed, atom_size, page_size)
    return sizes, plan, groups


def fill_alloc_info(info: AllocInfo, sizes: AreaSizes, plan: UnitPlan, atom_size: int,
                    slots_per_group: Sequence[Sequence[int | None]], nr_cpus: int) -> None:
    """What pcpu_build_alloc_info() fills in, in both generations: the sizes,
    and the groups "as if all groups are located back-to-back", empty
    units holding NR_CPUS."""
    info.static_size, info.reserved_size, info.dyn_size = sizes.static, sizes.reserved, sizes.dyn
    info.unit_size = plan.unit_size
    info.atom_size = atom_size
    info.alloc_size = plan.alloc_size
    first_unit = 0
    for group, slots in zip(info.groups, slots_per_group, strict=True):
        group.nr_units = len(slots)
        group.base_offset = first_unit * plan.unit_size
        group.cpu_map = [nr_cpus if cpu is None else cpu for cpu in slots]
        first_unit += len(slots)


def unit_slots(info: AllocInfo, nr_cpus: int) -> list[int | None]:
    """Every unit in order across groups, None where the slot is empty."""
    return [None if cpu == nr_cpus else cpu for g in info.groups for cpu in g.cpu_map]


def setup_bug(record: BootRecord, era: Era, info: AllocInfo, condition: str) -> ModelBug:
    """A failed check of the verbose revisions: which, the possible cpus,
    the alloc_info at KERN_EMERG, then BUG."""
    machine = record.machine
    bits = machine.nr_cpus if era.mask_over_nr_cpus else machine.nr_cpu_ids
    failed = f"{era.prefix}failed to initialize, {condition}"
    mask = f"{era.prefix}cpu_possible_mask={mask_hex(machine.possible, bits)}"
    if era.failure_line_ends:
        record.printk(KERN_EMERG, failed)
        record.printk(KERN_EMERG, mask)
    else:
        # one printk's text runs into the next one's level and text
        record.printk(KERN_EMERG, f"{failed}<{KERN_EMERG}>{mask}")
    dump_alloc_info(record, info, KERN_EMERG)
    return ModelBug(condition)


def dump_alloc_info(record: BootRecord, info: AllocInfo, level: str = KERN_DEBUG) -> None:
    nr_cpus = record.machine.nr_cpus
    table = dumpfmt.alloc_table(
        info.static_size, info.reserved_size, info.dyn_size, info.unit_size, info.atom_size,
        info.alloc_size,
        [[None if cpu == nr_cpus else cpu for cpu in g.cpu_map] for g in info.groups],
    )
    for line in dumpfmt.render(table).split("\n"):
        record.printk(level, line)


def setup_first_chunk(boot: Boot, info: AllocInfo, base_addr: str) -> int:
    """pcpu_setup_first_chunk(ai, base_addr); returns the unit size, or 0
    in the revisions that return 0 or -errno."""
    record = boot.record
    machine = record.machine
    era = Era.of(boot.constants)
    boot.setup_args = {"base_addr": base_addr, "alloc_info": info.to_json()}
    if info.nr_groups <= 0:
        raise ModelBug("no groups")
    if era.verbose_failures and not info.static_size:
        raise setup_bug(record, era, info, "!ai->static_size")
    check_unit_size(info.sizes, info.unit_size, machine.page_size, era.min_unit_size)
    dump_alloc_info(record, info)
    slots = unit_slots(info, machine.nr_cpus)
    units: dict[int, int] = {}
    possible = set(machine.possible)
    for unit, cpu in enumerate(slots):
        if cpu is None:
            continue
        if cpu in units or cpu not in possible:
            raise ModelBug("a unit maps a cpu that is impossible or already mapped")
        units[cpu] = unit
    check_one_to_one(machine, units)
    boot.state = setup_state(machine, info.sizes, info.unit_size, units, len(slots), base_addr)
    if era != Era():
        boot.modern_state = era_state(boot.state.to_json(machine), era, layout_of(info, machine),
                                      machine.nr_cpu_ids, info.sizes.used,
                                      info.static_size + info.reserved_size)
    return info.unit_size if era.returns_unit_size else 0


def layout_of(info: AllocInfo, machine: Machine) -> Layout:
    return Layout(
        unit_size=info.unit_size, atom_size=info.atom_size,
        group_offsets=tuple(g.base_offset for g in info.groups),
        group_cpus=tuple(tuple(None if cpu == machine.nr_cpus else cpu for cpu in g.cpu_map)
                         for g in info.groups))


def embed(boot: Boot) -> int:
    """pcpu_embed_first_chunk(): one bootmem block of packed units, or from
    "percpu: update embedding first chunk allocator to handle sparse units"
    on one allocation per group."""
    record = boot.record
    machine = record.machine
    case = machine.case
    era = Era.of(boot.constants)
    info = build_alloc_info(record, case.reserved_size, era.dyn_request(case.dyn_size, False),
                            _embed_atom(boot, era), era.embed_per_group, era)
    if info is None:
        return -ENOMEM
    try:
        if era.embed_per_group:
            # "base address is now known": the groups lie where they were put
            sizes = [g.nr_units * info.unit_size for g in info.groups]
            placed = (placed_offsets(sizes, True) if era.top_down else
                      bootmem_offsets(sizes, sum(g.nr_units for g in info.groups),
                                      info.atom_size, machine.page_size, record.fc_goal))
            for group, offset in zip(info.groups, placed, strict=True):
                group.base_offset = offset
            failed, offsets = embed_groups(record, era, layout_of(info, machine), info.sizes,
                                           case.vmalloc_size)
            for group, offset in zip(info.groups, offsets, strict=True):
                group.base_offset = offset
            if failed:
                return failed
        elif not embed_chunk(record, info.sizes, info.unit_size, machine.nr_possible):
            return -ENOMEM
        return setup_first_chunk(boot, info, "phys")
    finally:
        free_alloc_info(info)


def _embed_atom(boot: Boot, era: Era) -> int:
    """Embed's @atom_size: a page until embed took it as a parameter (the
    case's atom is what the arch passes)."""
    machine = boot.record.machine
    return machine.case.atom_size if era.embed_per_group else machine.page_size


def page(boot: Boot) -> int:
    """pcpu_page_first_chunk(): one group, pages mapped unit by unit."""
    record = boot.record
    machine = record.machine
    era = Era.of(boot.constants)
    info = build_alloc_info(record, machine.case.reserved_size,
                            era.dyn_request(machine.case.dyn_size, True), machine.page_size,
                            False, era)
    if info is None:
        return -ENOMEM
    cpus = [cpu for cpu in unit_slots(info, machine.nr_cpus) if cpu is not None]
    try:
        if not page_chunk(record, info.sizes, info.unit_size, cpus, machine.nr_possible,
                          prefix=era.prefix, address=era.address("vmalloc")):
            return -ENOMEM
        return setup_first_chunk(boot, info, "vmalloc")
    finally:
        free_alloc_info(info)


def lpage(boot: Boot) -> int:
    """pcpu_build_alloc_info() with distances, then pcpu_lpage_first_chunk()."""
    record = boot.record
    machine = record.machine
    case = machine.case
    era = Era.of(boot.constants)
    info = build_alloc_info(record, case.reserved_size, case.dyn_size, case.atom_size, True, era)
    boot.build = {"return": 0 if info else -ENOMEM, "alloc_info": info.to_json() if info else None}
    if info is None:
        return -ENOMEM
    try:
        if not map_large_pages(record, info.sizes, info.unit_size, info.atom_size,
                               unit_slots(info, machine.nr_cpus)):
            return -ENOMEM
        return setup_first_chunk(boot, info, "vmalloc")
    finally:
        free_alloc_info(info)


SCENARIOS = {"embed": embed, "page": page, "lpage": lpage}

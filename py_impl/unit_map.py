"""Model of the unit_map generation (before "percpu: introduce pcpu_alloc_info").

pcpu_setup_first_chunk(static, reserved, dyn, unit_size, base, unit_map)
takes a cpu -> unit map; NULL means the identity map, one unit per cpu id
below nr_cpu_ids, holes included.  Embed and page use the identity map;
the large-page allocator builds its map with pcpu_lpage_build_unit_map(),
which groups local cpus into large pages, and prints a `pcpu-lpage:` dump.

Until "percpu: make @dyn_size mandatory for pcpu_setup_first_chunk()"
(1d9d3257216) @dyn_size is "-1 for auto": "whatever left" in the unit
after the static and reserved areas, and the page allocator, whose unit
is whole pages, hands setup -1; after it, the size its unit leaves.  The
boot messages follow the revision (py_impl/words.py).  Both are facts of
the revision's source (harness/core/generations/unit_map.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.core import dumpfmt
from py_impl.embed import embed_chunk
from py_impl.first_chunk import check_one_to_one, check_unit_size, setup_state
from py_impl.layout import (
    AreaSizes,
    area_sizes,
    lpage_groups,
    min_unit_size,
    padded,
)
from py_impl.lpage import map_large_pages
from py_impl.machine import ENOMEM, KERN_DEBUG
from py_impl.page import page_chunk
from py_impl.result import Boot
from py_impl.words import Words

GENERATION = "unit_map"


def setup_first_chunk(
    boot: Boot,
    sizes: AreaSizes,
    unit_size: int,
    base_addr: str,
    unit_map: Mapping[int, int] | None,
    dyn_arg: int | None = None,
) -> int:
    """State from the old signature; returns the unit size.  `dyn_arg`:
    what the caller passed as @dyn_size when not the dynamic size itself."""
    machine = boot.record.machine
    boot.setup_args = {
        "static_size": sizes.static,
        "reserved_size": sizes.reserved,
        "dyn_size": sizes.dyn if dyn_arg is None else dyn_arg,
        "unit_size": unit_size,
        "base_addr": base_addr,
        "unit_map": None if unit_map is None
        else [unit_map.get(cpu) for cpu in range(machine.nr_cpu_ids)],
    }
    check_unit_size(sizes, unit_size, machine.page_size)
    if unit_map is None:
        # "NULL for sequential mapping": unit n is cpu n, so the chunk has a
        # unit for every cpu id up to the last possible one.
        units = {cpu: cpu for cpu in machine.possible}
        nr_units = machine.nr_cpu_ids
    else:
        check_one_to_one(machine, unit_map)
        units = dict(unit_map)
        # The map is all this function is told: units past the highest
        # mapped one are not part of the chunk it sets up.
        nr_units = max(units.values()) + 1
    boot.state = setup_state(machine, sizes, unit_size, units, nr_units, base_addr)
    return unit_size


def embed(boot: Boot) -> int:
    """pcpu_embed_first_chunk(reserved, dyn) with the identity map."""
    record = boot.record
    machine = record.machine
    case = machine.case
    sizes = area_sizes(case.static_size, case.reserved_size, case.dyn_size, machine.page_size)
    unit_size = min_unit_size(sizes, machine.page_size)
    # The identity map has a unit for every cpu id, possible or not.
    if not embed_chunk(record, sizes, unit_size, machine.nr_cpu_ids, Words.of(boot.constants)):
        return -ENOMEM
    return setup_first_chunk(boot, sizes, unit_size, "phys", None)


def page(boot: Boot) -> int:
    """pcpu_page_first_chunk(reserved): PAGE_SIZE pages mapped per possible cpu."""
    record = boot.record
    machine = record.machine
    case = machine.case
    sizes = area_sizes(case.static_size, case.reserved_size, -1, machine.page_size)
    unit_size = min_unit_size(sizes, machine.page_size)
    # The identity map leaves room for every cpu id, possible or not.
    if not page_chunk(record, sizes, unit_size, machine.possible, machine.nr_cpu_ids,
                      Words.of(boot.constants)):
        return -ENOMEM
    if boot.constants.get("setup_dyn_auto", 0):
        # -1: the dynamic area is whatever the unit leaves
        left = AreaSizes(sizes.static, sizes.reserved, unit_size - sizes.static - sizes.reserved)
        return setup_first_chunk(boot, left, unit_size, "vmalloc", None, dyn_arg=-1)
    return setup_first_chunk(boot, sizes, unit_size, "vmalloc", None)


def lpage(boot: Boot) -> int:
    """pcpu_lpage_build_unit_map() then pcpu_lpage_first_chunk(), as an arch does."""
    record = boot.record
    machine = record.machine
    case = machine.case
    sizes, plan, groups = lpage_groups(machine, case.reserved_size, case.dyn_size,
                                       case.atom_size, use_distance=True)
    slots = [cpu for group in groups for cpu in padded(group, plan.units_per_alloc)]
    unit_map = {cpu: unit for unit, cpu in enumerate(slots) if cpu is not None}
    boot.build = {
        "return": len(slots),
        "dyn_size": sizes.dyn,
        "unit_size": plan.unit_size,
        "unit_map": [unit_map.get(cpu) for cpu in range(machine.nr_cpu_ids)],
    }
    table = dumpfmt.lpage_table(sizes.static, sizes.reserved, sizes.dyn, plan.unit_size,
                             case.atom_size, slots)
    for line in dumpfmt.render(table).split("\n"):
        record.printk(KERN_DEBUG, line)
    if not map_large_pages(record, sizes, plan.unit_size, case.atom_size, slots,
                           Words.of(boot.constants)):
        return -ENOMEM
    return setup_first_chunk(boot, sizes, plan.unit_size, "vmalloc", unit_map)


SCENARIOS = {"embed": embed, "page": page, "lpage": lpage}

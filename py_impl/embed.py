"""The embedded first chunk, as pcpu_embed_first_chunk()'s kernel-doc describes it.

"The first chunk is allocated as a contiguous area using bootmem allocator
and used as-is"; "if the needed size is smaller than the minimum or
specified unit size, the leftover is returned to the bootmem allocator".
Both generations carry the same contract; they differ only in how many
units the block has (every cpu id, or every possible cpu).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.core.arch_sizes import page_align
from py_impl.layout import AreaSizes
from py_impl.machine import EINVAL, ENOMEM, KERN_INFO, KERN_WARNING, BootRecord
from py_impl.words import LATEST, Words

# sizeof(void *): embed's array of the groups' areas.
POINTER = 8

if TYPE_CHECKING:
    from py_impl.alloc_era import Era, Layout



def embed_chunk(record: BootRecord, sizes: AreaSizes, unit_size: int, nr_units: int,
                words: Words = LATEST) -> bool:
    """Allocate the block and give back what the cpus do not use; False
    (after the warning) when bootmem cannot supply it."""
    machine = record.machine
    chunk_size = unit_size * nr_units
    if not record.bootmem_may_fail():
        record.printk(KERN_WARNING,
                      f"PERCPU: failed to allocate {chunk_size} bytes for embedding")
        return False
    # Every possible cpu keeps its area in whole pages; the rest goes back.
    used = page_align(sizes.used, machine.page_size)
    record.chunk_held = used * machine.nr_possible
    record.printk(KERN_INFO, words.embedded(used // machine.page_size, sizes, unit_size))
    return True


def embed_groups(record: BootRecord, era: Era, layout: Layout, sizes: AreaSizes,
                 vmalloc_size: int) -> tuple[int, tuple[int, ...]]:
    """The embed allocator of "percpu: update embedding first chunk
    allocator to handle sparse units": "space for the whole group" from
    @alloc_fn near the group's first cpu; every empty unit is given back
    whole and every used unit's tail after the copy (group by group, once
    all are allocated, or once the spread is checked: the era's).

    0 or -errno (after giving back what the revision gives back), and the
    groups' base offsets: "base address is now known, determine group base
    offsets", each group's distance from the lowest, where the record
    places memory; the layout's, where it does not."""
    unit_size = layout.unit_size
    group_bytes = [len(cpus) * unit_size for cpus in layout.group_cpus]
    # The array of the groups' areas comes from bootmem first, with a call
    # that may fail: without it no group is asked for.
    if not record.percpu_alloc(-(-POINTER * len(group_bytes) // record.machine.page_size)
                               * record.machine.page_size):
        return -ENOMEM, layout.group_offsets
    places: list[int] = []
    for group, cpus in enumerate(layout.group_cpus):
        first = next(cpu for cpu in cpus if cpu is not None)
        place = record.fc_place(first, group_bytes[group], layout.atom_size)
        if place is None:
            for size, at in zip(group_bytes, places, strict=False):
                record.fc_free_at(at, size)
            return -ENOMEM, layout.group_offsets
        places.append(place)
        if not era.embed_frees_after_allocating:
            _free_unused(record, cpus, place, unit_size, sizes.used)
    late = era.embed_spread_of_highest_group
    if era.embed_frees_after_allocating and not late:
        for cpus, place in zip(layout.group_cpus, places, strict=True):
            _free_unused(record, cpus, place, unit_size, sizes.used)
    offsets = layout.group_offsets
    if record.places_memory:
        offsets = tuple(place - min(places) for place in places)
    if late:
        highest = max(range(len(places)), key=lambda g: (offsets[g], -g))
        max_distance = offsets[highest] + group_bytes[highest]
    else:
        max_distance = max(offsets) + unit_size
    if era.embed_checks_vmalloc and max_distance > vmalloc_size * 3 // 4:
        record.printk(KERN_WARNING, f"{era.prefix}max_distance={max_distance:#x} too large "
                                    f"for vmalloc space {vmalloc_size:#x}")
        if late:
            for size, at in zip(group_bytes, places, strict=True):
                record.fc_free_at(at, size)
        return -EINVAL, offsets
    if late:
        for cpus, place in zip(layout.group_cpus, places, strict=True):
            _free_unused(record, cpus, place, unit_size, sizes.used)
    page_size = record.machine.page_size
    record.chunk_held = page_align(sizes.used, page_size) * record.machine.nr_possible
    record.printk(KERN_INFO,
                  f"{era.prefix}Embedded {page_align(sizes.used, page_size) // page_size} pages/cpu"
                  f"{era.address('bootmem')} s{sizes.static} r{sizes.reserved} "
                  f"d{sizes.dyn} u{unit_size}")
    return 0, offsets


def _free_unused(record: BootRecord, cpus: Sequence[int | None], place: int, unit_size: int,
                 used: int) -> None:
    """An empty unit back whole, a used unit's tail past the areas."""
    for i, cpu in enumerate(cpus):
        unit = place + i * unit_size
        if cpu is None:
            record.fc_free_at(unit, unit_size)
        else:
            record.fc_free_at(unit + used, unit_size - used)

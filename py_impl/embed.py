"""The embedded first chunk, as pcpu_embed_first_chunk()'s kernel-doc describes it.

"The first chunk is allocated as a contiguous area using bootmem allocator
and used as-is"; "if the needed size is smaller than the minimum or
specified unit size, the leftover is returned to the bootmem allocator".
Both generations carry the same contract; they differ only in how many
units the block has (every cpu id, or every possible cpu).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.core.arch_sizes import page_align
from py_impl.layout import AreaSizes
from py_impl.machine import EINVAL, ENOMEM, KERN_INFO, KERN_WARNING, BootRecord
from py_impl.words import LATEST, Words

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
                 vmalloc_size: int) -> int:
    """The embed allocator of "percpu: update embedding first chunk
    allocator to handle sparse units": "space for the whole group" from
    @alloc_fn near the group's first cpu, back to back; then every empty
    unit is given back whole and every used unit's tail after the copy.
    0, or -errno (after giving back what was allocated)."""
    unit_size = layout.unit_size
    group_bytes = [len(cpus) * unit_size for cpus in layout.group_cpus]
    # The array of the groups' areas comes from bootmem first, with a call
    # that may fail: without it no group is asked for.
    if not record.bootmem_may_fail():
        return -ENOMEM
    for group, cpus in enumerate(layout.group_cpus):
        first = next(cpu for cpu in cpus if cpu is not None)
        if not record.fc_alloc(first, group_bytes[group]):
            for size in group_bytes[:group]:
                record.fc_free(size)
            return -ENOMEM
    for cpus in layout.group_cpus:
        for cpu in cpus:
            record.fc_free(unit_size if cpu is None else unit_size - sizes.used)
    max_distance = max(layout.group_offsets) + unit_size
    if era.embed_checks_vmalloc and max_distance > vmalloc_size * 3 // 4:
        record.printk(KERN_WARNING, f"{era.prefix}max_distance={max_distance:#x} too large "
                                    f"for vmalloc space {vmalloc_size:#x}")
        return -EINVAL
    page_size = record.machine.page_size
    record.chunk_held = page_align(sizes.used, page_size) * record.machine.nr_possible
    record.printk(KERN_INFO,
                  f"{era.prefix}Embedded {page_align(sizes.used, page_size) // page_size} pages/cpu"
                  f"{era.address('bootmem')} s{sizes.static} r{sizes.reserved} "
                  f"d{sizes.dyn} u{unit_size}")
    return 0

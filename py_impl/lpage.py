"""The large-page first chunk, as pcpu_lpage_first_chunk()'s kernel-doc describes it.

"Large pages are allocated as directed by the unit map and mapped to
vmalloc space.  Unused holes are returned to the page allocator."  Both
generations carry the same paragraph, so one model serves both:

* a large page is allocated for the first cpu whose unit it holds, and
  not at all if it holds only empty units;
* of every unit that serves a cpu, the static + reserved + dynamic bytes
  at its start stay; everything else in an allocated large page - the
  unit's tail and every empty unit - goes back, one free per piece of a
  unit inside one large page;
* the chunk's address range is registered aligned to the unit size and
  each allocated large page is mapped into it.
"""

from __future__ import annotations

from collections.abc import Sequence

from py_impl.layout import AreaSizes
from py_impl.machine import EINVAL, ENOMEM, KERN_INFO, KERN_WARNING, BootRecord
from py_impl.words import LATEST, Words


def map_large_pages(
    record: BootRecord,
    sizes: AreaSizes,
    unit_size: int,
    lpage_size: int,
    slots: Sequence[int | None],
    words: Words = LATEST,
) -> bool:
    """Allocate, trim and map; False (after undoing) when an allocation fails."""
    chunk_size = unit_size * len(slots)
    nr_lpages = chunk_size // lpage_size
    allocated: list[bool] = []
    for lpage in range(nr_lpages):
        start, end = lpage * lpage_size, (lpage + 1) * lpage_size
        units = range(start // unit_size, (end - 1) // unit_size + 1)
        owner = next((slots[u] for u in units if slots[u] is not None), None)
        if owner is None:
            allocated.append(False)
            continue
        if not record.fc_alloc(owner, lpage_size):
            record.printk(KERN_WARNING, f"PERCPU: failed to allocate large page for cpu{owner}")
            for _ in range(sum(allocated)):
                record.fc_free(lpage_size)
            return False
        allocated.append(True)

    for unit, cpu in enumerate(slots):
        start = unit * unit_size + (sizes.used if cpu is not None else 0)
        end = (unit + 1) * unit_size
        while start < end:
            piece_end = min((start // lpage_size + 1) * lpage_size, end)
            if allocated[start // lpage_size]:
                record.fc_free(piece_end - start)
            start = piece_end

    record.register_vm(chunk_size, unit_size)
    record.maps += sum(allocated)
    record.printk(KERN_INFO, words.large_pages(sizes, unit_size))
    return True


def large_page_per_cpu(record: BootRecord, sizes: AreaSizes, kept: int, lpage_size: int) -> int:
    """The first form of pcpu_lpage_first_chunk() (until the unit map
    reached it): "A large page is allocated for each cpu and each is
    remapped into vmalloc area"; of each, "only part of it is used for the
    first chunk.  Unused part is returned to the bootmem allocator".  The
    chunk's units are cpu numbers, so its vm area spans nr_cpu_ids large
    pages.  0, or -errno after giving back what it took."""
    machine = record.machine
    if kept > lpage_size:
        record.printk(KERN_WARNING, "PERCPU: static data is larger than large page, "
                                    "can't use large page")
        return -EINVAL
    for done, cpu in enumerate(machine.possible):
        # alloc_fn and map_fn are "always called with lpage_size"
        if not record.fc_alloc(cpu, lpage_size):
            record.printk(KERN_WARNING, f"PERCPU: failed to allocate large page for cpu{cpu}")
            for _ in range(done):
                record.fc_free(kept)  # each page's head; its tail went back already
            return -ENOMEM
        # One give-back per page, empty or not: free_fn's @size is only
        # bounded above ("@size <= lpage_size").
        record.fc_free(lpage_size - kept)
    record.register_vm(lpage_size * machine.nr_cpu_ids, lpage_size)
    record.maps += machine.nr_possible
    record.printk(KERN_INFO, f"PERCPU: Remapped at <vmalloc> with large pages, static data "
                             f"{sizes.static} bytes")
    return 0


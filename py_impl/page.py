"""The page-by-page first chunk, as pcpu_page_first_chunk()'s kernel-doc describes it.

"Static percpu area is allocated page-by-page into vmalloc area": every
page of every unit serving a cpu comes from the arch allocator near that
cpu, in unit order; a failure gives back everything allocated so far.
Each unit's ptes are populated and the unit is mapped in one go.  Both
generations carry the same contract.
"""

from __future__ import annotations

from collections.abc import Sequence

from py_impl.layout import AreaSizes
from py_impl.machine import KERN_INFO, KERN_WARNING, BootRecord
from py_impl.words import LATEST, Words


def page_chunk(record: BootRecord, sizes: AreaSizes, unit_size: int,
               unit_cpus: Sequence[int], vm_units: int, words: Words = LATEST,
               prefix: str = "PERCPU: ", address: str = " @<vmalloc>") -> bool:
    """Allocate and map every unit's pages into a vm area of `vm_units`
    units; False (after undoing) on failure.  `prefix` and `address` are
    the revision's message prefix and the banner's address part."""
    page_size = record.machine.page_size
    unit_pages = unit_size // page_size
    done = 0
    for cpu in unit_cpus:
        got = record.fc_alloc_many(cpu, page_size, unit_pages)
        done += got
        if got < unit_pages:
            record.printk(KERN_WARNING,
                          f"{prefix}failed to allocate {words.page_word(page_size)} page "
                          f"for cpu{cpu}")
            for _ in range(done):
                record.fc_free(page_size)
            return False
    record.register_vm(vm_units * unit_size, page_size)
    record.ptes_populated += unit_pages * len(unit_cpus)
    record.maps += len(unit_cpus)
    record.printk(KERN_INFO, words.paged(unit_pages, page_size, sizes, prefix, address))
    return True

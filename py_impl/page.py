"""The page-by-page first chunk, as pcpu_page_first_chunk()'s kernel-doc describes it.

"Static percpu area is allocated page-by-page into vmalloc area": every
page of every unit serving a cpu comes from the arch allocator near that
cpu, in unit order; a failure gives back everything allocated so far.
Each unit's ptes are populated and the unit is mapped in one go.  Both
generations carry the same contract.
"""

from __future__ import annotations

from collections.abc import Sequence

from py_impl.machine import KERN_WARNING, BootRecord


def map_pages(record: BootRecord, unit_cpus: Sequence[int], unit_pages: int) -> bool:
    """Allocate and map every unit's pages; False (after undoing) on failure."""
    page_size = record.machine.page_size
    done = 0
    for cpu in unit_cpus:
        for _ in range(unit_pages):
            if not record.fc_alloc(cpu, page_size):
                record.printk(KERN_WARNING,
                              f"PERCPU: failed to allocate {page_size >> 10}K page for cpu{cpu}")
                for _ in range(done):
                    record.fc_free(page_size)
                return False
            done += 1
    record.ptes_populated += unit_pages * len(unit_cpus)
    record.maps += len(unit_cpus)
    return True

"""The embedded first chunk, as pcpu_embed_first_chunk()'s kernel-doc describes it.

"The first chunk is allocated as a contiguous area using bootmem allocator
and used as-is"; "if the needed size is smaller than the minimum or
specified unit size, the leftover is returned to the bootmem allocator".
Both generations carry the same contract; they differ only in how many
units the block has (every cpu id, or every possible cpu).
"""

from __future__ import annotations

from harness.core.arch_sizes import page_align
from py_impl.layout import AreaSizes
from py_impl.machine import KERN_INFO, KERN_WARNING, BootRecord
from py_impl.words import LATEST, Words


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

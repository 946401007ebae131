"""Facts of the bitmap chunk allocator's revisions (4.14 on), for its model.

"percpu: replace area map allocator with bitmap" (4.14) gave chunks an
allocation bitmap, metadata blocks and hidden head and tail regions; the
first chunk has been set up the same way since, under two signatures of
pcpu_setup_first_chunk() (returning int until 5.3, void after).  What
changed in between is read from each revision's source, by what it
defines, declares and says, never by its version; py_impl/bitmap_eras.py
turns the facts into the model's rules.  A module whose name starts with
'_' holds no generation spec.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.core.generation import RevisionView

# The fact a revision with the bitmap allocator reports; a model of an
# older allocator hands its boots to the bitmap model when it is set.
BITMAP_CHUNKS = "bitmap_chunks"


def has_bitmap_chunks(source: RevisionView) -> bool:
    """Whether chunks are managed by bitmaps of PCPU_MIN_ALLOC_SIZE bits
    and first-chunk regions are set up by pcpu_alloc_first_chunk()."""
    return source.defines("PCPU_BITMAP_BLOCK_SIZE") and source.defines("pcpu_alloc_first_chunk")


def bitmap_facts(source: RevisionView) -> Mapping[str, int]:
    """The rules of the revision's bitmap era; nothing for an older allocator."""
    if not has_bitmap_chunks(source):
        return {}
    chunk_fields = source.fields("pcpu_chunk") or ()
    embed = source.params("pcpu_embed_first_chunk") or ()
    return {
        BITMAP_CHUNKS: 1,
        # 4.14 - 5.3: the chunk keeps its own hints (contig_bits,
        # contig_bits_start, first_bit); later in a struct pcpu_block_md
        "chunk_hint_fields": int("contig_bits" in chunk_fields),
        # 5.14 on: "percpu: implement partial chunk depopulation"
        "chunk_isolated": int("isolated" in chunk_fields),
        # the slot for empty chunks kept in a variable of its own (5.14 on;
        # until then it is the last one)
        "slot_free_variable": int(source.defines("pcpu_free_slot")),
        # slots after the free one (5.14 on)
        "slot_to_depopulate": int(source.defines("pcpu_to_depopulate_slot")),
        "slot_sidelined": int(source.defines("pcpu_sidelined_slot")),
        # 5.9 - 5.13: one count of empty populated pages per chunk type
        "empty_pop_pages_by_type": int(source.defines("PCPU_NR_CHUNK_TYPES")),
        # 4.19 has it, 4.14 not
        "counts_populated": int(source.defines("pcpu_nr_populated")),
        # until 5.16 the arch hands the first chunk allocators its
        # allocation callbacks; then mm/percpu.c has its own
        "fc_callbacks": int(any(ctype == "pcpu_fc_alloc_fn_t" for ctype, _ in embed)),
        # older allocators' banners print the base address ("@%p")
        "banner_base": int(source.says("pcpu_embed_first_chunk", "pages/cpu @")),
        # 3.13 - 4.19's memblock_virt_alloc(), which panics itself
        "virt_alloc": int(source.uses("pcpu_setup_first_chunk", "memblock_virt_alloc")),
    }


def alloc_info_bitmap_facts(source: RevisionView) -> Mapping[str, int]:
    """bitmap_facts() of a revision of the alloc_info generation, whose glue
    hands the page allocator the populate_pte callback of 2009 (one call
    per page, counted per call, page tables not taken from memblock)."""
    facts = bitmap_facts(source)
    return {**facts, "pte_callback_per_page": 1} if facts else {}

"""The eras of the bitmap chunk allocator (4.14 on), for py_impl/modern.py.

"percpu: replace area map allocator with bitmap" (4.14) set up the first
chunk the way the modern model describes (pcpu_alloc_first_chunk(): "The
base_addr is page aligned down of @tmp_addr while the region end is page
aligned up", the parts outside the region hidden).  Until 5.3 this ran
under the alloc_info signature (pcpu_setup_first_chunk() returning its
int status); the revision's facts (harness/core/generations/_bitmap_eras.py)
hand such boots to the modern model.  Each rule below follows the
documentation of the revisions that have it:

* the chunk's hints: 4.14 - 5.3 keep "contig_bits" ("max contiguous size
  hint"), "contig_bits_start" ("contig_bits starting offset") and
  "first_bit" ("no free below this") in the chunk itself, counted in
  PCPU_MIN_ALLOC_SIZE bits.  The served region is the only free area of a
  new first chunk, so the hint is the whole region and no free bit lies
  below its start;
* "isolated" chunks (5.14 on, "percpu: implement partial chunk
  depopulation"); the first chunk is never isolated;
* the chunk slots: until 5.13 "The additional last slot is for empty
  chunks"; 5.14 on the comment lists "sidelined_slot - isolated,
  depopulated chunks", "free_slot - fully free chunks" and
  "to_depopulate_slot - isolated, chunks to depopulate" after the active
  slots; a revision has the slots it defines, and reports each slot that
  has a variable of its own (the free one from 5.14 on, "percpu: use
  pcpu_free_slot instead of pcpu_nr_slots - 1");
* 5.9 - 5.13 count empty populated pages per chunk type
  (pcpu_nr_empty_pop_pages[PCPU_NR_CHUNK_TYPES]); with CONFIG_MEMCG_KMEM
  off, as the shim builds, the only type is the root one;
* pcpu_nr_populated ("include all regions of the first chunk"), which
  4.19 has and 4.14 has not;
* until 5.16 the first chunk allocators take the arch's pcpu_fc_alloc_fn_t
  and pcpu_fc_free_fn_t: the generic scenarios hand them the shim's
  callbacks, which take from memblock above __pa(MAX_DMA_ADDRESS) for no
  node and say nothing, and whose calls fail_fc_alloc counts; an arch
  flow whose file has its own callback says so (modern.py's
  ModernRecord.arch_fc_alloc: x86's, node-directed and speaking);
* 4.14's banners print the base address ("Embedded %zu pages/cpu @%p ..."),
  4.19's no longer do;
* until 4.19 the setup's allocations are memblock_virt_alloc(), which
  panics itself ("Failed to allocate %lu bytes align=0x%lx nid=%d
  from=0x%lx max_addr=0x%lx", align 0 being SMP_CACHE_BYTES) and is not an
  allocation the caller sees fail, so fail_bootmem does not count it.

One rule is the harness's, not the kernel's: the page allocator's
populate_pte callback is the glue's, and the alloc_info generation's glue
(4.14 - 5.2) hands the one of 2009 (a call per page, counted per call, its
tables not from memblock) where the modern generation's counts pte tables
taken from memblock, as the generic pcpu_populate_pte() of 5.18 on does.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.generations._bitmap_eras import BITMAP_CHUNKS
from harness.core.result import Chunk
from py_impl.result import Boot

# include/linux/percpu.h
PCPU_MIN_ALLOC_SIZE = 4


@dataclass(frozen=True)
class Era:
    """The rules of one revision; the defaults are today's (6.1 on)."""

    chunk_hint_fields: bool = False
    chunk_isolated: bool = True
    slot_to_depopulate: bool = True
    slot_sidelined: bool = True
    slot_free_variable: bool = True
    empty_pop_pages_by_type: bool = False
    counts_populated: bool = True
    fc_callbacks: bool = False
    banner_base: bool = False
    virt_alloc: bool = False
    pte_callback_per_page: bool = False

    def slots_after_active(self) -> int:
        """Chunk slots after those of the sizes a chunk's free area can have."""
        return 1 + int(self.slot_sidelined) + int(self.slot_to_depopulate)

    def slot_variables(self, active: int) -> dict[str, int]:
        """The slots after the `active` ones, in the comment's order
        (sidelined, free, to_depopulate), as the variables a revision has."""
        after = ["sidelined_slot"] if self.slot_sidelined else []
        after += ["free_slot"] + (["to_depopulate_slot"] if self.slot_to_depopulate else [])
        named = {name: active + i for i, name in enumerate(after)}
        if not self.slot_free_variable:
            del named["free_slot"]
        return named

    def free_slot(self, active: int) -> int:
        """The slot of fully free chunks."""
        return active + int(self.slot_sidelined)

    def banner_at(self, region: str) -> str:
        """What the allocators' banners print between "pages/cpu" and the sizes."""
        return f" @<{region}>" if self.banner_base else ""


TODAY = Era()


def era_of(boot: Boot) -> Era:
    """The era the boot's facts describe; today's where it reports none."""
    facts = boot.constants
    if not facts.get(BITMAP_CHUNKS):
        return TODAY
    return Era(**{name: bool(facts.get(name, getattr(TODAY, name)))
                  for name in Era.__dataclass_fields__})


def chunk_json(era: Era, chunk: Chunk, hidden_head: int) -> Chunk:
    """A first-chunk region's chunk as the revision's struct has it."""
    out = chunk.copy()
    if not era.chunk_isolated:
        out.pop("isolated", None)
    if era.chunk_hint_fields:
        start_bit = hidden_head // PCPU_MIN_ALLOC_SIZE
        out["contig_bits"] = out.get("free_bytes", 0) // PCPU_MIN_ALLOC_SIZE
        out["contig_bits_start"] = start_bit
        out["first_bit"] = start_bit
    return out


def empty_pop_pages(era: Era, count: int) -> int | list[int]:
    """pcpu_nr_empty_pop_pages: one count, or one per chunk type (root only)."""
    return [count] if era.empty_pop_pages_by_type else count


def virt_alloc_panic(size: int, align: int) -> str:
    """memblock_virt_alloc_try_nid()'s panic for a block that does not fit."""
    return (f"memblock_virt_alloc_try_nid: Failed to allocate {size} bytes "
            f"align=0x{align:x} nid=-1 from=0x0 max_addr=0x0")

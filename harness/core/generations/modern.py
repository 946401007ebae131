"""The modern generation (2019 on, "percpu: make pcpu_setup_first_chunk()
void function"; the bitmap allocator's kernels): pcpu_setup_first_chunk()
takes a struct pcpu_alloc_info as before but returns nothing; a setup it
cannot accept BUGs.  The chunk lives in mm/percpu-internal.h, and the
first chunk allocators call memblock themselves instead of taking
allocation callbacks.
"""

from __future__ import annotations

from dataclasses import replace

from harness.core.generation import GenerationName, GenerationSpec, called
from harness.core.generations import alloc_info, unit_map
from harness.core.generations._bitmap_eras import bitmap_facts


def _detects(return_type: str, params: tuple[str, ...]) -> bool:
    return return_type == "void" and any("pcpu_alloc_info" in p for p in params)


# 5.x still takes the arch's page table callback; what it stands for is
# what the generic pcpu_populate_pte() of 5.18 on does (memblock tables,
# pte tables counted), so the bookkeeping means the same on every kernel
# of the generation.
ENTRY_ARGS = replace(unit_map.ENTRY_ARGS, callbacks={
    **unit_map.ENTRY_ARGS.callbacks,
    "pcpu_fc_populate_pte_fn_t": "shim_fc_populate_pte_memblock",
})

SPEC = GenerationSpec(
    name=GenerationName("modern"),
    since="2019-07",
    shape="a struct pcpu_alloc_info, returning nothing",
    detects=_detects,
    structs=alloc_info.STRUCTS,
    required_structs=alloc_info.REQUIRED_STRUCTS,
    # The large page allocator is gone: embed with a large atom and cpu
    # distances took its place (and is what x86-64 calls).
    scenarios={
        "embed": called("pcpu_embed_first_chunk"),
        "page": called("pcpu_page_first_chunk"),
    },
    successors={"lpage": "embed"},
    state_variables=alloc_info.STATE_VARIABLES,
    array_state=alloc_info.ARRAY_STATE,
    constants=unit_map.CONSTANTS,
    entry_args=ENTRY_ARGS,
    setup_args_glue="generations/setup_args_alloc_info.c.j2",
    counted_functions=("pcpu_fc_alloc", "pcpu_fc_free"),
    # x86's setup_per_cpu_areas() and the generic NUMA one of arm64 and riscv
    # (py_impl/arch_x86.py, py_impl/arch_numa.py); sparc64 is not built.
    arch_flows=("x86", "arch_numa"),
    vocabulary="modern",
    model="modern",
    # Names that mean the same thing in 2009's results, on this side's names.
    cross_renames={
        "state.first_unit_cpu": "state.low_unit_cpu",
        "state.last_unit_cpu": "state.high_unit_cpu",
        "state.first_chunk.free_size": "state.first_chunk.free_bytes",
        "state.reserved_chunk.free_size": "state.reserved_chunk.free_bytes",
    },
    # Bookkeeping whose meaning changed with the API: 2009's allocators took
    # callbacks (counted per page), today's call memblock themselves (counted
    # per group), and page tables are counted per pte there, per table here.
    cross_dropped=("bootmem.fc_", "bootmem.maps", "bootmem.ptes_populated"),
    # What changed within the generation (py_impl/bitmap_eras.py).
    facts=bitmap_facts,
)

"""The alloc_info generation (August 2009, "percpu: introduce
pcpu_alloc_info and pcpu_group_info", to 4.9): pcpu_setup_first_chunk()
takes a struct pcpu_alloc_info describing the groups of units, and returns
the unit size, from "percpu: add pcpu_unit_offsets[]" on 0 or -errno.
Later revisions of it killed the large page allocator ("percpu: kill lpage
first chunk allocator") and added the group and offset variables the
modern generation kept.  The facts below tell the model which of these
changes a revision has, read from what its source defines.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.core.generation import (
    GenerationName,
    GenerationSpec,
    RevisionView,
    ScenarioSpec,
    called,
)
from harness.core.generations import unit_map
from harness.core.generations._bitmap_eras import alloc_info_bitmap_facts


def _detects(return_type: str, params: tuple[str, ...]) -> bool:
    return return_type != "void" and any("pcpu_alloc_info" in p for p in params)


# Later revisions' additions, under the names the modern generation uses.
STATE_VARIABLES = (
    *unit_map.STATE_VARIABLES,
    "pcpu_low_unit_cpu",
    "pcpu_high_unit_cpu",
    "pcpu_atom_size",
    "pcpu_nr_groups",
    "pcpu_group_offsets",
    "pcpu_group_sizes",
    "pcpu_unit_offsets",
    "pcpu_nr_empty_pop_pages",
    "pcpu_nr_populated",
    # 5.14 on, the bitmap allocator's slots after the active ones
    "pcpu_sidelined_slot",
    "pcpu_free_slot",
    "pcpu_to_depopulate_slot",
)
# The arrays among them, and what counts each.
ARRAY_STATE = {
    "pcpu_group_offsets": "pcpu_nr_groups",
    "pcpu_group_sizes": "pcpu_nr_groups",
    "pcpu_unit_offsets": "nr_cpu_ids",
}

SETUP = "pcpu_setup_first_chunk"
# memblock's allocators a revision's pcpu_dfl_fc_alloc() may call (3.13 on).
MEMBLOCK_ALLOCATORS = ("memblock_virt_alloc_from_nopanic", "memblock_virt_alloc_nopanic",
                       "memblock_alloc_from", "memblock_alloc_from_nopanic")


def _facts(source: RevisionView) -> Mapping[str, int]:
    """Which of the generation's documented changes a revision has."""
    return {**_variable_facts(source), **_embed_facts(source), **_message_and_chunk_facts(source)}


def _variable_facts(source: RevisionView) -> dict[str, int]:
    return {
        # "percpu: add pcpu_unit_offsets[]": 0 or -errno instead of the unit size
        "setup_returns_unit_size": int(source.returns(SETUP) != "int"),
        "unit_offsets_variable": int(source.defines("pcpu_unit_offsets")),
        "chunk_size_variable": int(source.defines("pcpu_chunk_size")),
        "atom_size_variable": int(source.defines("pcpu_atom_size")),
        "group_variables": int(source.defines("pcpu_nr_groups")),
        # "cpus with the lowest and highest unit addresses" (low/high), or
        # "... unit numbers" (first/last)
        "unit_cpu_by_address": int(source.defines("pcpu_low_unit_cpu")),
    }


def _embed_facts(source: RevisionView) -> dict[str, int]:
    embed = source.params("pcpu_embed_first_chunk") or ()
    return {
        # "percpu: update embedding first chunk allocator to handle sparse
        # units": embed allocates each group with the arch's callback
        "embed_allocates_per_group": int(any("alloc_fn" in ctype for ctype, _ in embed)),
        # "percpu: make @dyn_size always mean min dyn_size in first chunk
        # init functions": an unsigned minimum instead of "-1 for auto"
        "dyn_size_is_minimum": int(any(name.startswith("dyn") and ctype == "size_t"
                                       for ctype, name in embed)),
        # "percpu: make embedding first chunk allocator check vmalloc space size"
        # (VMALLOC_END - VMALLOC_START until 3.x, VMALLOC_TOTAL after)
        "embed_checks_vmalloc_space": int(source.uses("pcpu_embed_first_chunk", "VMALLOC_END")
                                          or source.uses("pcpu_embed_first_chunk",
                                                         "VMALLOC_TOTAL")),
        # "Copy data and free unused parts.  This should happen after all
        # allocations are complete; otherwise, we may end up with
        # overlapping groups" (before: group by group): a second walk of
        # the groups takes each one's area back from the array
        "embed_frees_after_allocating": int(source.says("pcpu_embed_first_chunk",
                                                        "ptr = areas[group];")),
        # the spread is the highest group's end (before: the highest base
        # offset plus one unit), checked before anything is given back, and
        # a failed check gives every group back whole
        "embed_spread_of_highest_group": int(source.uses("pcpu_embed_first_chunk",
                                                         "highest_group")),
        # the arch's boot allocator the shim stands in for: memblock (top
        # down, as the file's own pcpu_dfl_fc_alloc() calls it) or bootmem
        "boot_allocator_top_down": int(any(source.uses("pcpu_dfl_fc_alloc", name)
                                           for name in MEMBLOCK_ALLOCATORS)),
    }


def _message_and_chunk_facts(source: RevisionView) -> dict[str, int]:
    chunk = source.fields("pcpu_chunk") or ()
    return {
        # "percpu: make pcpu_setup_first_chunk() failures more verbose"
        "setup_failures_verbose": int(source.says(SETUP, "failed to initialize")),
        # whether that first line ends in a newline (the printk stream runs
        # it into the next where it does not)
        "setup_failure_line_ends": int(source.says(SETUP, 'failed to initialize, %s\\n"')),
        # the possible mask printed by cpumask_scnprintf() (NR_CPUS bits)
        # rather than %*pb (nr_cpu_ids bits)
        "possible_mask_over_nr_cpus": int(source.uses(SETUP, "cpumask_scnprintf")),
        "nr_empty_pop_pages_variable": int(source.defines("pcpu_nr_empty_pop_pages")),
        # messages prefixed by pr_fmt ("percpu: ") rather than "PERCPU: "
        "messages_pr_fmt": int(source.defines("pr_fmt")),
        "banner_shows_address": int(source.says("pcpu_embed_first_chunk", "@%p")),
        # the series that made chunk->map hold offsets with an in-use bit
        # ("percpu: store offsets instead of lengths in ->map[]") added first_free
        "chunk_map_holds_offsets": int("first_free" in chunk),
        "chunk_base_addr": int("base_addr" in chunk),
        "chunk_vms": int("vms" in chunk),
        "chunk_data": int("data" in chunk),
        "chunk_first_free": int("first_free" in chunk),
        "chunk_nr_populated": int("nr_populated" in chunk),
    }


STRUCTS = ("pcpu_group_info", "pcpu_alloc_info", "pcpu_chunk")
REQUIRED_STRUCTS = ("pcpu_alloc_info", "pcpu_group_info")

def _facts_and_bitmap_facts(source: RevisionView) -> Mapping[str, int]:
    """The area-map eras' facts, and the bitmap allocator's where the
    revision has it (harness/core/generations/_bitmap_eras.py)."""
    return {**_facts(source), **alloc_info_bitmap_facts(source)}


SPEC = GenerationSpec(
    name=GenerationName("alloc_info"),
    since="2009-08",
    shape="a struct pcpu_alloc_info, returning the unit size",
    detects=_detects,
    structs=STRUCTS,
    required_structs=REQUIRED_STRUCTS,
    scenarios={
        "embed": called("pcpu_embed_first_chunk"),
        "page": called("pcpu_page_first_chunk"),
        "lpage": ScenarioSpec(
            ("pcpu_build_alloc_info", "pcpu_lpage_first_chunk", "pcpu_free_alloc_info"),
            driver="generations/alloc_info_lpage.c.j2"),
    },
    # The large page allocator's job went to embed with a large atom, so a
    # case of it runs there on the revisions after its removal.
    successors={"lpage": "embed"},
    state_variables=STATE_VARIABLES,
    array_state=ARRAY_STATE,
    constants=unit_map.CONSTANTS,
    entry_args=unit_map.ENTRY_ARGS,
    setup_args_glue="generations/setup_args_alloc_info.c.j2",
    counted_functions=(),
    arch_flows=("x86", "sparc64"),
    vocabulary="2009",
    model="alloc_info",
    # 4.14 - 5.2 kept this signature but had the bitmap allocator: their
    # facts hand their boots to its model (py_impl/bitmap_eras.py).
    facts=_facts_and_bitmap_facts,
)

"""The unit_map generation (July 2009, "percpu: allow non-linear / sparse
cpu -> unit mapping"): pcpu_setup_first_chunk() takes the area sizes, the
base address and a cpu -> unit map, and returns the unit size.  Its large
page allocator builds the map in a call of its own before committing.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.core.generation import (
    EntryArgs,
    GenerationName,
    GenerationSpec,
    RevisionView,
    ScenarioSpec,
    called,
)


def _detects(return_type: str, params: tuple[str, ...]) -> bool:
    compact = [p.replace(" ", "") for p in params]
    return (len(compact) == 6 and compact[4] == "void*" and compact[5] in ("constint*", "int*")
            and not any("pcpu_alloc_info" in p for p in params))


STATE_VARIABLES = (
    "pcpu_unit_map",
    "pcpu_first_unit_cpu",
    "pcpu_last_unit_cpu",
    "pcpu_nr_units",
    "pcpu_unit_pages",
    "pcpu_unit_size",
    "pcpu_chunk_size",
    "pcpu_nr_slots",
    "pcpu_chunk_struct_size",
    "pcpu_first_chunk",
    "pcpu_reserved_chunk",
    "pcpu_reserved_chunk_limit",
    "pcpu_base_addr",
)
# PERCPU_DYNAMIC_RESERVE is also what a case's "auto" dynamic size means
# where the API has no auto (EntryArgs.unsigned_dyn_size).
CONSTANTS = ("PERCPU_DYNAMIC_EARLY_SIZE", "PERCPU_DYNAMIC_RESERVE", "PERCPU_MODULE_RESERVE",
             "PCPU_MIN_UNIT_SIZE")
# The shim's callbacks and the case's sizes, for every entry point since 2009.
ENTRY_ARGS = EntryArgs(
    callbacks={
        "pcpu_fc_cpu_distance_fn_t": "shim_cpu_distance",
        "pcpu_fc_cpu_to_node_fn_t": "shim_fc_cpu_to_node",
        # the callbacks of the typedef's shape and the source's boot
        # allocator (shim/runtime.h)
        "pcpu_fc_alloc_fn_t": "SHIM_FC_ALLOC(pcpu_fc_alloc_fn_t)",
        "pcpu_fc_free_fn_t": "SHIM_FC_FREE",
        "pcpu_fc_populate_pte_fn_t": "shim_fc_populate_pte",
        "pcpu_fc_map_fn_t": "shim_fc_map",
    },
    sizes={"static": "static_size", "reserve": "reserved_size", "dyn": "dyn_size",
           "atom": "atom_size"},
    unsigned_dyn_size="(c->dyn_size < 0 ? (size_t)PERCPU_DYNAMIC_RESERVE : (size_t)c->dyn_size)",
)

# the page allocator's name until 00ae4064b14, and after
PAGE_ALLOCATORS = ("pcpu_4k_first_chunk", "pcpu_page_first_chunk")


def _facts(source: RevisionView) -> Mapping[str, int]:
    """What the model needs of a revision: its boot messages' words and
    whether setup's @dyn_size still takes -1 for auto (py_impl/unit_map.py)."""
    page = next((name for name in PAGE_ALLOCATORS if source.defines(name)), PAGE_ALLOCATORS[-1])
    dyn_type = dict((name, ctype) for ctype, name in source.params("pcpu_setup_first_chunk") or ())
    return {
        "uniform_messages": int(source.says("pcpu_embed_first_chunk", "pages/cpu @")),
        "page_message_psize": int(source.says(page, "%s pages/cpu")),
        "page_message_dyn": int(source.says(page, " d%zu")),
        "setup_dyn_auto": int(dyn_type.get("dyn_size", "").replace(" ", "") == "ssize_t"),
    }


SPEC = GenerationSpec(
    name=GenerationName("unit_map"),
    since="2009-07",
    shape="sizes plus a unit_map",
    detects=_detects,
    structs=("pcpu_chunk",),
    required_structs=(),
    scenarios={
        "embed": called("pcpu_embed_first_chunk"),
        # the page allocator was pcpu_4k_first_chunk() until 00ae4064b14
        "page": ScenarioSpec(("pcpu_page_first_chunk",), entry="pcpu_page_first_chunk",
                             fallback=called("pcpu_4k_first_chunk")),
        "lpage": ScenarioSpec(("pcpu_lpage_build_unit_map", "pcpu_lpage_first_chunk"),
                              driver="generations/unit_map_lpage.c.j2"),
    },
    successors={},
    state_variables=STATE_VARIABLES,
    array_state={},
    constants=CONSTANTS,
    entry_args=ENTRY_ARGS,
    setup_args_glue="generations/setup_args_unit_map.c.j2",
    counted_functions=(),
    arch_flows=("x86", "sparc64"),
    vocabulary="2009",
    model="unit_map",
    facts=_facts,
)

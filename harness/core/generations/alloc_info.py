"""The alloc_info generation (August 2009, "percpu: introduce
pcpu_alloc_info and pcpu_group_info"): pcpu_setup_first_chunk() takes a
struct pcpu_alloc_info describing the groups of units, and returns the
unit size.  Later revisions of it killed the large page allocator
("percpu: kill lpage first chunk allocator") and added the group and
offset variables the modern generation kept.
"""

from __future__ import annotations

from harness.core.generation import GenerationName, GenerationSpec, ScenarioSpec, called
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
)
# The arrays among them, and what counts each.
ARRAY_STATE = {
    "pcpu_group_offsets": "pcpu_nr_groups",
    "pcpu_group_sizes": "pcpu_nr_groups",
    "pcpu_unit_offsets": "nr_cpu_ids",
}
STRUCTS = ("pcpu_group_info", "pcpu_alloc_info", "pcpu_chunk")
REQUIRED_STRUCTS = ("pcpu_alloc_info", "pcpu_group_info")

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
    facts=alloc_info_bitmap_facts,
)

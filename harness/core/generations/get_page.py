"""The get_page generation, the first API (February - July 2009, "percpu:
give more latitude to arch specific first chunk initialization", up to
"percpu: allow non-linear / sparse cpu -> unit mapping"):
pcpu_setup_first_chunk() takes a pcpu_get_page_fn_t callback handing it
each cpu's pages, the sizes, an optional base address and an optional
pte callback, and returns the unit size.  Units are a cpu number apart:
there is no cpu -> unit map yet.

Its parameters changed six times (reserved_size came in March, "-1 for
auto" replaced "0 for auto", the pte callback went in July, and the last
revision before the unit map dropped the callback itself), and the first
chunk allocators moved into mm/percpu.c one by one: embed in March, the
4k (page) allocator in July.  Where a revision lacks one, the glue plays
the arch code of the time (kernel_shim/runtime/get_page.c).  The facts
below tell the model which of these a revision is.  The large page
allocator of its last four revisions is built only with
CONFIG_NEED_MULTIPLE_NODES; the build defines that where it is so
(harness/extract/stubs.py), and lpage runs there.
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
from harness.core.generations import unit_map

SETUP = "pcpu_setup_first_chunk"


def _detects(return_type: str, params: tuple[str, ...]) -> bool:
    compact = [p.replace(" ", "") for p in params]
    if return_type == "void" or any("pcpu_alloc_info" in p for p in compact):
        return False
    if any("pcpu_get_page_fn_t" in p for p in compact):
        return True
    # Its last revision: the callback gone, the unit map not there yet.
    return (len(compact) == 5 and compact[4] == "void*"
            and all(p in ("size_t", "ssize_t") for p in compact[:4]))


def _facts(source: RevisionView) -> Mapping[str, int]:
    """Which form of the API a revision has, for the model."""
    setup = source.params(SETUP) or ()

    def takes(prefix: str) -> bool:
        return any(name.startswith(prefix) for _, name in setup)

    page = 0
    if source.defines("pcpu_4k_first_chunk"):
        # At first the 4k allocator handed setup the static pages to map;
        # from "percpu: make 4k first chunk allocator map memory" on it
        # maps every page of the unit into a vm area of its own.
        page = 2 if source.uses("pcpu_4k_first_chunk", "vm_area_register_early") else 1
    return {
        "setup_takes_pages": int(takes("get_page")),
        "setup_maps_pages": int(takes("populate")),
        "setup_takes_reserved": int(takes("reserved")),
        # "0 for auto" until "percpu: use negative for auto ..."
        "setup_auto_is_zero": int(all(ctype != "ssize_t" for ctype, _ in setup)),
        "embed_allocator": int(source.defines("pcpu_embed_first_chunk")),
        "page_allocator": page,
        "first_chunk_variable": int(source.defines("pcpu_first_chunk")),
    }


# The glue's part where mm/percpu.c has no allocator of its own yet.
GLUE = (SETUP,)

ENTRY_ARGS = EntryArgs(
    callbacks={
        "pcpu_get_page_fn_t": "shim_glue_get_page",
        # no alignment in this API's allocation callback
        "pcpu_fc_alloc_fn_t": "shim_fc_alloc_size_aligned",
        "pcpu_fc_free_fn_t": "shim_fc_free",
        # pcpu_populate_pte_fn_t, pcpu_fc_populate_pte_fn_t from July on
        "populate_pte_fn_t": "shim_fc_populate_pte",
        "pcpu_fc_map_fn_t": "shim_fc_map",
    },
    # pcpu_lpage_first_chunk()'s @lpage_size is the case's large page (atom).
    sizes={**unit_map.ENTRY_ARGS.sizes, "lpage": "atom_size"},
    unsigned_dyn_size=unit_map.ENTRY_ARGS.unsigned_dyn_size,
    # embed's unit_size (March - July): "-1 for auto", what every caller passed
    fixed={"unit": "-1"},
)

SPEC = GenerationSpec(
    name=GenerationName("get_page"),
    since="2009-02-24",
    shape="a pcpu_get_page_fn_t callback and sizes",
    detects=_detects,
    structs=("pcpu_chunk",),
    required_structs=(),
    scenarios={
        "embed": ScenarioSpec(
            ("pcpu_embed_first_chunk",), entry="pcpu_embed_first_chunk",
            fallback=ScenarioSpec(GLUE, driver="generations/get_page_embed.c.j2")),
        "page": ScenarioSpec(
            ("pcpu_4k_first_chunk",), entry="pcpu_4k_first_chunk",
            fallback=ScenarioSpec(GLUE, driver="generations/get_page_page.c.j2")),
        "lpage": called("pcpu_lpage_first_chunk"),
    },
    successors={},
    # The unit_map generation's names; a revision reports those it defines.
    state_variables=unit_map.STATE_VARIABLES,
    array_state={},
    constants=unit_map.CONSTANTS,
    entry_args=ENTRY_ARGS,
    setup_args_glue="generations/setup_args_get_page.c.j2",
    counted_functions=(),
    # x86's setup_per_cpu_areas() of the time chose among allocators of its
    # own (remap, embed, 4k): not modelled.
    arch_flows=(),
    # Results name their fields as the unit_map generation's do; a result
    # naming no generation is read in this, the oldest, vocabulary.
    vocabulary="2009",
    model="get_page",
    facts=_facts,
)

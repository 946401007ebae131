"""The setup_static generation, the dynamic allocator's first days
(February 2009, "percpu: implement new dynamic percpu allocator", until
"percpu: give more latitude to arch specific first chunk initialization"
renamed the function and made the get_page generation): the first chunk
is set up by pcpu_setup_static(populate_pte_fn, pages, cpu_size), handed
every possible cpu's static pages in one array, which it maps into a vm
area of its own.  It returns the unit size, which it chooses itself.

mm/percpu.c has no first chunk allocator yet: the glue plays the arch code
that allocated and filled the pages (kernel_shim/runtime/get_page.c).
There is no embedding: the only way is page by page.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.core.generation import GenerationName, GenerationSpec, RevisionView, ScenarioSpec
from harness.core.generations import get_page, unit_map

SETUP = "pcpu_setup_static"


def _detects(return_type: str, params: tuple[str, ...]) -> bool:
    compact = [p.replace(" ", "") for p in params]
    return (return_type != "void" and len(compact) == 3 and "pte_fn_t" in compact[0]
            and compact[1] == "structpage**")


def _facts(source: RevisionView) -> Mapping[str, int]:
    # Units were a power of two of pages until "percpu: remove unit_size
    # power-of-2 restriction", which also added the slot for empty chunks.
    return {"unit_power_of_two": int(source.defines("pcpu_unit_pages_shift"))}


SPEC = GenerationSpec(
    name=GenerationName("setup_static"),
    since="2009-02-20",
    shape="a pcpu_populate_pte_fn_t, a page array and the static size (pcpu_setup_static())",
    detects=_detects,
    structs=("pcpu_chunk",),
    required_structs=(),
    scenarios={
        "page": ScenarioSpec((SETUP,), driver="generations/setup_static_page.c.j2"),
    },
    successors={},
    # Those the revision defines: the unit and chunk sizes, slots and base.
    state_variables=unit_map.STATE_VARIABLES,
    array_state={},
    # Its minimum unit: a shift of pages at first, then a number of pages.
    constants=("PCPU_MIN_UNIT_PAGES_SHIFT", "PCPU_MIN_UNIT_PAGES"),
    entry_args=get_page.ENTRY_ARGS,
    setup_args_glue="generations/setup_args_setup_static.c.j2",
    counted_functions=(),
    arch_flows=(),
    vocabulary="2009",
    model="setup_static",
    facts=_facts,
    setup_function=SETUP,
)

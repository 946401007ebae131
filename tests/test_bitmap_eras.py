"""The bitmap chunk allocator's eras (4.14 on): the facts read from a
revision's source, the rules the modern model takes from them, and the
routing of the alloc_info revisions that have the allocator to that model.

Hermetic: the sources are invented fragments of the shapes the facts ask
about (no kernel text); the tree sweep (PERCPU_DIFF_TREES) checks the real
revisions agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import py_impl
from harness.compile import shims
from harness.core import cases, kernel_files
from harness.core.generations import _bitmap_eras, alloc_info, modern
from harness.extract import ctext, detect

# An invented revision with the bitmap allocator, today's form: each part
# is one fact's evidence, so a test can drop or swap it.
BLOCK = "#define PCPU_BITMAP_BLOCK_SIZE (1 << 12)\n"
FIRST_CHUNK = "static void *pcpu_alloc_first_chunk(unsigned long at, int bytes) { return 0; }\n"
CHUNK_TODAY = "struct pcpu_chunk { int free_bytes; bool isolated; int nr_pages; };\n"
CHUNK_HINTS = ("struct pcpu_chunk { int free_bytes; int contig_bits; int contig_bits_start;\n"
               "\tint first_bit; int nr_pages; };\n")
SLOTS = "int pcpu_sidelined_slot;\nstatic int pcpu_free_slot;\nint pcpu_to_depopulate_slot;\n"
POPULATED = "int pcpu_nr_populated;\n"
TYPES = "enum fx_kind { FX_ROOT, PCPU_NR_CHUNK_TYPES };\n"
EMBED_TODAY = ("int pcpu_embed_first_chunk(size_t reserved_size, size_t dyn_size,\n"
               "\t\tsize_t atom_size, pcpu_fc_cpu_distance_fn_t distance)\n"
               "{ pr_info(\"Embedded %zu pages/cpu s%zu\\n\", 1, 2); return 0; }\n")
EMBED_CALLBACKS = ("int pcpu_embed_first_chunk(size_t reserved_size, size_t dyn_size,\n"
                   "\t\tsize_t atom_size, pcpu_fc_alloc_fn_t grab, pcpu_fc_free_fn_t drop)\n"
                   "{ pr_info(\"Embedded %zu pages/cpu @%p s%zu\\n\", 1, grab, 2); return 0; }\n")
SETUP_VIRT = ("int pcpu_setup_first_chunk(const struct pcpu_alloc_info *ai, void *base)\n"
              "{ void *p = memblock_virt_alloc(64, 0); return p ? 0 : 1; }\n")
SETUP_TODAY = ("void pcpu_setup_first_chunk(const struct pcpu_alloc_info *ai, void *base)\n"
               "{ void *p = memblock_alloc(64, 64); (void)p; }\n")

TODAY = BLOCK + FIRST_CHUNK + CHUNK_TODAY + SLOTS + POPULATED + EMBED_TODAY + SETUP_TODAY
OLDEST = BLOCK + FIRST_CHUNK + CHUNK_HINTS + EMBED_CALLBACKS + SETUP_VIRT


def view(c_text: str) -> detect.SourceView:
    return detect.SourceView(ctext.split(c_text, kernel_files.PERCPU_C))


def facts(c_text: str) -> dict[str, int]:
    return dict(_bitmap_eras.bitmap_facts(view(c_text)))


# --- the revision view's two new questions -----------------------------------------

def test_the_view_lists_a_structs_fields_and_reads_a_functions_words() -> None:
    source = view(OLDEST)
    assert source.fields("pcpu_chunk") == ("free_bytes", "contig_bits", "contig_bits_start",
                                           "first_bit", "nr_pages")
    assert source.fields("pcpu_nothing") is None
    assert source.says("pcpu_embed_first_chunk", "pages/cpu @")
    assert not view(TODAY).says("pcpu_embed_first_chunk", "pages/cpu @")
    assert not source.says("pcpu_absent", "anything")


# --- facts ----------------------------------------------------------------------

def test_an_older_allocator_reports_no_facts_to_either_generation() -> None:
    older = FIRST_CHUNK + CHUNK_TODAY  # no bitmap blocks
    assert facts(older) == {}
    assert alloc_info.SPEC.facts is not None and modern.SPEC.facts is not None
    # (the area-map eras' own facts, harness/core/generations/alloc_info.py, remain)
    assert "bitmap_chunks" not in dict(alloc_info.SPEC.facts(view(older)))
    assert facts(BLOCK) == {}  # the blocks without the first chunk's regions


def test_todays_revision_has_todays_rules() -> None:
    assert facts(TODAY) == {
        "bitmap_chunks": 1, "chunk_hint_fields": 0, "chunk_isolated": 1,
        "slot_to_depopulate": 1, "slot_sidelined": 1, "slot_free_variable": 1,
        "empty_pop_pages_by_type": 0,
        "counts_populated": 1, "fc_callbacks": 0, "banner_base": 0, "virt_alloc": 0,
    }


def test_the_oldest_bitmap_revision_has_the_oldest_rules() -> None:
    assert facts(OLDEST) == {
        "bitmap_chunks": 1, "chunk_hint_fields": 1, "chunk_isolated": 0,
        "slot_to_depopulate": 0, "slot_sidelined": 0, "slot_free_variable": 0,
        "empty_pop_pages_by_type": 0,
        "counts_populated": 0, "fc_callbacks": 1, "banner_base": 1, "virt_alloc": 1,
    }


@pytest.mark.parametrize(("evidence", "fact"), [
    ("int pcpu_sidelined_slot;\n", "slot_sidelined"),
    ("int pcpu_to_depopulate_slot;\n", "slot_to_depopulate"),
    ("static int pcpu_free_slot;\n", "slot_free_variable"),
    (POPULATED, "counts_populated"),
    (TYPES, "empty_pop_pages_by_type"),
])
def test_each_defined_name_is_one_fact(evidence: str, fact: str) -> None:
    assert facts(OLDEST)[fact] == 0
    assert facts(OLDEST + evidence)[fact] == 1


def test_the_alloc_info_generation_adds_its_glues_pte_callback() -> None:
    assert alloc_info.SPEC.facts is not None
    got = dict(alloc_info.SPEC.facts(view(OLDEST)))
    assert got.items() >= {**facts(OLDEST), "pte_callback_per_page": 1}.items()


# --- the model's rules ------------------------------------------------------------

def model(generation: str, constants: dict[str, int] | None = None, **fields: Any
          ) -> dict[str, Any]:
    fields.setdefault("possible", (0, 1, 2, 3))
    fields.setdefault("scenario", "embed")
    case = cases.Case(name="x", nr_cpus=8, **fields).validate()
    return dict(py_impl.run_model(generation, case, constants))


def oldest_facts() -> dict[str, int]:
    return {**facts(OLDEST), "pte_callback_per_page": 1}


def test_todays_facts_change_nothing() -> None:
    assert model("modern", facts(TODAY)) == model("modern")


def test_the_oldest_rules_shape_the_state() -> None:
    today = model("modern")["state"]
    old = model("modern", facts(OLDEST))["state"]
    assert old["nr_slots"] == today["nr_slots"] - 2  # no sidelined, no to_depopulate slot
    # the free slot is the last and has no variable; the first chunk's is the same
    assert not {"sidelined_slot", "free_slot", "to_depopulate_slot"} & set(old)
    assert old["first_chunk_slot"] == today["first_chunk_slot"]
    assert "nr_populated" not in old
    chunk = old["first_chunk"]
    assert "isolated" not in chunk
    assert chunk["contig_bits"] == chunk["free_bytes"] // 4
    assert chunk["contig_bits_start"] == chunk["first_bit"] == chunk["start_offset"] // 4


def test_counts_per_chunk_type_are_a_list_of_the_root_type() -> None:
    today = model("modern")["state"]["nr_empty_pop_pages"]
    assert model("modern", {"bitmap_chunks": 1, "empty_pop_pages_by_type": 1}
                 )["state"]["nr_empty_pop_pages"] == [today]


def test_the_oldest_banner_names_the_base() -> None:
    log = model("modern", facts(OLDEST))["log"]
    assert "Embedded 19 pages/cpu @<bootmem> s40960" in log


def test_the_callback_era_fails_the_asked_callback_and_says_nothing() -> None:
    failed = model("modern", facts(OLDEST), fail_fc_alloc=0)
    assert failed["return"] == -12
    assert model("modern", fail_fc_alloc=0)["return"] == 0  # mm/percpu.c's own allocator
    numa = model("modern", facts(OLDEST), numa=True, cpu_node=(0, 0, 1, 1),
                 distance=((10, 20), (20, 10)))
    assert "per cpu data" not in numa["log"]
    assert "node_bytes" not in numa["bootmem"]


def test_memblock_virt_alloc_is_not_counted_by_fail_bootmem() -> None:
    # Today the first counted call is the alloc_info's: the boot fails.
    assert model("modern", fail_bootmem=0)["return"] == -12
    # So it is in the oldest era; its setup's own allocations are not counted.
    today = model("modern", fail_bootmem=3)
    old = model("modern", facts(OLDEST), fail_bootmem=3)
    assert today["outcome"]["kind"] == "panic"
    assert old["outcome"] == {"kind": "ok"}


def test_an_alloc_info_revision_with_bitmaps_is_judged_by_the_bitmap_model() -> None:
    routed = model("alloc_info", oldest_facts())
    assert routed["generation"] == "alloc_info"
    assert routed["state"]["low_unit_cpu"] == 0 and "chunk_size" not in routed["state"]
    assert "chunk_size" in model("alloc_info")["state"]  # the 2009 model otherwise


def test_an_alloc_info_revisions_x86_flow_runs_on_the_bitmap_model() -> None:
    routed = model("alloc_info", oldest_facts(), scenario="x86")
    assert routed["arch"]["name"] == "x86"
    assert "chunk_size" not in routed["state"]
    assert "contig_bits" in routed["state"]["first_chunk"]
    assert "chunk_size" in model("alloc_info", scenario="x86")["state"]


def test_the_alloc_info_glues_pte_callback_counts_every_page() -> None:
    page = model("alloc_info", oldest_facts(), scenario="page")
    unit_pages = page["state"]["unit_pages"]
    assert page["bootmem"]["ptes_populated"] == 4 * unit_pages


# --- the glue: a state variable that is an array in one era ----------------------------

@dataclass
class Items:
    items: tuple[ctext.Item, ...]

    def all_items(self) -> tuple[ctext.Item, ...]:
        return self.items


def test_a_state_variable_defined_as_an_array_is_reported_by_element() -> None:
    c_file = ctext.split("int pcpu_nr_empty_pop_pages[FX_NR_KINDS];  /* one per kind */\n"
                         "int pcpu_nr_units;\n", kernel_files.PERCPU_C)
    h_file = ctext.split("extern int pcpu_nr_empty_pop_pages[];  /* the fixture's */\n",
                         kernel_files.PERCPU_H)
    extraction = Items(c_file.items + h_file.items)
    assert shims._fixed_arrays(extraction, ["pcpu_nr_units", "pcpu_nr_empty_pop_pages"]  # type: ignore[arg-type]
                               ) == ["pcpu_nr_empty_pop_pages"]

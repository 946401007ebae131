"""The get_page generation, the first API (February - July 2009).

Hermetic: two invented fixture kernels of its shape (tests/fixtures/kernels/
get_page, its first form with no allocator in mm/percpu.c, and
get_page_embed, its middle form with an embed allocator of its own),
detection of every form its signature took, the facts its model reads,
the glue that plays the arch code, and the model against the fixtures.
The tree tests build and check every revision of the generation in
PERCPU_DIFF_TREE's history.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import CaseFactory, ShimFactory, dir_snapshot, kernel

import py_impl
from harness.campaign import agree, generate
from harness.compile import shims
from harness.core import cases, generation, kernel_files
from harness.core.errors import UserError
from harness.core.generation import ScenarioSpec, SpecError
from harness.core.generations import get_page
from harness.extract import closure, ctext, detect
from harness.judge import compare, triage
from harness.report import console
from harness.run import server
from harness.sources import snapshot

FIRST = kernel("get_page")  # first form: size_t sizes, 0 for auto, glue for both
MIDDLE = kernel("get_page_embed")  # reserved, -1 for auto, an embed allocator
ENTRIES = triage.load_triage()


def parsed(path: Path) -> tuple[ctext.SourceFile, ctext.SourceFile]:
    snap = dir_snapshot(path)
    return closure.parse_files(snap.read(kernel_files.PERCPU_C), snap.read(kernel_files.PERCPU_H))


def facts_of(c_text: str, h_text: str = "") -> dict[str, int]:
    return dict(get_page.SPEC.facts(detect.SourceView(  # type: ignore[misc]
        ctext.split(c_text, kernel_files.PERCPU_C), ctext.split(h_text, kernel_files.PERCPU_H))))


# --- detection: every form the signature took -----------------------------------

FORMS = {
    "first (free_size, 0 for auto)": ("pcpu_get_page_fn_t", "size_t", "size_t", "size_t",
                                      "void *", "pcpu_populate_pte_fn_t"),
    "-1 for auto": ("pcpu_get_page_fn_t", "size_t", "ssize_t", "ssize_t", "void *",
                    "pcpu_populate_pte_fn_t"),
    "reserved": ("pcpu_get_page_fn_t", "size_t", "size_t", "ssize_t", "ssize_t", "void *",
                 "pcpu_populate_pte_fn_t"),
    "fc_ typedef": ("pcpu_get_page_fn_t", "size_t", "size_t", "ssize_t", "ssize_t", "void *",
                    "pcpu_fc_populate_pte_fn_t"),
    "no pte callback": ("pcpu_get_page_fn_t", "size_t", "size_t", "ssize_t", "size_t", "void *"),
    "no callback at all": ("size_t", "size_t", "ssize_t", "size_t", "void *"),
}


@pytest.mark.parametrize("types", FORMS.values(), ids=FORMS.keys())
def test_every_form_of_the_first_api_is_claimed_by_its_spec_alone(types: tuple[str, ...]
                                                                   ) -> None:
    claiming = [s.name for s in generation.all_specs() if s.detects("size_t", types)]
    assert claiming == ["get_page"]


def test_the_spec_claims_nothing_of_the_other_shapes() -> None:
    assert not get_page.SPEC.detects("int", ("int", "int"))
    assert not get_page.SPEC.detects("size_t", ("size_t", "size_t", "ssize_t", "size_t",
                                                "void *", "const int *"))
    assert not get_page.SPEC.detects("void", ("const struct pcpu_alloc_info *", "void *"))


def test_it_follows_setup_static_and_reads_results_in_2009_words() -> None:
    assert [s.name for s in generation.all_specs()][:2] == ["setup_static", "get_page"]
    assert get_page.SPEC.vocabulary == generation.named("unit_map").vocabulary


# --- facts: which form a revision has --------------------------------------------

def test_the_fixtures_facts() -> None:
    assert detect.facts(detect.detect(*parsed(FIRST)), *parsed(FIRST)) == {
        "setup_takes_pages": 1, "setup_maps_pages": 1, "setup_takes_reserved": 0,
        "setup_auto_is_zero": 1, "embed_allocator": 0, "page_allocator": 0,
        # the fixture keeps no chunk slot lists (harness/core/generation.py)
        "first_chunk_variable": 1, "chunk_slot_lists": 0}
    middle = detect.facts(detect.detect(*parsed(MIDDLE)), *parsed(MIDDLE))
    assert (middle["setup_takes_reserved"], middle["setup_auto_is_zero"],
            middle["embed_allocator"]) == (1, 0, 1)


# Invented allocators of the two 4k shapes: handing the static pages over to
# be mapped, or mapping whole units into a vm area of their own.
FOURK_HANDS_OVER = """
ssize_t pcpu_4k_first_chunk(size_t s, size_t r, void *a, void *f, void *p) { return hand(s); }
"""
FOURK_MAPS = """
ssize_t pcpu_4k_first_chunk(size_t s, size_t r, void *a, void *f, void *p)
{ vm_area_register_early(&v, 4096); return map_them(s); }
"""
SETUP = "size_t pcpu_setup_first_chunk(size_t s, size_t r, ssize_t d, size_t u, void *b) { }\n"


def test_facts_tell_the_4k_allocators_apart_and_the_callback_gone() -> None:
    assert facts_of(SETUP)["page_allocator"] == 0
    assert facts_of(SETUP + FOURK_HANDS_OVER)["page_allocator"] == 1
    last = facts_of(SETUP + FOURK_MAPS)
    assert last["page_allocator"] == 2
    assert (last["setup_takes_pages"], last["setup_maps_pages"], last["setup_auto_is_zero"],
            last["first_chunk_variable"]) == (0, 0, 0, 0)


# --- extraction and glue: the way each scenario runs ------------------------------

def test_a_revision_without_allocators_runs_both_scenarios_in_the_glue() -> None:
    rendered = shims.render(dir_snapshot(FIRST))
    assert rendered.api.generation == "get_page"
    assert rendered.extraction.scenarios == ("embed", "page")
    assert rendered.extraction.way("embed").driver == "generations/get_page_embed.c.j2"
    assert rendered.extraction.way("page").driver == "generations/get_page_page.c.j2"
    # sizes "0 for auto" in this form; the callbacks by name
    assert ("pcpu_setup_first_chunk(shim_glue_get_page, c->static_size, 0, 0, NULL, "
            "shim_fc_populate_pte)") in rendered.tu_text
    assert '"setup_auto_is_zero"' in rendered.tu_text


def test_a_revisions_own_allocator_is_called_where_it_has_one() -> None:
    rendered = shims.render(dir_snapshot(MIDDLE))
    assert rendered.extraction.way("embed").entry == "pcpu_embed_first_chunk"
    assert rendered.extraction.way("page").driver == "generations/get_page_page.c.j2"
    # embed's unit_size is left to it: EntryArgs.fixed
    assert ("pcpu_embed_first_chunk(c->static_size, c->reserved_size, c->dyn_size, -1)"
            in rendered.tu_text)
    assert ("pcpu_setup_first_chunk(shim_glue_get_page, c->static_size, c->reserved_size, "
            "-1, -1, NULL, shim_fc_populate_pte)") in rendered.tu_text


def test_the_large_page_allocator_runs_where_numa_builds_had_it() -> None:
    # The middle fixture builds it under CONFIG_NEED_MULTIPLE_NODES only, as
    # its era did: the build defines that, so lpage is one of its scenarios.
    rendered = shims.render(dir_snapshot(MIDDLE))
    assert rendered.extraction.scenarios == ("embed", "page", "lpage")
    assert ("pcpu_lpage_first_chunk(c->static_size, c->reserved_size, c->dyn_size, "
            "c->atom_size, shim_fc_alloc_size_aligned, shim_fc_free, shim_fc_map)"
            in rendered.tu_text)
    assert shims.render(dir_snapshot(FIRST)).extraction.scenarios == ("embed", "page")


def test_a_large_page_written_before_it_is_mapped_shows_through_the_mapping(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    # The fixture copies the static data into each large page, then maps it:
    # without an MMU only the map callback's copy puts it in the vm area.
    case = make_case("lpage", scenario="lpage", atom_size=2 << 20)
    result = server.run_one(make_shim(MIDDLE), case)
    assert result["return"] == 2 << 20
    assert result["static_copies"]["bad_cpus"] == []
    assert result["bootmem"]["maps"] == result["bootmem"]["fc_frees"] == 3
    model = py_impl.run_model("get_page", case, result["constants"])
    assert model["return"] == 2 << 20
    assert model["bootmem"]["fc_free_bytes"] == result["bootmem"]["fc_free_bytes"]


def test_a_parameter_the_glue_cannot_name_is_refused_with_its_name() -> None:
    proto = detect.parse_prototype("size_t pcpu_setup_first_chunk(size_t static_size, "
                                   "int colour);")
    with pytest.raises(UserError, match="no meaning of its parameter 'int colour'"):
        shims.call_by_prefix(proto, {"static": "c->static_size"})


def test_every_way_of_a_scenario_is_checked() -> None:
    broken = ScenarioSpec(("pcpu_embed_first_chunk",), entry="pcpu_embed_first_chunk",
                          fallback=ScenarioSpec(("pcpu_setup_first_chunk",)))
    with pytest.raises(SpecError, match="scenario 'embed' needs either an entry point"):
        dataclasses.replace(get_page.SPEC, scenarios={"embed": broken})


# --- boot: the fixture kernels in the shim -----------------------------------------

@pytest.mark.parametrize("scenario", ["embed", "page"])
@pytest.mark.parametrize("path", [FIRST, MIDDLE], ids=["first", "middle"])
def test_both_scenarios_boot(path: Path, scenario: str, make_shim: ShimFactory,
                             make_case: CaseFactory) -> None:
    result = server.run_one(make_shim(path), make_case(scenario, scenario=scenario))
    assert result["outcome"] == {"kind": "ok"}
    assert result["generation"] == "get_page"
    assert result["return"] == 64 << 10
    args = result["setup_args"]
    assert args["get_page_fn"] is True
    assert args["populate_pte_fn"] is (scenario == "page")
    assert ("reserved_size" in args) == (path == MIDDLE)
    state = result["state"]
    # a unit per cpu id up to the last possible one (4): 5 units
    assert state["chunk_size"] == 5 * (64 << 10)
    assert state["first_chunk"]["immutable"] is (scenario == "embed")
    assert state["base_addr"].startswith("phys:" if scenario == "embed" else "vmalloc:")
    assert result["static_copies"]["bad_cpus"] == []
    assert result["static_copies"]["checked"] == 3
    assert result["constants"]["setup_takes_pages"] == 1


def test_the_glue_page_is_mapped_where_the_chunk_says(make_shim: ShimFactory,
                                                      make_case: CaseFactory) -> None:
    # The glue fills the static pages; setup maps them: the vm area holds
    # the copies only if mapping brings the pages' contents along.
    result = server.run_one(make_shim(FIRST), make_case("page", scenario="page",
                                                        static_size=3 * 4096 + 5))
    assert result["static_copies"]["bad_cpus"] == []
    assert result["bootmem"]["fc_allocs"] == 3 * 4
    assert result["bootmem"]["ptes_populated"] == 3 * 4
    assert result["bootmem"]["maps"] == 3


def test_a_failing_page_allocation_gives_everything_back(make_shim: ShimFactory,
                                                         make_case: CaseFactory) -> None:
    case = make_case("page-fails", scenario="page", fail_fc_alloc=25)
    result = server.run_one(make_shim(FIRST), case)
    assert result["return"] == -12
    assert "setup_args" not in result
    assert result["bootmem"]["fc_frees"] == result["bootmem"]["fc_allocs"] == 25
    model = py_impl.run_model("get_page", case, result["constants"])
    assert (model["return"], model["bootmem"]["fc_frees"]) == (-12, 25)


def test_bootmem_hands_out_zeroed_memory_again(make_shim: ShimFactory,
                                               make_case: CaseFactory) -> None:
    # The fixture frees a page table of several pages per cpu before it
    # allocates its chunk, which lands there: alloc_bootmem() clears it.
    static = 5 << 20
    result = server.run_one(make_shim(FIRST), make_case("reuse", scenario="page",
                                                        possible=(0, 1), static_size=static))
    assert result["state"]["first_chunk"]["map"] == [-static]


def test_the_glue_embeds_a_unit_per_cpu_id_and_gives_back_the_rest(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    result = server.run_one(make_shim(FIRST), make_case("embed", scenario="embed",
                                                        static_size=40960, dyn_size=100))
    # 40960 + 100 rounds to 11 pages, kept for each of cpus 0, 2 and 4
    assert result["static_copies"]["chunk_held"] == 3 * 11 * 4096
    assert result["setup_args"]["dyn_size"] == 11 * 4096 - 40960
    assert result["bootmem"]["bad_free_count"] == 0


# --- the model ---------------------------------------------------------------------

def test_the_model_alone_takes_the_last_form_with_the_callback() -> None:
    result = py_impl.run_model("get_page", cases.Case("x", "page", 8, (0, 2, 4)))
    assert result["outcome"] == {"kind": "ok"}
    assert result["log"] == "<6>PERCPU: 16 4k pages per cpu, static data 40960 bytes\n"
    assert result["setup_args"]["unit_size"] == 64 << 10
    assert result["state"]["chunk_size"] == 5 * (64 << 10)


def test_the_first_form_leaves_auto_sizes_as_zero() -> None:
    facts = {"setup_auto_is_zero": 1, "setup_takes_reserved": 0, "setup_maps_pages": 1,
             "embed_allocator": 0, "page_allocator": 0}
    case = cases.Case("x", "page", 8, (0, 1), static_size=40960, reserved_size=8192)
    result = py_impl.run_model("get_page", case, facts)
    assert result["setup_args"] == {"get_page_fn": True, "static_size": 40960,
                                    "dyn_size": 0, "unit_size": 0, "base_addr": None,
                                    "populate_pte_fn": True}
    assert result["state"]["first_chunk"]["free_size"] == (64 << 10) - 40960
    assert "reserved_chunk" not in result["state"]
    assert result["log"] == ""


def agreement(shim: shims.Shim, label: str, scenario: str, count: int
              ) -> list[agree.Judged]:
    batch = generate.generate(count, 3, scenario, shim.config.nr_cpus)
    return list(agree.agree(shim, generation.GenerationName("get_page"), label, batch,
                            ENTRIES))


@pytest.mark.parametrize(("path", "scenario"), [
    (FIRST, "embed"), (FIRST, "page"), (MIDDLE, "embed"), (MIDDLE, "page"), (MIDDLE, "lpage")],
    ids=["first-embed", "first-page", "middle-embed", "middle-page", "middle-lpage"])
def test_the_model_agrees_with_the_fixtures(path: Path, scenario: str,
                                            make_shim: ShimFactory) -> None:
    for verdict in agreement(make_shim(path, nr_cpus=64), str(path), scenario, 60):
        fields = {item.difference.field for item in verdict.labelled if item.entry is None}
        # the middle fixture's allocators print their own words, not the kernel's
        if path == MIDDLE and scenario != "page":
            fields -= {"messages"}
        assert not fields, verdict.to_json()


# --- the history: every revision of the generation in PERCPU_DIFF_TREE -------------

TREE = os.environ.get("PERCPU_DIFF_TREE")


def generation_revisions() -> list[str]:
    """The revisions touching mm/percpu.c whose setup is of this generation."""
    assert TREE is not None
    git = ["git", "--git-dir", TREE] if (Path(TREE) / "HEAD").is_file() else ["git", "-C", TREE]
    revs = subprocess.run([*git, "log", "--format=%h", "--", kernel_files.PERCPU_C],
                          check=True, capture_output=True, text=True).stdout.split()
    found = []
    for rev in revs:
        snap = snapshot.load_snapshot(snapshot.SourceSpec("tree", Path(TREE), rev))
        c_file, h_file = closure.parse_files(snap.read(kernel_files.PERCPU_C),
                                             snap.read(kernel_files.PERCPU_H))
        try:
            if detect.detect(c_file, h_file).generation == "get_page":
                found.append(rev)
        except UserError:
            continue
    return found


tree = pytest.mark.skipif(not TREE, reason="PERCPU_DIFF_TREE not set: no kernel tree to read")


@pytest.mark.tree
@tree
def test_every_revision_of_the_generation_builds_boots_and_agrees() -> None:
    revisions = generation_revisions()
    assert len(revisions) >= 30, revisions
    for rev in revisions:
        snap = snapshot.load_snapshot(snapshot.SourceSpec("tree", Path(TREE or ""), rev))
        rendered = shims.render(snap)
        # lpage where the revision builds pcpu_lpage_first_chunk() (its last four)
        lpage = ("lpage",) if "pcpu_lpage_first_chunk" in snap.read(kernel_files.PERCPU_C) else ()
        assert rendered.extraction.scenarios == ("embed", "page", *lpage), rev
        shim = shims.build(rendered, shims.BuildConfig(nr_cpus=64))
        for scenario in rendered.extraction.scenarios:
            outcomes: dict[str, int] = {}
            for verdict in agreement(shim, snap.label, scenario, 40):
                kind = verdict.kernel["outcome"]["kind"]
                outcomes[kind] = outcomes.get(kind, 0) + 1
                assert verdict.verdict != "unexpected", (rev, verdict.to_json())
            # sparse masks BUG or crash before 74d46d6b2d2: triaged, not booted
            assert outcomes.get("ok", 0) >= 15, (rev, scenario, outcomes)


# A revision with its own embed allocator, the glue's pages and the reserved
# chunk limit of the time ("percpu: generalize embedding first chunk setup
# helper"): the named cases' get_page expectations are what it shows.
REPRESENTATIVE = "66c3a757722"


@pytest.mark.tree
@tree
def test_named_cases_show_their_get_page_entries_on_a_representative_revision() -> None:
    named = [cases.load_case(p) for p in sorted(Path(__file__).parents[1].glob("cases/*.toml"))
             if p.name != "triage.toml"]
    named = [c for c in named if "get_page" in c.expect and c.scenario in ("embed", "page")]
    assert len(named) >= 3
    snap = snapshot.load_snapshot(snapshot.SourceSpec("tree", Path(TREE or ""), REPRESENTATIVE))
    rendered = shims.render(snap)
    for case in named:
        shim = shims.build(rendered, shims.config_for(case.nr_cpus, case.page_shift, False))
        verdict = agree.judge(case, server.run_one(shim, case), generation.GenerationName(
            "get_page"), snap.label, ENTRIES)
        want = {v.strip() for v in case.expect["get_page"].split(",")} - {"agree"}
        got: set[Any] = {item.entry.id if item.entry else item.difference.describe()
                         for item in verdict.labelled}
        assert got == want, case.name


def test_the_unit_table_numbers_units_by_cpu() -> None:
    result = py_impl.run_model("get_page", cases.Case("x", "embed", 8, (0, 2, 4)))
    assert [(u.unit, u.cpu) for u in console.unit_layout(result)] == \
        [(0, 0), (1, None), (2, 2), (3, None), (4, 4)]


def test_old_and_new_compare_units_by_cpu_where_there_is_no_map() -> None:
    case = cases.Case("x", "embed", 8, (0, 2, 4))
    old = py_impl.run_model("get_page", case)
    new = py_impl.run_model("unit_map", case)
    assert compare.neutral(old)["state.unit_of_cpu"] == {0: 0, 2: 2, 4: 4}
    changed = {c.field for c in compare.compare_sides(old, new)}
    assert not any(f.startswith("state.unit_of_cpu") for f in changed)

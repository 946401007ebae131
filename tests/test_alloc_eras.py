"""The alloc_info generation's eras (2.6.32 - 4.9): the facts its spec reads
from a revision's source, and what the model does with each.

Hermetic: the sources are invented snippets of the shapes the facts look
for (no kernel text), the model runs on facts handed to it as the shim
reports them, with the constants.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sweep import judged

import py_impl
from harness.compile import shims
from harness.core import cases, kernel_files
from harness.core.cases import Case
from harness.core.generations import alloc_info
from harness.extract import ctext, detect
from harness.judge import triage
from harness.sources import snapshot
from py_impl.alloc_era import DMA_GOAL, Era, bootmem_offsets, mask_hex, offsets_map, placed_offsets


def facts_of(c_text: str) -> dict[str, int]:
    return dict(alloc_info.SPEC.facts(detect.SourceView(  # type: ignore[misc]
        ctext.split(c_text, kernel_files.PERCPU_C), ctext.split("", kernel_files.PERCPU_H))))


# Invented sources, one shape per fact.
SETUP_SIZE = "size_t pcpu_setup_first_chunk(const struct pcpu_alloc_info *info, void *at) { }\n"
SETUP_INT = "int pcpu_setup_first_chunk(const struct pcpu_alloc_info *info, void *at) { }\n"
EMBED_OLD = "ssize_t pcpu_embed_first_chunk(size_t r, ssize_t dyn_sz) { return 0; }\n"
EMBED_GROUPS = ("int pcpu_embed_first_chunk(size_t r, size_t dyn_sz, size_t atom,"
                " pcpu_fc_cpu_distance_fn_t far, pcpu_fc_alloc_fn_t get,"
                " pcpu_fc_free_fn_t put) { if (x > VMALLOC_END) return 1; return 0; }\n")
CHUNK_NEW = ("struct pcpu_chunk { int free_size; void *base_addr; int first_free;"
             " int nr_populated; void *data; };\n")
CHUNK_OLD = "struct pcpu_chunk { int free_size; struct vm_struct **vms; };\n"
MEMBLOCK_FC = ("static void *pcpu_dfl_fc_alloc(unsigned int c, size_t s, size_t a)"
               " { return memblock_virt_alloc_from_nopanic(s, a, 0); }\n")
VARIABLES = ("static int pcpu_atom_size;\nstatic int pcpu_nr_groups;\n"
             "const unsigned long *pcpu_unit_offsets;\nstatic unsigned int pcpu_low_unit_cpu;\n"
             "int pcpu_nr_empty_pop_pages = 0;\n")
VERBOSE_SETUP = ('int pcpu_setup_first_chunk(const struct pcpu_alloc_info *info, void *at)'
                 ' { pr_emerg("PERCPU: failed to initialize, %s", "x");'
                 ' cpumask_scnprintf(b, 9, m); return 0; }\n')


def test_the_first_revision_returns_the_unit_size_and_has_none_of_the_later_changes() -> None:
    facts = facts_of(SETUP_SIZE + EMBED_OLD + CHUNK_OLD + "static int pcpu_chunk_size;\n")
    assert facts["setup_returns_unit_size"] == 1
    assert facts["chunk_size_variable"] == 1
    assert not any(facts[name] for name in (
        "unit_offsets_variable", "atom_size_variable", "group_variables", "unit_cpu_by_address",
        "embed_allocates_per_group", "dyn_size_is_minimum", "boot_allocator_top_down",
        "chunk_base_addr", "chunk_first_free", "chunk_map_holds_offsets",
        "setup_failures_verbose", "messages_pr_fmt"))
    assert facts["chunk_vms"] == 1


def test_later_revisions_facts() -> None:
    facts = facts_of(VARIABLES + SETUP_INT + EMBED_GROUPS + CHUNK_NEW + MEMBLOCK_FC)
    for name in ("unit_offsets_variable", "atom_size_variable", "group_variables",
                 "unit_cpu_by_address", "embed_allocates_per_group", "dyn_size_is_minimum",
                 "embed_checks_vmalloc_space", "boot_allocator_top_down", "chunk_base_addr",
                 "chunk_first_free", "chunk_nr_populated", "chunk_data",
                 "chunk_map_holds_offsets", "nr_empty_pop_pages_variable"):
        assert facts[name] == 1, name
    assert facts["setup_returns_unit_size"] == 0
    assert facts["chunk_size_variable"] == 0
    assert facts["chunk_vms"] == 0


def test_verbose_failures_and_how_they_print() -> None:
    facts = facts_of(VERBOSE_SETUP)
    assert (facts["setup_failures_verbose"], facts["setup_failure_line_ends"],
            facts["possible_mask_over_nr_cpus"]) == (1, 0, 1)
    ended = facts_of(VERBOSE_SETUP.replace('%s"', '%s\\n"'))
    assert ended["setup_failure_line_ends"] == 1
    assert facts_of("#define pr_fmt(fmt) \"p: \" fmt\n" + SETUP_INT)["messages_pr_fmt"] == 1
    banner = 'int pcpu_embed_first_chunk(size_t r) { pr_info("E @%p", b); return 0; }\n'
    assert facts_of(banner)["banner_shows_address"] == 1


# --- the model on each era ---------------------------------------------------------

OLDEST: dict[str, int] = {"setup_returns_unit_size": 1, "chunk_size_variable": 1}
AREA_MAP = {  # 3.18's shape: every change of the generation
    "setup_returns_unit_size": 0, "unit_offsets_variable": 1, "chunk_size_variable": 0,
    "atom_size_variable": 1, "group_variables": 1, "unit_cpu_by_address": 1,
    "embed_allocates_per_group": 1, "embed_checks_vmalloc_space": 1,
    "embed_frees_after_allocating": 1,
    "boot_allocator_top_down": 1, "dyn_size_is_minimum": 1, "chunk_base_addr": 1,
    "chunk_data": 1, "chunk_first_free": 1, "chunk_nr_populated": 1,
    "chunk_map_holds_offsets": 1, "nr_empty_pop_pages_variable": 1,
    "setup_failures_verbose": 1, "possible_mask_over_nr_cpus": 1, "banner_shows_address": 1,
    "PERCPU_DYNAMIC_EARLY_SIZE": 12 << 10, "PERCPU_DYNAMIC_RESERVE": 20 << 10,
    "PCPU_MIN_UNIT_SIZE": 32 << 10,
}


def boot(case: Case, facts: dict[str, int]) -> Any:
    return py_impl.run_model("alloc_info", case, facts)


def test_no_facts_is_the_first_revision() -> None:
    case = Case("x", "embed", 8, (0, 1, 2, 3), static_size=40960, reserved_size=8192)
    assert Era.of({}) == Era()
    assert boot(case, {}) == boot(case, OLDEST | {"PERCPU_DYNAMIC_RESERVE": 20 << 10})


def test_the_area_map_era_state() -> None:
    case = Case("x", "page", 8, (0, 1, 2, 3), static_size=40960, reserved_size=8192)
    result = boot(case, AREA_MAP)
    assert result["return"] == 0
    state = result["state"]
    assert "chunk_size" not in state and "first_unit_cpu" not in state
    assert (state["low_unit_cpu"], state["high_unit_cpu"]) == (0, 3)
    # the page allocator asks for the early minimum only: 40960 + 8192 + 12288
    assert state["unit_size"] == 61440
    assert state["group_sizes"] == [4 * 61440]
    assert state["unit_offsets"] == [0, 61440, 122880, 184320]
    assert state["first_chunk"]["map"] == [1, 49152]
    assert state["first_chunk"]["first_free"] == 0
    assert state["nr_empty_pop_pages"] == 3


def test_per_group_embed_places_groups_top_down_where_memblock_allocates() -> None:
    case = Case("x", "embed", 8, (0, 1, 2, 3), cpu_node=(0, 0, 1, 1),
                distance=((10, 20), (20, 10)), static_size=40960, reserved_size=8192)
    down = boot(case, AREA_MAP)
    up = boot(case, AREA_MAP | {"boot_allocator_top_down": 0})
    size = down["state"]["group_sizes"][0]
    assert down["state"]["group_offsets"] == [size, 0]
    assert up["state"]["group_offsets"] == [0, size]
    assert down["bootmem"]["fc_allocs"] == 2
    assert down["bootmem"]["fc_frees"] == 4  # one tail per used unit
    assert (down["state"]["low_unit_cpu"], down["state"]["high_unit_cpu"]) == (2, 1)


def test_a_failed_group_gives_back_the_groups_before_it() -> None:
    case = Case("x", "embed", 8, (0, 1, 2, 3), cpu_node=(0, 0, 1, 1),
                distance=((10, 20), (20, 10)), fail_fc_alloc=1)
    result = boot(case, AREA_MAP)
    assert result["return"] == -12
    assert result["bootmem"]["fc_frees"] == 1


def test_the_verbose_failure_runs_into_the_next_line_until_it_ends_in_a_newline() -> None:
    case = Case("x", "page", 64, (63,), static_size=0)
    run_on = boot(case, AREA_MAP)["log"]
    assert "static_size<0>PERCPU: cpu_possible_mask=80000000,00000000\n" in run_on
    ended = boot(case, AREA_MAP | {"setup_failure_line_ends": 1, "messages_pr_fmt": 1,
                                   "possible_mask_over_nr_cpus": 0})["log"]
    assert "<0>percpu: failed to initialize, !ai->static_size\n<0>percpu: cpu_possible_mask=" \
        in ended


@pytest.mark.parametrize(("cpus", "bits", "text"), [
    ((63,), 64, "80000000,00000000"), ((0, 1), 8, "03"), ((0,), 36, "0,00000001")])
def test_mask_hex(cpus: tuple[int, ...], bits: int, text: str) -> None:
    assert mask_hex(cpus, bits) == text


def test_offsets_map_and_placement() -> None:
    assert offsets_map([-40960, 8192]) == [1, 40960]
    assert offsets_map([-16385, 69631]) == [1, 16385]  # odd: bit 0 reads as in use
    assert placed_offsets([3, 5, 2], top_down=False) == [0, 3, 8]
    assert placed_offsets([3, 5, 2], top_down=True) == [7, 2, 0]


def test_bootmem_places_groups_first_fit_around_percpus_own_allocations() -> None:
    small = 1 << 20
    assert bootmem_offsets([small, small], 4, 4096, 4096) == [0, small]
    # the second group no longer fits below the alloc_info and the area array
    # held at the DMA goal: it goes above them
    big = DMA_GOAL - (1 << 20)
    assert bootmem_offsets([big, big], 4, 4096, 4096) == [0, DMA_GOAL + 2 * 4096]


# --- with trees: each era entry shows on the revisions it names -----------------------

TREES = os.environ.get("PERCPU_DIFF_TREES")
CASES = Path(__file__).resolve().parents[1] / "cases"


def listed_trees() -> list[tuple[Path, str]]:
    out = []
    for line in Path(TREES or "/dev/null").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            path, _, rev = line.partition("@")
            out.append((Path(path).expanduser(), rev or "HEAD"))
    return out


@pytest.mark.tree
@pytest.mark.skipif(not TREES, reason="PERCPU_DIFF_TREES not set: no list of kernel trees")
def test_era_entries_show_on_their_revisions_with_their_example() -> None:
    entries = [e for e in triage.load_triage()
               if e.generations == ("alloc_info",) and e.revisions
               and not any(rev.startswith("fd1e8a1fe2b") for rev in e.revisions)]
    shown: set[str] = set()
    for tree, rev in listed_trees():
        snap = snapshot.load_snapshot(snapshot.SourceSpec("tree", tree, rev))
        rendered = shims.render(snap)
        if rendered.api.generation != "alloc_info":
            continue
        for entry in entries:
            if not any(r in snap.label for r in entry.revisions):
                continue
            case = cases.load_case(CASES / entry.example)
            _, ids = judged(rendered, snap.label, case, triage.load_triage())
            # the example shows the entry, or (where its shape does not reach
            # the bug on that revision) agrees
            assert ids <= {entry.id}, (snap.label, entry.id, ids)
            shown |= ids
    assert shown == {e.id for e in entries}


@pytest.mark.tree
@pytest.mark.skipif(not TREES, reason="PERCPU_DIFF_TREES not set: no list of kernel trees")
def test_named_cases_show_what_they_expect_of_a_listed_revision() -> None:
    """A named case's "generation@commit" key is what it shows on that
    revision: booted on each listed tree whose commit the key names."""
    named = [cases.load_case(p) for p in sorted(CASES.glob("*.toml")) if p.name != "triage.toml"]
    entries = triage.load_triage()
    checked = 0
    for tree, rev in listed_trees():
        snap = snapshot.load_snapshot(snapshot.SourceSpec("tree", tree, rev))
        rendered = shims.render(snap)
        commit = snap.label.rsplit("@", 1)[-1]
        for case in named:
            want = [ids for key, ids in case.expect.items()
                    if key.partition("@")[0] == rendered.api.generation
                    and commit.startswith(key.partition("@")[2] or "-")]
            if not want:
                continue
            _, ids = judged(rendered, snap.label, case, entries)
            assert ids == {v.strip() for v in want[0].split(",")} - {"agree"}, (
                snap.label, case.name)
            checked += 1
    if not checked:
        pytest.skip("no listed tree is a revision a named case names")


def test_an_x86_flow_places_each_group_in_its_nodes_memory() -> None:
    # pcpu_alloc_bootmem() asks for the group's node: bootmem's first fit
    # from __pa(MAX_DMA_ADDRESS) (past percpu's alloc_info and areas array
    # held there) or, on an x86 whose Kconfig turns on NO_BOOTMEM, the top
    # of the node (memblock, even where mm/percpu.c's own calls are
    # bootmem's).
    case = Case("x", "x86", 8, (0, 1, 2, 3), cpu_node=(0, 0, 1, 1), numa=True,
                distance=((10, 20), (20, 10)), static_size=40960)
    node0, node1 = case.memory_of_nodes()
    bootmem = AREA_MAP | {"boot_allocator_top_down": 0, "x86_embeds_first": 1}
    up = boot(case, bootmem)["state"]
    down = boot(case, bootmem | {"x86_no_bootmem": 1})["state"]
    assert up["group_offsets"] == [0, node0 - (DMA_GOAL + (2 << 20))]
    assert down["group_offsets"] == [0, node1]
    assert (down["low_unit_cpu"], down["high_unit_cpu"]) == (0, 3)


def test_an_x86_group_spread_beyond_the_vmalloc_area_falls_back_to_pages() -> None:
    case = Case("x", "x86", 8, (0, 1, 2, 3), cpu_node=(0, 0, 1, 1), numa=True,
                distance=((10, 20), (20, 10)), static_size=40960,
                node_memory=(64 << 20, 64 << 20), bootmem_size=128 << 20,
                vmalloc_size=80 << 20)
    facts = AREA_MAP | {"boot_allocator_top_down": 0, "x86_embeds_first": 1,
                        "x86_no_bootmem": 1}
    result = boot(case, facts)
    # the groups lie 64M apart: 64M and a unit (1M) is beyond 3/4 of 80M
    assert "max_distance=0x4100000 too large for vmalloc space 0x5000000" in result["log"]
    assert [a["allocator"] for a in result["attempts"]] == ["embed", "page"]
    assert boot(replace(case, vmalloc_size=96 << 20), facts)["attempts"][0]["return"] == 0


def test_the_x86_files_pr_fmt_prefixes_its_allocators_messages() -> None:
    case = Case("x", "x86", 8, (0, 1, 2, 3), cpu_node=(0, 0, 1, 1), numa=True,
                distance=((10, 20), (20, 10)), static_size=40960)
    facts = AREA_MAP | {"x86_embeds_first": 1}
    plain = boot(case, facts)["log"]
    prefixed = boot(case, facts | {"x86_pr_fmt": 1})["log"]
    assert "<7>per cpu data for cpu0 " in plain
    assert "<7>setup_percpu: per cpu data for cpu0 " in prefixed


def test_bootmem_places_groups_from_the_goal_it_is_given() -> None:
    mib = 1 << 20
    # From 0: the first group fits below what percpu holds at the DMA goal.
    assert bootmem_offsets([12 * mib, 12 * mib], 6, 2 * mib, 4096) == [0, 18 * mib]
    # From the DMA goal (an arch's pcpu_alloc_bootmem()): back to back above it.
    assert bootmem_offsets([12 * mib, 12 * mib], 6, 2 * mib, 4096, 16 * mib) == [0, 12 * mib]


def test_per_group_embed_asks_bootmem_for_its_areas_array_before_any_group() -> None:
    def allocs(fail_bootmem: int) -> tuple[int, int]:
        case = Case("x", "embed", 8, (0, 1, 2, 3), cpu_node=(0, 0, 1, 1),
                    distance=((10, 20), (20, 10)), static_size=40960, fail_bootmem=fail_bootmem)
        result = boot(case, AREA_MAP)
        return result["return"], result["bootmem"]["fc_allocs"]
    # alloc_info (0), the areas array (1), group 0 (2), group 1 (3)
    assert allocs(1) == (-12, 0)
    assert allocs(2) == (-12, 0)
    assert allocs(3) == (-12, 1)
    assert allocs(4) == (0, 2)


def test_a_failed_node_directed_call_is_noted_by_bootmem_not_by_memblock() -> None:
    case = Case("x", "x86", 8, (0, 1, 2, 3), cpu_node=(0, 0, 1, 1), numa=True,
                distance=((10, 20), (20, 10)), static_size=40960, percpu_alloc="page",
                fail_bootmem=1)
    facts = AREA_MAP | {"x86_embeds_first": 1}
    bootmem = boot(case, facts)
    memblock = boot(case, facts | {"x86_no_bootmem": 1})
    assert bootmem["outcome"]["kind"] == memblock["outcome"]["kind"] == "panic"
    assert bootmem["bootmem"]["node_bytes"] == [0, 0]
    assert "node_bytes" not in memblock["bootmem"]


def test_2009s_x86_flow_embeds_in_page_atoms_in_one_group_once_embed_takes_them() -> None:
    # "Embedding allocator users are converted to specify NULL
    # cpu_distance_fn": the large-page flow hands per-group embed a page
    # and no distances, whatever the machine's nodes.
    case = Case("x", "x86", 8, (0, 1, 2, 3), cpu_node=(0, 0, 1, 1), numa=True,
                distance=((10, 20), (20, 10)), static_size=40960, percpu_alloc="embed")
    for facts in (OLDEST, OLDEST | {"embed_allocates_per_group": 1}):
        result = boot(case, facts)
        assert [a["allocator"] for a in result["attempts"]] == ["embed"]
        info = result["setup_args"]["alloc_info"]
        assert info["atom_size"] == 4096
        assert [g["cpu_map"] for g in info["groups"]] == [[0, 1, 2, 3]]
    # Today's flow passes PMD_SIZE and groups by node.
    today = boot(case, OLDEST | {"embed_allocates_per_group": 1, "x86_embeds_first": 1})
    info = today["setup_args"]["alloc_info"]
    assert info["atom_size"] == 2 << 20
    assert [g["cpu_map"] for g in info["groups"]] == [[0, 1], [2, 3]]

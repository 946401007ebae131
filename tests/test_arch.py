"""The arch flows without a kernel tree: fixture arch files (invented for the
tests) built against the x86 and sparc64 stubs, the call trace, the per-cpu
checks, and reading allocator attempts off real traces captured from the
2009 tree (tests/test_data/arch_traces.json)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import CaseFactory, dir_snapshot, kernel

from harness.campaign import runner
from harness.compile import shims
from harness.core import attempts, cases
from harness.core.errors import UserError
from harness.extract import closure, ctext
from harness.judge import compare
from harness.run import server
from harness.sources import snapshot

TRACES = Path(__file__).resolve().parent / "test_data" / "arch_traces.json"
_BUILT: dict[tuple[str, bool], shims.Shim] = {}


def arch_shim(name: str, sanitize: bool = False) -> shims.Shim:
    key = (name, sanitize)
    if key not in _BUILT:
        rendered = shims.render(dir_snapshot(kernel("alloc_info")), arch=name)
        page_shift = 13 if name == "sparc64" else 12
        _BUILT[key] = shims.build(rendered, shims.config_for(8, page_shift, sanitize, name))
    return _BUILT[key]


def boot(make_case: CaseFactory, scenario: str = "x86", sanitize: bool = False,
         **fields: Any) -> dict[str, Any]:
    fields.setdefault("static_size", 32768)
    fields.setdefault("page_size", cases.ARCH_PAGE_SIZE[scenario])
    case = make_case(scenario=scenario, **fields)
    return server.run_one(arch_shim(scenario, sanitize), case)


def calls(result: dict[str, Any]) -> list[tuple[str, int, Any]]:
    return [(e["fn"], e["depth"], e["return"]) for e in result["trace"]]


@pytest.mark.parametrize("sanitize", [False, True])
def test_x86_fixture_embeds_with_large_pages(make_case: CaseFactory, sanitize: bool) -> None:
    result = boot(make_case, sanitize=sanitize)
    assert result["outcome"]["kind"] == "ok", result["outcome"]
    assert calls(result) == [
        ("setup_per_cpu_areas", 0, None),
        ("setup_pcpu_embed", 1, 65536),
        ("cpu_has_pse", 2, 1),
        ("pcpu_need_numa", 2, 0),
        ("pcpu_embed_first_chunk", 2, 65536),
    ]
    assert result["trace"][1]["args"] == {"chosen": 0}
    assert result["trace"][4]["args"] == {"reserve": 8192, "dyn": 16384}  # fixture names
    assert attempts.path(result) == "embed:ok"
    # cpus 0, 2, 4 in units 0, 1, 2 of 64K; nothing for the impossible ones
    assert result["arch"]["unit_offsets"] == [0, None, 65536, None, 131072]
    assert result["arch"]["readback_bad_cpus"] == []
    assert result["arch"]["cpu_number_bad_cpus"] == []
    assert result["static_copies"]["bad_cpus"] == []


def test_x86_fixture_falls_back_to_pages_without_pse(make_case: CaseFactory) -> None:
    result = boot(make_case, pse=False)
    assert attempts.path(result) == "embed:no-pse > page:ok"
    assert ("pcpu_embed_first_chunk", 2, 65536) not in calls(result)
    assert result["bootmem"]["ptes_populated"] > 0


def test_x86_failed_allocations_end_in_the_arch_panic(make_case: CaseFactory) -> None:
    # The first nopanic allocation is embed's chunk; page asks for its first page next.
    embed_fails = boot(make_case, fail_bootmem=0)
    assert attempts.path(embed_fails) == "embed:alloc-failed > page:ok"
    both_fail = boot(make_case, pse=False, fail_bootmem=0)
    assert both_fail["outcome"]["kind"] == "panic"
    assert "fixture: no first chunk" in both_fail["outcome"]["message"]
    # The trace survives the panic, and says where the boot was.
    assert attempts.path(both_fail) == "embed:no-pse > page:alloc-failed"
    assert both_fail["trace"][0] == {"fn": "setup_per_cpu_areas", "depth": 0, "args": {},
                                     "returned": False, "return": None}
    assert "arch" not in both_fail


def test_static_area_too_small_for_the_per_cpu_variables(make_case: CaseFactory) -> None:
    case = replace(make_case(scenario="x86", static_size=32768), static_size=64)
    result = server.run_one(arch_shim("x86"), case)
    assert result["outcome"]["kind"] == "panic"
    assert "cannot hold the" in result["outcome"]["message"]


@pytest.mark.parametrize("sanitize", [False, True])
def test_sparc64_fixture_maps_through_page_tables(make_case: CaseFactory, sanitize: bool
                                                  ) -> None:
    result = boot(make_case, "sparc64", sanitize=sanitize)
    assert result["outcome"]["kind"] == "ok", result["outcome"]
    assert result["page_size"] == 8192
    assert result["arch"]["unit_offsets"] == [0, None, 4 << 20, None, 8 << 20]
    # Checked through the page tables: each unit's first page maps the block
    # its static data was copied into.
    assert result["static_copies"] == {"bad_cpus": [], "checked": 3, "chunk_held": None}
    assert result["arch"]["readback_bad_cpus"] == []
    assert attempts.path(result) == "(no choice)"
    # three 4M blocks, one pmd table and one pte table per 8M of mappings
    assert result["bootmem"]["allocations"] >= 3 + 2


def test_sparc64_walk_sees_unmapped_units(make_case: CaseFactory) -> None:
    # Two cpus map into one 8M pmd; a third one further on needs new tables.
    result = boot(make_case, "sparc64", possible=(0, 1, 2, 3, 4, 5, 6, 7))
    assert result["static_copies"]["checked"] == 8
    assert result["static_copies"]["bad_cpus"] == []


def test_arch_rendering_wraps_the_percpu_calls() -> None:
    rendered = shims.render(dir_snapshot(kernel("alloc_info")), arch="x86")
    assert rendered.arch == "x86" and rendered.scenarios == ("x86",)
    assert set(rendered.wraps) == {"pcpu_embed_first_chunk", "pcpu_page_first_chunk"}
    assert rendered.arch_text is not None
    assert "\"arch/x86/kernel/setup_percpu.c\"" in rendered.arch_text  # #line points home
    assert "#define setup_pcpu_embed shim_real_setup_pcpu_embed" in rendered.arch_text
    generic = shims.render(dir_snapshot(kernel("alloc_info")))
    assert generic.arch_text is None and generic.wraps == ()


def test_arch_flow_needs_its_arch_file() -> None:
    with pytest.raises(UserError, match=r"arch/x86/kernel/setup_percpu\.c is not in source"):
        shims.render(dir_snapshot(kernel("unit_map")), arch="x86")
    assert shims.arches(dir_snapshot(kernel("unit_map"))) == ()
    assert shims.arches(dir_snapshot(kernel("alloc_info"))) == ("x86", "sparc64")


def test_runs_leave_out_arch_flows_a_side_lacks() -> None:
    def side(name: str) -> runner.Side:
        snap = dir_snapshot(kernel(name))
        rendered = shims.render(snap)
        return runner.Side("new", snap.label, rendered.api.generation, rendered, snap)

    from harness.campaign.plan import run_scenarios

    # (the fixture has no drivers/base/arch_numa.c)
    assert run_scenarios(None, [side("alloc_info")]) == [
        s for s in cases.SCENARIOS if s != "arch_numa"]
    assert run_scenarios(None, [side("unit_map"), side("alloc_info")]) == \
        list(cases.GENERIC_SCENARIOS)
    with pytest.raises(UserError, match=r"scenario x86 needs arch/x86/kernel/setup_percpu\.c"):
        run_scenarios(["x86"], [side("unit_map")])


# ------------------------------------------------------------ cases and fields

def test_arch_case_knobs_validate_and_travel() -> None:
    case = cases.Case(name="k", scenario="x86", nr_cpus=8, possible=(0, 1),
                      cpu_node=(0, 1), distance=((10, 20), (20, 10)), static_size=65536,
                      percpu_alloc="lpage", pse=False, numa=True, offline_nodes=(1,)).validate()
    line = case.shim_line()
    for field in ("scenario=x86", "percpu_alloc=lpage", "pse=0", "numa=1", "offline_nodes=1"):
        assert field in line.split()
    assert case.arch == "x86" and cases.Case(name="g").arch == "generic"
    again = cases.case_from_mapping(__import__("tomllib").loads(cases.case_to_toml(case)), "k")
    assert again == case
    bad = [
        (dict(page_size=8192), "runs with page_size 4096"),
        (dict(static_size=4096), "needs static_size >= 20480"),
        (dict(percpu_alloc="two words"), "must be one word"),
        (dict(offline_nodes=(2,)), "offline_nodes names a node outside 0..1"),
    ]
    for change, message in bad:
        with pytest.raises(UserError, match=message):
            replace(case, **change).validate()


def test_shim_refuses_a_numa_mismatch(make_case: CaseFactory) -> None:
    case = make_case(scenario="x86", static_size=32768, numa=True)
    with pytest.raises(UserError, match="numa=True but the shim was built"):
        server.run_one(arch_shim("x86"), case)


def test_compared_fields_of_an_arch_result(make_case: CaseFactory) -> None:
    result = boot(make_case, pse=False)
    flat = compare.fields(result)
    assert flat["attempts"] == [
        {"allocator": "embed", "chosen": False, "return": -22, "reason": "no-pse"},
        {"allocator": "page", "chosen": None, "return": 65536, "reason": "ok"},
    ]
    assert flat["arch.unit_offsets"] == [0, 65536, 131072]  # possible cpus only
    model_like = {**result, "attempts": flat["attempts"]}
    del model_like["trace"]
    assert compare.compare(result, model_like) == []
    changed = {**model_like, "attempts": [{**flat["attempts"][0], "reason": "numa"},
                                          flat["attempts"][1]]}
    assert [d.field for d in compare.compare(result, changed)] == ["attempts"]


def test_messages_mask_bare_physical_addresses() -> None:
    a = {"log": "<7>per cpu data for cpu0 4194304 bytes on node0 at 0000000001400000\n"}
    b = {"log": "<7>per cpu data for cpu0 4194304 bytes on node0 at 0000000009c00000\n"}
    assert compare.fields(a)["messages"] == compare.fields(b)["messages"]
    c = {"log": "<7>per cpu data for cpu1 4194304 bytes on node0 at 0000000009c00000\n"}
    assert compare.fields(a)["messages"] != compare.fields(c)["messages"]


# ------------------------------------------------- attempts from real traces

def captured() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(TRACES.read_text())
    return data


@pytest.mark.parametrize("sample", captured(), ids=lambda s: s["name"])
def test_attempts_read_off_captured_kernel_traces(sample: dict[str, Any]) -> None:
    assert attempts.path({"trace": sample["trace"]}) == sample["path"]


def test_captured_traces_cover_every_reason() -> None:
    seen = {part.split(":")[1] for s in captured() for part in s["path"].split(" > ")
            if ":" in part}
    # too-spread is today's flow's (tests/test_arch_today.py), not 2009's
    assert seen >= set(attempts.REASONS) - {"failed", "too-spread"}


def test_unknown_ending_is_not_named() -> None:
    trace = [{"fn": "setup_pcpu_lpage", "depth": 0, "args": {"chosen": 1}, "returned": True,
              "return": -5},
             {"fn": "cpu_has_pse", "depth": 1, "args": {}, "returned": True, "return": 1}]
    assert attempts.attempts(trace) == [{"allocator": "lpage", "chosen": True, "return": -5,
                                     "reason": "failed"}]


def test_sources_read_arch_files_when_present(tmp_path: Path) -> None:
    snap = snapshot.load_snapshot(snapshot.SourceSpec("dir", kernel("alloc_info")))
    assert snap.has("arch/x86/kernel/setup_percpu.c")
    assert not snapshot.load_snapshot(snapshot.SourceSpec("dir", kernel("unit_map"))).has(
        "arch/x86/kernel/setup_percpu.c")


def test_sparc64_is_built_in_its_2009_shape_only(tmp_path: Path) -> None:
    # An invented smp_64.c of each shape: handing its own chunks to setup
    # (built), or calling the generic embedding allocator (2.6.32 on: not).

    def tree(body: str) -> snapshot.Snapshot:
        root = tmp_path / str(len(list(tmp_path.iterdir())))
        shutil.copytree(kernel("alloc_info"), root)
        (root / "arch/sparc/kernel").mkdir(parents=True, exist_ok=True)
        (root / "arch/sparc/kernel/smp_64.c").write_text(
            f"void __init setup_per_cpu_areas(void)\n{{\n\t{body}\n}}\n")
        return dir_snapshot(root)

    assert "sparc64" in shims.arches(tree("fixture_rc = pcpu_setup_first_chunk(fixture_ai, NULL);"))
    assert "sparc64" not in shims.arches(tree("fixture_rc = pcpu_embed_first_chunk(0, -1);"))


def test_the_4k_allocator_is_the_page_allocator() -> None:
    trace = [{"fn": "setup_pcpu_4k", "depth": 0, "args": {}, "returned": True, "return": 4096}]
    assert attempts.attempts(trace) == [{"allocator": "page", "chosen": None, "return": 4096,
                                         "reason": "ok"}]


# An invented arch file of the shape before f58dc01ba2c: its own parser.
OWN_PARSER_ARCH = """
static char chosen_word[16];
static int __init percpu_alloc_setup(char *given)
{
	copy_word(chosen_word, given);
	return 0;
}
static long __init setup_pcpu_4k(unsigned long size)
{
	return try_pages(size);
}
void __init setup_per_cpu_areas(void)	/* the fixture's */
{
	if (chosen_word[0])
		report(chosen_word);
	setup_pcpu_4k(1);
}
"""


def test_an_arch_with_its_own_parser_says_so() -> None:
    path = "arch/x86/kernel/setup_percpu.c"
    arch_x = closure.extract_arch(ctext.split(OWN_PARSER_ARCH, path), "x86")
    assert "percpu_alloc_setup" in {n for it in arch_x.items for n in it.names}
    c_file = ctext.split("int x;\n", "mm/percpu.c")
    assert closure.arch_facts(arch_x, c_file) == {closure.OWN_PERCPU_ALLOC: 1,
                                                  closure.PAGE_NAMED_4K: 1}
    renamed = OWN_PARSER_ARCH.replace("setup_pcpu_4k", "setup_pcpu_page")
    arch_x = closure.extract_arch(ctext.split(renamed, path), "x86")
    assert closure.arch_facts(arch_x, c_file) == {closure.OWN_PERCPU_ALLOC: 1}


def test_an_lpage_path_without_a_unit_map_takes_a_large_page_per_cpu() -> None:
    """2f39e637ea2's x86 hands pcpu_lpage_first_chunk() no unit map of its
    own; from a530b795861 it builds one with pcpu_lpage_build_unit_map()."""
    path = "arch/x86/kernel/setup_percpu.c"
    c_file = ctext.split("int x;\n", "mm/percpu.c")
    lpage = ("static long __init setup_pcpu_lpage(unsigned long size)\n"
             "{\n\treturn pcpu_lpage_first_chunk(size);\n}\n")

    def with_lpage(definition: str) -> str:
        tried = OWN_PARSER_ARCH.replace("\tsetup_pcpu_4k(1);\n}",
                                        "\tif (setup_pcpu_lpage(1) < 0)\n\t\tsetup_pcpu_4k(1);\n}")
        return tried.replace("void __init setup_per_cpu_areas", definition +
                             "void __init setup_per_cpu_areas")

    arch_x = closure.extract_arch(ctext.split(with_lpage(lpage), path), "x86")
    assert closure.arch_facts(arch_x, c_file) == {closure.OWN_PERCPU_ALLOC: 1,
                                                  closure.PAGE_NAMED_4K: 1,
                                                  closure.LPAGE_PER_CPU: 1}
    mapped = lpage.replace("\treturn", "\tpcpu_lpage_build_unit_map(size);\n\treturn")
    arch_x = closure.extract_arch(ctext.split(with_lpage(mapped), path), "x86")
    assert closure.LPAGE_PER_CPU not in closure.arch_facts(arch_x, c_file)


def test_lpage_declining_right_after_finding_numa_is_the_vmalloc_limit() -> None:
    trace = [{"fn": "setup_pcpu_lpage", "depth": 0, "args": {"chosen": 0}, "returned": True,
              "return": -22},
             {"fn": "pcpu_need_numa", "depth": 1, "args": {}, "returned": True, "return": 1}]
    assert attempts.attempts(trace)[0]["reason"] == "vmalloc-limit"
    trace[0]["fn"] = "setup_pcpu_embed"
    assert attempts.attempts(trace)[0]["reason"] == "numa"

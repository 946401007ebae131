"""Today's x86 flow (2.6.32 - 7.1) without a kernel tree.

An invented arch file of today's shape (tests/fixtures/arch/) is built over
the alloc_info fixture kernel: setup_per_cpu_areas() calls the generic
allocators itself, has a pr_fmt of its own and writes the per-cpu
variables of the later eras (pcpu_hot's cpu number, numa_node, the ACPI
ids), so the stubs those eras need, the attempts read off direct calls and
the facts its model reads are checked hermetically.  The model of the
flow on the modern generation is checked against its documented contract.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import CaseFactory, dir_snapshot, kernel

import py_impl
from harness.campaign import generate
from harness.cli import app
from harness.compile import shims
from harness.core import attempts, cases
from harness.core.generation import GenerationName
from harness.core.generations._bitmap_eras import BITMAP_CHUNKS
from harness.extract import closure, ctext
from harness.run import server
from py_impl import arch_numa, arch_x86

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "arch" / "x86_today_setup_percpu.c"
ARCH_FILE = "arch/x86/kernel/setup_percpu.c"
_BUILT: dict[bool, shims.Shim] = {}


@pytest.fixture(scope="module")
def today_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("x86_today") / "k"
    shutil.copytree(kernel("alloc_info"), tree)
    shutil.copy(FIXTURE, tree / ARCH_FILE)
    return tree


def today_shim(tree: Path, sanitize: bool = False) -> shims.Shim:
    if sanitize not in _BUILT:
        rendered = shims.render(dir_snapshot(tree), arch="x86")
        _BUILT[sanitize] = shims.build(rendered, shims.config_for(8, 12, sanitize, "x86"))
    return _BUILT[sanitize]


def boot(tree: Path, make_case: CaseFactory, sanitize: bool = False,
         **fields: Any) -> dict[str, Any]:
    fields.setdefault("static_size", 32768)
    fields.setdefault("page_size", 4096)
    return server.run_one(today_shim(tree, sanitize), make_case(scenario="x86", **fields))


@pytest.mark.parametrize("sanitize", [False, True])
def test_today_shape_builds_boots_and_embeds(today_tree: Path, make_case: CaseFactory,
                                             sanitize: bool) -> None:
    result = boot(today_tree, make_case, sanitize=sanitize)
    assert result["outcome"]["kind"] == "ok", result["outcome"]
    # No setup_pcpu_*(): the attempts are the allocators it called itself.
    assert attempts.path(result) == "embed:ok"
    assert result["arch"]["unit_offsets"] == [0, None, 65536, None, 131072]
    assert result["arch"]["readback_bad_cpus"] == []
    # The cpu number lives in pcpu_hot there; the glue checks it in its place.
    assert result["arch"]["cpu_number_bad_cpus"] == []
    # The arch file's pr_fmt, with kbuild's name for its object.
    assert "<6>setup_percpu says: fixture cpus 5\n" in result["log"]


def test_today_shape_falls_back_to_pages(today_tree: Path, make_case: CaseFactory) -> None:
    # The first allocation that may fail is embedding's chunk.
    result = boot(today_tree, make_case, fail_bootmem=0)
    assert attempts.path(result) == "embed:alloc-failed > page:ok"
    assert result["outcome"]["kind"] == "ok"
    # The page allocator populated through the arch's own pcpu_populate_pte().
    assert result["bootmem"]["ptes_populated"] > 0


def test_today_shape_facts(today_tree: Path) -> None:
    arch_x = closure.extract_arch(ctext.split((today_tree / ARCH_FILE).read_text(), ARCH_FILE),
                                  "x86")
    c_file = ctext.split((today_tree / "mm" / "percpu.c").read_text(), "mm/percpu.c")
    assert "pcpu_populate_pte" in {n for it in arch_x.items for n in it.names}
    assert closure.arch_facts(arch_x, c_file) == {closure.EMBEDS_FIRST: 1,
                                                  closure.ARCH_PR_FMT: 1}
    # The fixture's own fc_alloc has another name; it includes bootmem.h.
    assert closure.arch_defines(arch_x) == ()


def test_2009_shape_has_no_facts() -> None:
    path = kernel("alloc_info") / ARCH_FILE
    arch_x = closure.extract_arch(ctext.split(path.read_text(), ARCH_FILE), "x86")
    c_file = ctext.split((kernel("alloc_info") / "mm" / "percpu.c").read_text(), "mm/percpu.c")
    assert closure.arch_facts(arch_x, c_file) == {}
    assert arch_x.prelude_items == ()


def event(fn: str, depth: int, ret: int | None) -> dict[str, Any]:
    return {"fn": fn, "depth": depth, "args": {}, "returned": ret is not None, "return": ret}


def test_direct_attempts_from_a_trace() -> None:
    trace = [event("setup_per_cpu_areas", 0, 0), event("pcpu_embed_first_chunk", 1, -22),
             event("pcpu_page_first_chunk", 1, -12)]
    assert [(a["allocator"], a["reason"]) for a in attempts.attempts(trace)] == [
        ("embed", "too-spread"), ("page", "alloc-failed")]
    trace = [event("setup_per_cpu_areas", 0, None), event("pcpu_embed_first_chunk", 1, None)]
    assert attempts.attempts(trace)[0]["reason"] == "did-not-return"
    # Calls below depth 1 (inside an allocator) are no attempts.
    assert attempts.attempts([event("pcpu_embed_first_chunk", 2, 0)]) == []


# ------------------------------------------------------------------ the model

FACTS = {arch_x86.EMBEDS_FIRST: 1, arch_x86.ARCH_PR_FMT: 1, arch_x86.PERCPU_PR_FMT: 1}


def model(case: cases.Case, **facts: int) -> dict[str, Any]:
    return dict(py_impl.run_model(GenerationName("modern"), case, {**FACTS, **facts}))


def x86_case(make_case: CaseFactory, **fields: Any) -> cases.Case:
    fields.setdefault("static_size", 40960)
    fields.setdefault("nr_cpus", 8)
    return make_case(scenario="x86", page_size=4096, **fields)


def test_model_embeds_with_pmd_atoms(make_case: CaseFactory) -> None:
    result = model(x86_case(make_case, possible=(0, 1, 2, 3)))
    assert attempts.path(result) == "embed:ok"
    info = result["setup_args"]["alloc_info"]
    assert (info["atom_size"], info["reserved_size"]) == (2 << 20, 8192)
    assert result["arch"]["unit_offsets"] == result["state"]["unit_offsets"]
    assert result["log"].startswith("<6>setup_percpu: NR_CPUS:8 nr_cpumask_bits:8 ")
    assert "return" not in result


def test_model_groups_by_node_not_by_the_distance_matrix(make_case: CaseFactory) -> None:
    # Asymmetric and non-transitive firmware distances do not reach the
    # grouping: x86's callback compares nodes.
    case = x86_case(make_case, possible=(0, 1, 2, 3), cpu_node=(0, 1, 2, 0), numa=True,
                    distance=((10, 10, 30), (12, 10, 10), (10, 40, 10)))
    groups = model(case)["setup_args"]["alloc_info"]["groups"]
    assert sorted(sorted(c for c in g["cpu_map"] if c != 8) for g in groups) == \
        [[0, 3], [1], [2]]
    # Without CONFIG_NUMA every cpu is local: one group.
    plain = model(replace(case, numa=False))["setup_args"]["alloc_info"]
    assert plain["nr_groups"] == 1


def test_model_percpu_alloc(make_case: CaseFactory) -> None:
    page = model(x86_case(make_case, possible=(0, 1), percpu_alloc="page"))
    assert attempts.path(page) == "page:ok"
    assert page["arch"]["percpu_alloc"] == "page"
    bogus = model(x86_case(make_case, possible=(0, 1), percpu_alloc="lpage"))
    assert attempts.path(bogus) == "embed:ok"
    assert "<4>percpu: unknown allocator lpage specified\n" in bogus["log"]


def test_model_falls_back_and_panics(make_case: CaseFactory) -> None:
    # memblock's first call is the alloc_info; embedding fails, then pages.
    failed = model(x86_case(make_case, possible=(0, 1), fail_bootmem=0))
    assert attempts.path(failed) == "embed:alloc-failed > page:ok"
    assert "<4>setup_percpu: auto allocator failed (-12), falling back to page size\n" in \
        failed["log"]
    tiny = model(x86_case(make_case, possible=(0, 1), bootmem_size=1 << 16))
    assert tiny["outcome"]["kind"] == "panic"


def test_model_own_fc_alloc_speaks_for_the_arch(make_case: CaseFactory) -> None:
    case = x86_case(make_case, possible=(0, 1), cpu_node=(0, 1), numa=True,
                    distance=((10, 20), (20, 10)))
    generic = model(case)["log"]
    own = model(case, **{arch_x86.OWN_FC_ALLOC: 1})["log"]
    assert "<7>percpu: per cpu data for cpu0" in generic
    assert "<7>setup_percpu: per cpu data for cpu0" in own
    # the same words, the address as 16 hex digits rather than 0x%llx
    padded = re.compile(r" at ([0-9a-f]{16})$", re.M)
    assert padded.search(own) and not padded.search(generic)
    assert padded.sub(lambda m: f" at 0x{int(m[1], 16):x}", own).replace(
        "setup_percpu: per cpu", "percpu: per cpu") == generic


# An era whose allocators take the arch's callbacks (until 5.16).
CALLBACK_ERA = {BITMAP_CHUNKS: 1, "fc_callbacks": 1, "chunk_isolated": 1,
                "slot_to_depopulate": 1, "slot_sidelined": 1, "counts_populated": 1}


def test_model_own_fc_alloc_is_node_directed_where_the_allocators_take_callbacks(
        make_case: CaseFactory) -> None:
    # cpu2's node 2 has no memory: taken from anywhere, and said so.
    case = x86_case(make_case, possible=(0, 1, 2), cpu_node=(0, 1, 2), numa=True,
                    distance=((10, 20, 20), (20, 10, 20), (20, 20, 10)), offline_nodes=(2,))
    shim_callbacks = model(case, **CALLBACK_ERA)
    own = model(case, **CALLBACK_ERA, **{arch_x86.OWN_FC_ALLOC: 1})
    # The generic scenarios' callbacks are the shim's: silent, for no node.
    assert "per cpu data" not in shim_callbacks["log"]
    assert "node_bytes" not in shim_callbacks["bootmem"]
    assert "<7>setup_percpu: per cpu data for cpu1 " in own["log"]
    assert "<6>setup_percpu: cpu 2 has no node 2 or node-local memory" in own["log"]
    node_bytes = own["bootmem"]["node_bytes"]
    assert node_bytes[0] == node_bytes[1] > 0 == node_bytes[2]
    # Only where the groups lie differs: node 0's at the top of node 0's
    # 32G, node 1's at the top of node 1's, cpu2's (no memory on its node)
    # below it, from the top of all memory; the callbacks stack them all
    # at the top.
    placed = ("group_offsets", "unit_offsets", "low_unit_cpu", "high_unit_cpu")
    assert {k: v for k, v in own["state"].items() if k not in placed} == {
        k: v for k, v in shim_callbacks["state"].items() if k not in placed}
    # (the setup's own blocks, for no node, took the top of node 1 first)
    assert own["state"]["group_offsets"] == [0, (32 << 30) - (2 << 20), (32 << 30) - (4 << 20)]
    assert max(shim_callbacks["state"]["group_offsets"]) < 8 << 20


def test_model_atom_follows_pse_where_the_source_says(make_case: CaseFactory) -> None:
    case = x86_case(make_case, possible=(0, 1), pse=False)
    assert model(case)["setup_args"]["alloc_info"]["atom_size"] == 2 << 20
    small = model(case, **{arch_x86.ATOM_NEEDS_PSE: 1})
    assert small["setup_args"]["alloc_info"]["atom_size"] == 4096


# ------------------------------------------------------------- arch_numa

NUMA_FIXTURE = FIXTURE.parent / "arch_numa.c"
NUMA_FILE = "drivers/base/arch_numa.c"


@pytest.fixture(scope="module")
def numa_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("arch_numa") / "k"
    shutil.copytree(kernel("alloc_info"), tree)
    (tree / "drivers" / "base").mkdir(parents=True)
    shutil.copy(NUMA_FIXTURE, tree / NUMA_FILE)
    return tree


@pytest.mark.parametrize("sanitize", [False, True])
def test_arch_numa_fixture_boots_on_the_firmware_table(numa_tree: Path, make_case: CaseFactory,
                                                        sanitize: bool) -> None:
    rendered = shims.render(dir_snapshot(numa_tree), arch="arch_numa")
    shim = shims.build(rendered, shims.config_for(8, 12, sanitize, "arch_numa", True))
    # 0 -> 1 is 300 (no u8: the default 20 stays), 1 -> 0 is 12: asymmetric.
    case = make_case(scenario="arch_numa", page_size=4096, static_size=32768, numa=True,
                     cpu_node=(0, 1, 1), distance=((10, 300), (12, 10)))
    result = server.run_one(shim, case)
    assert result["outcome"]["kind"] == "ok", result["outcome"]
    assert "<6>fixture numa: d 0-2 20 2-0 12 0-0 10 2-2 10 far 20\n" in result["log"]
    assert attempts.path(result) == "embed:ok"
    # cpu 0's numa_node written before the setup reached every unit's copy.
    assert result["static_copies"]["bad_cpus"] == []
    assert result["arch"]["readback_bad_cpus"] == []


def test_arch_numa_cases_are_numa_ones(make_case: CaseFactory) -> None:
    with pytest.raises(Exception, match="NUMA only"):
        make_case(scenario="arch_numa", page_size=4096)
    assert all(c.numa for c in generate.generate(20, 1, "arch_numa", 8))


NUMA_FACTS = {arch_numa.PAGE_FALLBACK: 1}


def numa_model(case: cases.Case, **facts: int) -> dict[str, Any]:
    return dict(py_impl.run_model(GenerationName("modern"), case, {**NUMA_FACTS, **facts}))


def numa_case(make_case: CaseFactory, **fields: Any) -> cases.Case:
    fields.setdefault("static_size", 40960)
    fields.setdefault("possible", (0, 1, 2, 3))
    return make_case(scenario="arch_numa", page_size=4096, numa=True, **fields)


def test_numa_model_groups_by_the_firmware_table(make_case: CaseFactory) -> None:
    # 0 and 1 local both ways; 2 is local to 0 one way only.
    case = numa_case(make_case, cpu_node=(0, 1, 2, 2),
                     distance=((10, 10, 10), (10, 10, 20), (20, 20, 10)))
    result = numa_model(case)
    info = result["setup_args"]["alloc_info"]
    assert info["atom_size"] == 4096
    assert sorted(sorted(c for c in g["cpu_map"] if c != 8) for g in info["groups"]) == \
        [[0, 1], [2, 3]]
    assert result["arch"]["unit_offsets"] == result["state"]["unit_offsets"]


def test_numa_model_keeps_defaults_for_entries_the_table_refuses() -> None:
    case = cases.Case(name="t", scenario="arch_numa", nr_cpus=8, possible=(0, 1), numa=True,
                      cpu_node=(0, 1), distance=((11, 300), (12, 10)), page_size=4096)
    assert arch_numa.firmware_distances(case) == ((10, 20), (12, 10))


def test_numa_model_page_only_where_the_source_falls_back(make_case: CaseFactory) -> None:
    case = numa_case(make_case, percpu_alloc="page")
    assert attempts.path(numa_model(case)) == "page:ok"
    # Before 5.18 the flow embeds whatever was chosen, and panics on failure.
    assert attempts.path(numa_model(case, **{arch_numa.PAGE_FALLBACK: 0})) == "embed:ok"
    failed = numa_model(replace(case, percpu_alloc="", fail_bootmem=0),
                        **{arch_numa.PAGE_FALLBACK: 0})
    assert failed["outcome"] == {"kind": "panic", "message": "Failed to initialize percpu areas."}


def test_numa_model_own_fc_alloc_is_quiet_and_node_directed(make_case: CaseFactory) -> None:
    case = numa_case(make_case, cpu_node=(0, 0, 1, 1), distance=((10, 20), (20, 10)),
                     offline_nodes=(1,))
    generic = numa_model(case)
    own = numa_model(case, **{arch_numa.OWN_FC_ALLOC: 1})
    assert "per cpu data" in generic["log"] and "per cpu data" not in own["log"]
    assert own["bootmem"]["node_bytes"][1] > 0 == generic["bootmem"]["node_bytes"][1]


def test_agree_takes_an_arch_flow(today_tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Counted like the generic scenarios, over shims built with and without NUMA.
    status = app.main(["agree", "--dir", str(today_tree), "--scenario", "x86", "--count", "12",
                       "--nr-cpus", "8", "--timeout-ms", "60000", "--json"])
    summary = json.loads(capsys.readouterr().out)["scenarios"]["x86"]
    assert status in (0, 1) and summary["cases"] == 12
    numa = sum(c.numa for c in generate.generate(12, 1, "x86", 8))
    assert 0 < numa < 12  # both shims were built


def test_agree_refuses_a_flow_the_source_lacks(capsys: pytest.CaptureFixture[str]) -> None:
    status = app.main(["agree", "--dir", str(kernel("alloc_info")), "--scenario", "arch_numa",
                       "--count", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "drivers/base/arch_numa.c" in err[0]

"""The models of the arch flows (py_impl/arch.py) on their own.

Properties state what x86's and sparc64's setup_per_cpu_areas() promise in
their comments, in the kernel-doc of the mm/percpu.c helpers they call and
in the commit message of fd1e8a1fe2b5, checked over generated machines; a
few worked examples pin down exact results.  No kernel tree is needed; the
tests marked `tree` compare with the real code when PERCPU_DIFF_TREE names
one.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import py_impl
from harness.core.cases import ARCH_MIN_STATIC, ARCH_PAGE_SIZE, Case
from py_impl import arch_flows
from py_impl.arch_flows import EINVAL, SPARC64_CHUNK_SIZE, X86_PMD_SIZE, Bootmem
from py_impl.machine import ENOMEM, Machine

GENERATIONS = ("unit_map", "alloc_info")
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
KB, MB = 1 << 10, 1 << 20
TWO_NODES = ((10, 20), (20, 10))


# ------------------------------------------------------------- machines

@st.composite
def arch_cases(draw: st.DrawFn, scenario: str | None = None) -> Case:
    """Small machines with every arch knob: NUMA or not, nodes online or
    not, percpu_alloc= words, PSE, vmalloc around x86's 20% rule, failing
    bootmem, little bootmem for sparc64."""
    scenario = scenario or draw(st.sampled_from(("x86", "sparc64")))
    nr_cpus = draw(st.sampled_from((1, 2, 4, 8, 16, 64)))
    possible = tuple(sorted(draw(st.sets(st.integers(0, nr_cpus - 1), min_size=1,
                                         max_size=min(nr_cpus, 24)))))
    nodes = draw(st.integers(1, 4))
    cpu_node = tuple(draw(st.integers(0, nodes - 1)) for _ in possible)
    distance = tuple(tuple(10 if a == b else 20 for b in range(nodes)) for a in range(nodes))
    numa = draw(st.booleans())
    offline = tuple(sorted(draw(st.sets(st.integers(0, nodes - 1))))) if numa else ()
    page = ARCH_PAGE_SIZE[scenario]
    static = draw(st.one_of(st.integers(ARCH_MIN_STATIC[scenario], 400 * KB),
                            st.sampled_from((20 * KB, 64 * KB, 1 * MB, 3 * MB + 5))))
    static = max(static, ARCH_MIN_STATIC[scenario])
    case = Case(name=f"{scenario}-prop", scenario=scenario, nr_cpus=nr_cpus, possible=possible,
                cpu_node=cpu_node, distance=distance, static_size=static, page_size=page,
                numa=numa, offline_nodes=offline,
                percpu_alloc=draw(st.sampled_from(("", "", "lpage", "embed", "page", "auto",
                                                   "bogus"))),
                fail_bootmem=draw(st.sampled_from((-1, -1, -1, 0, 1, 2, 3, 7))))
    if scenario == "x86":
        case = replace(case, pse=draw(st.booleans()),
                       vmalloc_size=draw(st.sampled_from((32 << 40, 4 * MB, 10 * MB, 40 * MB))))
    elif draw(st.booleans()):
        case = replace(case, bootmem_size=draw(st.integers(1, 40)) * 4 * MB)
    return case.validate()


def model(generation: str, case: Case) -> dict[str, Any]:
    return py_impl.run_model(generation, case)


def ok(result: dict[str, Any]) -> bool:
    return bool(result["outcome"]["kind"] == "ok")


def reasons(result: dict[str, Any]) -> list[str]:
    return [f"{a['allocator']}:{a['reason']}" for a in result["attempts"]]


def cpus_on_nodes_with_memory(case: Case) -> set[int]:
    return {case.node_of(c) for c in case.possible} - set(case.offline_nodes)


# ------------------------------------------------------------- properties

@pytest.mark.parametrize("generation", GENERATIONS)
@given(case=arch_cases("x86"))
@PROPERTY
def test_x86_tries_allocators_in_the_documented_order(generation: str, case: Case) -> None:
    """lpage then embed then page when nothing is chosen; the chosen one then
    page otherwise; a later one only after the earlier ones failed; the
    page allocator is the last resort and its failure a panic."""
    result = model(generation, case)
    tried = result["attempts"]
    names = [a["allocator"] for a in tried]
    word = case.percpu_alloc
    chosen = word if word in ("embed", "page") or (word == "lpage" and case.numa) else "auto"
    if chosen == "auto":
        assert names in (["lpage"], ["lpage", "embed"], ["lpage", "embed", "page"])
        assert [a["chosen"] for a in tried[:2]] == [False] * len(tried[:2])
    elif chosen == "page":
        assert names == ["page"]
    else:
        assert names in ([chosen], [chosen, "page"])
        assert tried[0]["chosen"] is True
    for earlier in tried[:-1]:
        assert earlier["return"] < 0
    assert result["outcome"]["kind"] in ("ok", "panic")
    if ok(result):
        assert tried[-1]["reason"] == "ok" and tried[-1]["return"] > 0
        assert result["arch"]["percpu_alloc"] == chosen
    else:
        # Only the page allocator failing ends the boot.
        assert tried[-1] == {"allocator": "page", "chosen": None, "return": -ENOMEM,
                             "reason": "alloc-failed"}
        assert case.fail_bootmem >= 0
        assert "arch" not in result


@pytest.mark.parametrize("generation", GENERATIONS)
@given(case=arch_cases("x86"))
@PROPERTY
def test_x86_declines_for_the_documented_reasons(generation: str, case: Case) -> None:
    result = model(generation, case)
    nodes = cpus_on_nodes_with_memory(case) if case.numa else {0}
    for a in result["attempts"]:
        reason = a["reason"]
        if a["allocator"] == "lpage":
            # Compiled out without NUMA; declined on one node unless chosen.
            assert (reason == "not-built") == (not case.numa)
            if case.numa and not a["chosen"]:
                assert (reason == "not-numa") == (len(nodes) < 2)
            if reason == "no-pse":
                assert not case.pse
        if a["allocator"] == "embed" and not a["chosen"]:
            assert reason in ("no-pse", "numa", "ok", "alloc-failed")
            assert (reason == "no-pse") == (not case.pse)
            if case.pse:
                assert (reason == "numa") == (len(nodes) > 1)
        if reason in ("not-built", "not-numa", "no-pse", "numa", "vmalloc-limit"):
            assert a["return"] == -EINVAL
    # Unknown words are said to be unknown and leave the choice to the kernel.
    warned = "PERCPU: unknown allocator" in result["log"]
    known = ("embed", "page", "lpage") if case.numa else ("embed", "page")
    assert warned == (case.percpu_alloc not in ("", *known))


@pytest.mark.parametrize("generation", GENERATIONS)
@given(case=arch_cases("x86"))
@PROPERTY
def test_x86_lpage_keeps_to_a_fifth_of_vmalloc_unless_chosen(generation: str,
                                                            case: Case) -> None:
    result = model(generation, case)
    lpage = next((a for a in result["attempts"] if a["allocator"] == "lpage"), None)
    if lpage is None or lpage["reason"] not in ("ok", "vmalloc-limit"):
        return
    layout = arch_flows.x86_lpage_layout(arch_flows.ArchRecord(Machine(case)))
    over = layout.chunk_bytes > case.vmalloc_size // 5
    if lpage["reason"] == "vmalloc-limit":
        assert over and not lpage["chosen"]
        assert f"too large chunk size {layout.chunk_bytes >> 20}MB" in result["log"]
    elif not lpage["chosen"]:
        assert not over


@pytest.mark.parametrize("generation", GENERATIONS)
@given(case=arch_cases("x86"))
@PROPERTY
def test_x86_large_pages_never_mix_nodes(generation: str, case: Case) -> None:
    """The lpage distance callback calls only cpus of one node local: no
    large page serves cpus of two nodes, and each is allocated on the node
    of its cpus when that node has memory."""
    result = model(generation, case)
    if not ok(result) or reasons(result)[-1] != "lpage:ok":
        return
    unit_size = result["state"]["unit_size"]
    per_page = X86_PMD_SIZE // unit_size if unit_size < X86_PMD_SIZE else 1
    pages: dict[int, set[int]] = {}
    for cpu in case.possible:
        pages.setdefault(result["state"]["unit_map"][cpu] // per_page, set()).add(
            case.node_of(cpu))
    assert all(len(nodes) == 1 for nodes in pages.values())
    node_bytes = result["bootmem"].get("node_bytes", [])
    for node in case.offline_nodes:
        assert not node_bytes or node_bytes[node] == 0


@pytest.mark.parametrize("generation", GENERATIONS)
@given(case=arch_cases())
@PROPERTY
def test_offsets_name_each_cpus_own_unit(generation: str, case: Case) -> None:
    """setup_per_cpu_areas() points every possible cpu at its unit: distinct,
    unit-aligned, inside the chunk; nothing for impossible cpus."""
    result = model(generation, case)
    if not ok(result):
        return
    offsets = result["arch"]["unit_offsets"]
    state = result["state"]
    unit = state["unit_size"]
    assert len(offsets) == case.possible[-1] + 1
    mine = [offsets[cpu] for cpu in case.possible]
    assert all(o is not None for o in mine)
    assert len(set(mine)) == len(mine)
    for cpu in case.possible:
        assert offsets[cpu] == state["unit_map"][cpu] * unit
        assert offsets[cpu] + unit <= state["chunk_size"]
    impossible = set(range(len(offsets))) - set(case.possible)
    assert all(offsets[cpu] is None for cpu in impossible)
    assert result["arch"]["readback_bad_cpus"] == []


@pytest.mark.parametrize("generation", GENERATIONS)
@given(case=arch_cases("sparc64"))
@PROPERTY
def test_sparc64_gives_each_cpu_its_4m_chunk(generation: str, case: Case) -> None:
    result = model(generation, case)
    assert result["attempts"] == []
    if not ok(result):
        assert result["outcome"]["kind"] in ("panic", "bug")
        if result["outcome"]["kind"] == "bug":
            # Only a static area bigger than the chunk holds.
            assert case.static_size + 28 * KB > SPARC64_CHUNK_SIZE
        return
    nr_cpu_ids = case.possible[-1] + 1
    assert result["arch"]["unit_offsets"] == [
        cpu * SPARC64_CHUNK_SIZE if cpu in case.possible else None for cpu in range(nr_cpu_ids)]
    assert result["bootmem"]["vm_areas"] == [{"size": nr_cpu_ids * SPARC64_CHUNK_SIZE,
                                              "align": SPARC64_CHUNK_SIZE}]
    assert result["state"]["unit_size"] == SPARC64_CHUNK_SIZE
    assert result["state"]["nr_units"] == nr_cpu_ids
    if case.numa:
        local = [c for c in case.possible if case.node_of(c) not in case.offline_nodes]
        assert sum(result["bootmem"].get("node_bytes", [])) == len(local) * SPARC64_CHUNK_SIZE
    # Bootmem that cannot hold a chunk per cpu is a panic, never a boot.
    assert case.bootmem_size >= len(case.possible) * SPARC64_CHUNK_SIZE


@given(case=arch_cases())
@PROPERTY
def test_generations_differ_only_by_packing(case: Case) -> None:
    """The commit message: no behaviour difference other than packing of
    sparse cpus.  Without injected failures (the new code makes more
    allocations that may fail), both generations try the same allocators
    for the same reasons, print the same messages and put every cpu at
    the same offset, except where embed and page pack sparse cpus."""
    case = replace(case, fail_bootmem=-1)
    old, new = model("unit_map", case), model("alloc_info", case)
    assert old["outcome"]["kind"] == new["outcome"]["kind"]
    assert old["attempts"] == new["attempts"]
    strip = [ln for ln in new["log"].splitlines() if "pcpu-" not in ln]
    assert strip == [ln for ln in old["log"].splitlines() if "pcpu-" not in ln]
    if not ok(old):
        return
    final = reasons(new)[-1] if new["attempts"] else "sparc64"
    if final in ("embed:ok", "page:ok"):
        unit = new["state"]["unit_size"]
        assert new["arch"]["unit_offsets"] == [
            case.possible.index(cpu) * unit if cpu in case.possible else None
            for cpu in range(case.possible[-1] + 1)]
    else:
        assert old["arch"]["unit_offsets"] == new["arch"]["unit_offsets"]


@pytest.mark.parametrize("generation", GENERATIONS)
@given(case=arch_cases())
@PROPERTY
def test_results_have_the_shape_of_an_arch_boot(generation: str, case: Case) -> None:
    result = model(generation, case)
    assert "return" not in result  # setup_per_cpu_areas() returns nothing
    if case.scenario == "sparc64":  # its chunks come from bootmem, not fc callbacks
        assert result["bootmem"]["fc_allocs"] == result["bootmem"]["fc_frees"] == 0
    if ok(result):
        assert result["arch"]["name"] == case.scenario
        assert ("cpu_number_bad_cpus" in result["arch"]) == (case.scenario == "x86")
        assert result["arch"]["percpu_alloc"] in ("auto", "lpage", "embed", "page")
        if case.scenario == "x86" and {"allocator": "page", "reason": "ok"}.items() <= \
                result["attempts"][-1].items():
            assert result["bootmem"]["fc_allocs"] > 0
    if "node_bytes" in result["bootmem"]:
        assert case.numa and len(result["bootmem"]["node_bytes"]) == case.nodes()


def test_bootmem_falls_back_below_the_goal() -> None:
    memory = Bootmem(24 * MB)
    assert memory.alloc(100, 64, 16 * MB) == 16 * MB
    assert memory.alloc(4 * MB, 4 * MB, 16 * MB) == 20 * MB
    assert memory.alloc(4 * MB, 4 * MB, 16 * MB) == 0  # the goal is dropped
    memory.free(20 * MB + 64 * KB, 4 * MB - 64 * KB)
    assert memory.alloc(8 * KB, 8 * KB, 8 * KB) == 4 * MB  # first fit from the goal up
    assert memory.alloc(8 * KB, 8 * KB, 20 * MB) == 20 * MB + 64 * KB  # freed memory is free
    assert memory.alloc(20 * MB, 4 * MB, 0) is None


# ------------------------------------------------------------- worked examples

def x86_case(**fields: Any) -> Case:
    base: dict[str, Any] = dict(name="x86-example", scenario="x86", nr_cpus=8,
                                possible=tuple(range(6)), static_size=64 * KB, page_size=4096)
    base.update(fields)
    return Case(**base).validate()


NUMA2 = dict(cpu_node=(0, 0, 0, 1, 1, 1), distance=TWO_NODES, numa=True)


def test_x86_numa_takes_large_pages_per_node() -> None:
    result = model("alloc_info", x86_case(**NUMA2))
    assert reasons(result) == ["lpage:ok"]
    assert result["log"] == (
        "<6>NR_CPUS:8 nr_cpumask_bits:8 nr_cpu_ids:6 nr_node_ids:2\n"
        "<7>per cpu data for cpu0 2097152 bytes on node0 at 0000000000000000\n"
        "<7>per cpu data for cpu3 2097152 bytes on node1 at 0000000000000000\n"
        "<6>PERCPU: large pages @<vmalloc> s65536 r8192 d20480 u524288\n"
        "<7>pcpu-alloc: s65536 r8192 d20480 u524288 alloc=1*2097152\n"
        "<7>pcpu-alloc: [0] 0 1 2 - [1] 3 4 5 - \n")
    assert result["arch"]["unit_offsets"] == [0, 512 * KB, 1 * MB, 2 * MB, 2560 * KB, 3 * MB]
    assert result["bootmem"]["node_bytes"] == [2 * MB, 2 * MB]
    assert result["bootmem"]["maps"] == 2
    old = model("unit_map", x86_case(**NUMA2))
    assert "<7>pcpu-lpage: 0 1 2 - | 3 4 5 - \n" in old["log"]
    assert old["arch"]["unit_offsets"] == result["arch"]["unit_offsets"]


def test_x86_without_numa_embeds() -> None:
    result = model("alloc_info", x86_case(possible=(0, 2, 4)))
    assert reasons(result) == ["lpage:not-built", "embed:ok"]
    assert result["arch"]["unit_offsets"] == [0, None, 92 * KB, None, 184 * KB]
    assert "node_bytes" not in result["bootmem"]
    old = model("unit_map", x86_case(possible=(0, 2, 4)))
    assert old["arch"]["unit_offsets"] == [0, None, 184 * KB, None, 368 * KB]


def test_x86_small_vmalloc_sends_numa_to_the_page_allocator() -> None:
    """4M of large pages is more than a fifth of 8M of vmalloc; embedding
    declines on NUMA; the page allocator sets the chunk up.  (The real new
    code BUGs here: pcpu_build_alloc_info() reuses the lpage call's static
    group counts, fixed upstream by fb59e72e7e1.)"""
    for generation in GENERATIONS:
        result = model(generation, x86_case(**NUMA2, vmalloc_size=8 * MB))
        assert ok(result)
        assert reasons(result) == ["lpage:vmalloc-limit", "embed:numa", "page:ok"]
        assert "<6>PERCPU: too large chunk size 4MB for large page remap\n" in result["log"]
        assert result["log"].count("per cpu data for cpu") == 6 * 18
        assert result["bootmem"]["node_bytes"] == [3 * 18 * 4 * KB] * 2


def test_x86_chosen_allocator_that_fails_falls_back_to_pages() -> None:
    result = model("alloc_info", x86_case(percpu_alloc="embed", fail_bootmem=1))
    assert reasons(result) == ["embed:alloc-failed", "page:ok"]
    assert "<4>PERCPU: embed allocator failed (-12), falling back to page size\n" in result["log"]
    assert result["arch"]["percpu_alloc"] == "embed"
    panic = model("alloc_info", x86_case(percpu_alloc="page", fail_bootmem=5))
    assert panic["outcome"] == {"kind": "panic",
                                "message": "cannot initialize percpu area (err=-12)"}


def test_x86_lpage_is_an_unknown_word_without_numa() -> None:
    """Kconfig: NEED_PER_CPU_LPAGE_FIRST_CHUNK depends on NEED_MULTIPLE_NODES."""
    result = model("unit_map", x86_case(percpu_alloc="lpage"))
    assert result["log"].startswith("<4>PERCPU: unknown allocator lpage specified\n")
    assert reasons(result) == ["lpage:not-built", "embed:ok"]
    assert result["arch"]["percpu_alloc"] == "auto"


def test_x86_two_online_nodes_need_numa_even_with_an_offline_one_between() -> None:
    """pcpu_need_numa(): more than one node available.  (The real code
    compares each cpu's node with the previous cpu's only, and a cpu of an
    offline node in between makes it answer no.)"""
    case = x86_case(possible=(0, 1, 2), cpu_node=(0, 1, 2),
                    distance=((10, 20, 20), (20, 10, 20), (20, 20, 10)), numa=True,
                    offline_nodes=(1,))
    result = model("alloc_info", case)
    assert reasons(result) == ["lpage:ok"]
    assert "<6>cpu 1 has no node 1 or node-local memory\n" in result["log"]
    assert result["bootmem"]["node_bytes"] == [2 * MB, 0, 2 * MB]


def sparc_case(**fields: Any) -> Case:
    base: dict[str, Any] = dict(name="sparc-example", scenario="sparc64", nr_cpus=8,
                                possible=(0, 2, 3), static_size=64 * KB, page_size=8192)
    base.update(fields)
    return Case(**base).validate()


def test_sparc64_identity_map_with_holes() -> None:
    result = model("alloc_info", sparc_case())
    assert result["log"] == ("<7>pcpu-alloc: s65536 r8192 d24576 u4194304 alloc=1*4194304\n"
                             "<7>pcpu-alloc: [0] 0 [0] - [0] 2 [0] 3 \n")
    groups = result["setup_args"]["alloc_info"]["groups"]
    assert groups == [{"nr_units": 4, "base_offset": 0, "cpu_map": [0, 8, 2, 3]}]
    assert result["arch"]["unit_offsets"] == [0, None, 8 * MB, 12 * MB]
    old = model("unit_map", sparc_case())
    assert old["log"] == ""
    assert old["setup_args"]["unit_map"] is None
    assert old["arch"]["unit_offsets"] == result["arch"]["unit_offsets"]


def test_sparc64_runs_out_of_bootmem() -> None:
    result = model("unit_map", sparc_case(possible=(0, 1), numa=True, bootmem_size=8 * MB))
    assert result["outcome"]["kind"] == "panic"
    assert result["log"].count("per cpu data") == 1
    assert result["bootmem"]["node_bytes"] == [4 * MB]
    # Below the 16M goal when above it is full.
    fits = model("unit_map", sparc_case(possible=(0, 1, 2, 3, 4, 5), bootmem_size=28 * MB))
    assert ok(fits)


def test_sparc64_has_no_allocator_to_choose() -> None:
    result = model("alloc_info", sparc_case(percpu_alloc="embed"))
    assert result["log"].startswith("<4>PERCPU: unknown allocator embed specified\n")
    failed = model("alloc_info", sparc_case(fail_bootmem=0))
    assert failed["outcome"]["kind"] == "panic"  # nothing to go on without the alloc_info


# ------------------------------------------------------------- real code

TREE = os.environ.get("PERCPU_DIFF_TREE")
REVISIONS = {"unit_map": "fd1e8a1fe2b5^", "alloc_info": "fd1e8a1fe2b5"}


@pytest.mark.tree
@pytest.mark.skipif(not TREE, reason="PERCPU_DIFF_TREE not set: no kernel tree to read")
@pytest.mark.parametrize("generation", GENERATIONS)
def test_models_agree_with_the_real_arch_flows(generation: str) -> None:
    """Cases where the kernel does what its documentation says: the model
    must agree field for field."""
    from harness.compile import shims
    from harness.judge import compare
    from harness.run import server
    from harness.sources import snapshot

    assert TREE is not None
    snap = snapshot.load_snapshot(snapshot.SourceSpec("tree", Path(TREE), REVISIONS[generation]))
    batch = [
        x86_case(**NUMA2),
        x86_case(**NUMA2, percpu_alloc="page"),
        x86_case(**NUMA2, pse=False),
        x86_case(**NUMA2, percpu_alloc="page", fail_bootmem=30),
        x86_case(possible=(0, 2, 4), numa=True, cpu_node=(0, 0, 0), distance=TWO_NODES),
        x86_case(possible=(0, 2, 4), percpu_alloc="bogus"),
        x86_case(**NUMA2, offline_nodes=(1,)),
    ]
    if generation == "unit_map":
        # The new code BUGs when the page allocator follows a failed embed
        # (new-build-info-reused): pcpu_build_alloc_info() called twice.
        batch.append(x86_case(**NUMA2, percpu_alloc="embed", fail_bootmem=0))
    sparc = [sparc_case(), sparc_case(numa=True, cpu_node=(0, 1, 1), distance=TWO_NODES,
                                      offline_nodes=(1,)),
             sparc_case(possible=(0, 1, 2), numa=True, cpu_node=(0, 0, 0), distance=TWO_NODES,
                        bootmem_size=12 * MB)]
    for cases_ in (batch, sparc):
        rendered = shims.render(snap, arch=cases_[0].scenario)
        for case in cases_:
            shim = shims.build(rendered, shims.config_for(case.nr_cpus, case.page_shift, False,
                                                          case.arch, case.numa))
            kernel = server.run_one(shim, case)
            differences = [d for d in compare.compare(kernel, model(generation, case))
                           if not known_kernel_bug(generation, case, d.field, d.kernel)
                           and not (d.field == "bootmem.fc_free_bytes" and
                                    generation == "alloc_info" and d.kernel < d.model)]
            assert differences == [], (case, [d.describe() for d in differences])


def known_kernel_bug(generation: str, case: Case, field: str, value: Any) -> bool:
    """The first/last unit cpu bugs of cases/triage.toml: the old identity
    map's (old-identity-*), the new lpage's empty last unit
    (new-lpage-last-unit-cpu-empty-slot); and the new lpage keeping the bytes
    of empty units (new-lpage-empty-unit-kept: it frees less)."""
    if field == "state.last_unit_cpu":
        return value == (4294967295 if generation == "unit_map" else case.nr_cpus)
    return (field == "state.first_unit_cpu" and generation == "unit_map" and value == 0
            and 0 not in case.possible)


# x86 before f58dc01ba2c read percpu_alloc= itself (the revision's facts).
OWN_CHOICE = {arch_flows.X86_OWN_PERCPU_ALLOC: 1}
OWN_CHOICE_4K = OWN_CHOICE | {arch_flows.X86_PAGE_NAMED_4K: 1}


def test_x86_own_choice_sends_an_unknown_word_to_the_page_allocator() -> None:
    """Any word is a choice: one that names no allocator is warned about and,
    like a chosen allocator that failed, falls back to page size."""
    result = py_impl.run_model("unit_map", x86_case(percpu_alloc="auto"), OWN_CHOICE)
    assert reasons(result) == ["page:ok"]
    assert result["log"].split("\n")[1:3] == [
        "<4>PERCPU: unknown allocator auto specified",
        "<4>PERCPU: auto allocator failed (-22), falling back to page size"]
    assert result["arch"]["percpu_alloc"] == "auto"
    # lpage without NUMA support is tried (compiled out), then pages.
    lpage = py_impl.run_model("unit_map", x86_case(percpu_alloc="lpage"), OWN_CHOICE)
    assert reasons(lpage) == ["lpage:not-built", "page:ok"]
    assert "<4>PERCPU: lpage allocator failed (-22), falling back to page size\n" in lpage["log"]
    assert lpage["arch"]["percpu_alloc"] == "lpage"
    none = py_impl.run_model("unit_map", x86_case(), OWN_CHOICE)
    assert reasons(none) == ["lpage:not-built", "embed:ok"]
    assert none["arch"]["percpu_alloc"] == "auto"


def test_x86_own_choice_names_the_page_allocator_4k_before_the_rename() -> None:
    old = py_impl.run_model("unit_map", x86_case(percpu_alloc="4k"), OWN_CHOICE_4K)
    assert reasons(old) == ["page:ok"]
    assert "allocator" not in old["log"]
    page = py_impl.run_model("unit_map", x86_case(percpu_alloc="page"), OWN_CHOICE_4K)
    assert reasons(page) == ["page:ok"]
    assert "<4>PERCPU: page allocator failed (-22), falling back to 4k\n" in page["log"]


# x86 on 2f39e637ea2: its lpage path still hands pcpu_lpage_first_chunk() a
# large page per cpu, checking the vmalloc space before PSE.
PER_CPU_LPAGE = OWN_CHOICE_4K | {arch_flows.X86_LPAGE_PER_CPU: 1}


def test_x86_lpage_per_cpu_takes_one_large_page_per_possible_cpu() -> None:
    result = py_impl.run_model("unit_map", x86_case(**NUMA2), PER_CPU_LPAGE)
    assert reasons(result) == ["lpage:ok"]
    assert result["setup_args"]["unit_size"] == 2 * MB
    assert result["setup_args"]["unit_map"] is None  # "NULL for sequential mapping"
    assert result["bootmem"]["fc_allocs"] == 6 and result["bootmem"]["maps"] == 6
    assert result["bootmem"]["vm_areas"] == [{"size": 12 * MB, "align": 2 * MB}]


def test_x86_lpage_per_cpu_declines_what_one_large_page_cannot_hold() -> None:
    """Static data past a large page is refused where the later path would
    take two large pages a unit; the page allocator takes over."""
    big = x86_case(**NUMA2, static_size=2 * MB)
    assert reasons(py_impl.run_model("unit_map", big, PER_CPU_LPAGE)) == [
        "lpage:alloc-failed", "embed:numa", "page:ok"]
    later = py_impl.run_model("unit_map", big, OWN_CHOICE_4K)
    assert reasons(later)[0] == "lpage:ok"


def test_x86_lpage_per_cpu_checks_vmalloc_space_before_pse() -> None:
    tight = x86_case(**NUMA2, pse=False, vmalloc_size=5 * 6 * 2 * MB)  # exactly a fifth
    assert reasons(py_impl.run_model("unit_map", tight, PER_CPU_LPAGE))[0] == "lpage:no-pse"
    tighter = replace(tight, vmalloc_size=tight.vmalloc_size - 1)
    result = py_impl.run_model("unit_map", tighter, PER_CPU_LPAGE)
    assert reasons(result)[0] == "lpage:vmalloc-limit"
    assert "<6>PERCPU: too large chunk size 12MB for large page remap" in result["log"]

"""The modern model (Linux 6.1 / 6.12) on its own: worked examples by hand.

Every expected value below is derived from the documentation the model
follows (mm/percpu.c's kernel-doc, include/linux/percpu.h, the variables'
comments), not read off the model; the derivation is in the comments.  No
kernel tree is needed.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

import py_impl
from harness.campaign import generate
from harness.core.cases import Case
from py_impl import modern
from py_impl.alloc_info import AllocInfo, GroupInfo
from py_impl.machine import BootRecord, Machine, ModelBug
from py_impl.result import Boot

KB, MB = 1 << 10, 1 << 20
TWO_NODES = ((10, 20), (20, 10))
PROPERTY = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def run(case: Case) -> dict[str, Any]:
    return py_impl.run_model("modern", case)


def ai(result: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = result["setup_args"]["alloc_info"]
    return info


def slots(result: dict[str, Any]) -> list[list[int | None]]:
    nr_cpus = result["nr_cpus"]
    return [[None if c == nr_cpus else c for c in g["cpu_map"]] for g in ai(result)["groups"]]


def booted(result: dict[str, Any]) -> bool:
    return result["outcome"]["kind"] == "ok" and result.get("return") == 0


# ---------------------------------------------------------------- sizes

def test_dynamic_size_is_raised_to_the_early_minimum_then_pages() -> None:
    # 40000 + 8192 + max(100, 12K) = 60480 -> 15 pages = 61440; dyn gets the rest.
    result = run(Case("x", "embed", 8, (0, 1), static_size=40000, reserved_size=8192,
                      dyn_size=100))
    info = ai(result)
    assert info["dyn_size"] == 61440 - 40000 - 8192 == 13248
    assert info["unit_size"] == 61440
    assert "Embedded 15 pages/cpu s40000 r8192 d13248 u61440" in result["log"]


def test_auto_dynamic_size_is_percpu_dynamic_reserve() -> None:
    # 40960 + 8192 + 28K = 77824, already 19 whole pages.
    info = ai(run(Case("x", "embed", 8, (0, 1))))
    assert (info["dyn_size"], info["unit_size"]) == (28 << 10, 77824)


@pytest.mark.parametrize("page_size", [4096, 8192])
def test_units_are_at_least_pcpu_min_unit_size(page_size: int) -> None:
    # 64 + 0 + 12K needs 16K; PCPU_MIN_UNIT_SIZE is PFN_ALIGN(32K) = 32K.
    result = run(Case("x", "embed", 8, (0, 1), static_size=64, reserved_size=0, dyn_size=0,
                      page_size=page_size))
    assert ai(result)["unit_size"] == 32 * KB
    assert ai(result)["dyn_size"] == 16 * KB - 64


def test_6_12_raises_the_early_minimum_to_20k() -> None:
    # page asks for no dynamic area: 40960 + 8192 + 20K = 69632 (17 pages)
    # with 6.12's percpu.h, 40960 + 8192 + 12K = 61440 (15 pages) with 6.1's,
    # which is also what a run without the revision's constants assumes.
    case = Case("x", "page", 8, (0, 1))
    info = ai(py_impl.run_model("modern", case, {"PERCPU_DYNAMIC_EARLY_SIZE": 20 * KB}))
    assert (info["dyn_size"], info["unit_size"]) == (20 * KB, 69632)
    assert ai(run(case))["dyn_size"] == 12 * KB
    assert ai(py_impl.run_model("modern", case, {"PERCPU_DYNAMIC_EARLY_SIZE": 12 * KB,
                                                 "PERCPU_DYNAMIC_RESERVE": 28 * KB}))[
        "dyn_size"] == 12 * KB


def test_the_revisions_constants_are_inputs() -> None:
    # "auto" is PERCPU_DYNAMIC_RESERVE: 40960 + 8192 + 40K = 90112 (22 pages);
    # a 64K PCPU_MIN_UNIT_SIZE lifts a 16K need to 64K units.
    auto = Case("a", "embed", 8, (0, 1))
    assert ai(py_impl.run_model("modern", auto, {"PERCPU_DYNAMIC_RESERVE": 40 * KB}))[
        "unit_size"] == 90112
    tiny = Case("t", "embed", 8, (0, 1), static_size=64, reserved_size=0, dyn_size=0)
    assert ai(py_impl.run_model("modern", tiny, {"PCPU_MIN_UNIT_SIZE": 64 * KB}))[
        "unit_size"] == 64 * KB


# ------------------------------------------------------------- grouping

def test_grouping_by_node_distance_with_2m_atoms() -> None:
    # Unit of 77824 bytes; a 2M allocation cuts into 16, 8, 4, 2 or 1
    # page-aligned units.  Groups {0,1,2} and {3,4}: 5 cpus may waste at most
    # 5 // 3 = 1 unit; 4 per allocation wastes 1 + 2, 2 per allocation wastes
    # 1 + 0 in 3 allocations, 1 per allocation needs 5: two 1M units each.
    result = run(Case("g", "embed", 8, (0, 1, 2, 3, 4), cpu_node=(0, 0, 0, 1, 1),
                      distance=TWO_NODES, atom_size=2 * MB))
    info = ai(result)
    assert (info["unit_size"], info["alloc_size"]) == (MB, 2 * MB)
    assert slots(result) == [[0, 1, 2, None], [3, 4]]
    dump = [line for line in result["log"].splitlines() if "pcpu-alloc:" in line]
    assert dump == ["<7>pcpu-alloc: s40960 r8192 d28672 u1048576 alloc=1*2097152",
                    "<7>pcpu-alloc: [0] 0 1 [0] 2 - [1] 3 4 "]
    # Top-down memblock: group 0 (4M) is allocated first, above group 1 (2M),
    # which becomes the base.
    state = result["state"]
    assert state["group_offsets"] == [2 * MB, 0]
    assert state["group_sizes"] == [4 * MB, 2 * MB]
    assert state["unit_offsets"] == [2 * MB, 3 * MB, 4 * MB, 0, MB]
    assert (state["low_unit_cpu"], state["high_unit_cpu"]) == (3, 2)
    # One allocation per group near its first cpu; each cpu's unit keeps
    # 77824 bytes, the empty unit goes back whole.
    bootmem = result["bootmem"]
    assert bootmem["fc_alloc_bytes_by_node"] == [4 * MB, 2 * MB]
    assert bootmem["fc_frees"] == 6
    assert bootmem["fc_free_bytes"] == 5 * (MB - 77824) + MB
    assert result["static_copies"]["chunk_held"] == 5 * 77824


@pytest.mark.parametrize(("cpus", "unit", "units"), [
    (4, 512 * KB, 4),   # 4 per 2M allocation, nothing wasted
    (5, MB, 6),         # 4 per allocation would waste 3 of 8 (62.5% used)
    (7, 256 * KB, 8),   # 8 per allocation wastes 1 of 8 (7 // 3 = 2 allowed)
])
def test_units_per_allocation_keeps_75_percent_usage(cpus: int, unit: int, units: int) -> None:
    result = run(Case("u", "embed", 8, tuple(range(cpus)), atom_size=2 * MB))
    assert ai(result)["unit_size"] == unit
    assert result["state"]["nr_units"] == units


def test_groups_never_hold_cpus_that_are_not_local_both_ways() -> None:
    # Node 0 is local to nodes 1 and 2, which are remote from each other:
    # cpus 1 and 2 may not share a group, whichever cpu a group starts with.
    distance = ((10, 10, 10), (10, 10, 20), (10, 20, 10))
    result = run(Case("n", "embed", 4, (0, 1, 2), cpu_node=(0, 1, 2), distance=distance))
    assert slots(result) == [[0, 1], [2]]


def test_a_node_not_local_to_itself_splits_its_cpus() -> None:
    # LOCAL_DISTANCE both ways is the rule; a node at 20 from itself has no
    # local cpus, not even its own.
    result = run(Case("d", "embed", 4, (0, 1, 2), cpu_node=(0, 0, 1),
                      distance=((20, 20), (20, 10))))
    assert slots(result) == [[0], [1], [2]]


def test_page_allocator_uses_one_group_whatever_the_distances() -> None:
    result = run(Case("p", "page", 8, (0, 1, 2, 3), cpu_node=(0, 0, 1, 1),
                      distance=TWO_NODES))
    assert slots(result) == [[0, 1, 2, 3]]
    assert ai(result)["alloc_size"] == ai(result)["unit_size"]


# -------------------------------------------------------- page and state

def test_page_first_chunk_maps_every_unit_page_by_page() -> None:
    # static 53244 (not page aligned) + 8192 + 12K = 73728 = 18 pages
    result = run(Case("p", "page", 8, (0, 2, 4), static_size=53244))
    assert result["return"] == 0
    assert "<6>percpu: 18 4K pages/cpu s53244 r8192 d12292" in result["log"]
    bootmem = result["bootmem"]
    assert bootmem["fc_allocs"] == 3 * 18
    assert bootmem["vm_areas"] == [{"size": 3 * 73728, "align": 4096}]
    assert bootmem["maps"] == 3
    # 216K of vmalloc space lies in one 2M span: one pte table.
    assert bootmem["ptes_populated"] == 1
    state = result["state"]
    assert state["base_addr"] == "vmalloc"
    assert state["unit_offsets"] == [0, None, 73728, None, 2 * 73728]
    assert result["static_copies"]["chunk_held"] is None


def test_chunks_of_a_first_chunk_with_unaligned_static_area() -> None:
    # The static area ends at 53244, already a multiple of 4.  Reserved chunk:
    # [53244, 61436) seen from its page base 49152: start_offset 4092, region
    # of 3 pages, end_offset 12288 - 12284 = 4; its first and last pages are
    # partly hidden, one page is empty.  Dynamic chunk: [61436, 73728) from
    # base 57344: start_offset 4092, 4 pages, end_offset 0, 3 empty pages.
    state = run(Case("p", "page", 8, (0, 2, 4), static_size=53244))["state"]
    reserved, first = state["reserved_chunk"], state["first_chunk"]
    assert (reserved["free_bytes"], reserved["start_offset"], reserved["end_offset"],
            reserved["nr_pages"], reserved["nr_empty_pop_pages"]) == (8192, 4092, 4, 3, 1)
    assert (first["free_bytes"], first["start_offset"], first["end_offset"],
            first["nr_pages"], first["nr_empty_pop_pages"]) == (12292, 4092, 0, 4, 3)
    assert first["immutable"] and first["nr_populated"] == first["populated_bits"] == 4
    # "The reserved chunk doesn't contribute to the count"
    assert state["nr_empty_pop_pages"] == 3
    # static + reserved + dynamic pages, once per unit
    assert state["nr_populated"] == 18


def test_without_reserved_area_the_dynamic_chunk_follows_static() -> None:
    # 40961 + 28K = 69633 -> 18 pages, dyn_size 73728 - 40961 = 32767.  The
    # static end rounds up to 40964 for the minimum allocation size and the
    # dynamic area shrinks by 3 to 32764: 4 bytes into a page, 8 pages, the
    # first of them partly hidden.
    state = run(Case("e", "embed", 8, (0, 1), static_size=40961, reserved_size=0))["state"]
    assert state["reserved_chunk"] is None
    first = state["first_chunk"]
    assert (first["free_bytes"], first["start_offset"], first["end_offset"],
            first["nr_pages"], first["nr_empty_pop_pages"]) == (32764, 4, 0, 8, 7)
    assert first["base_addr"] == "phys"


@pytest.mark.parametrize(("unit", "slots_"), [(77824, 18), (32 * KB, 17), (MB, 22)])
def test_nr_slots(unit: int, slots_: int) -> None:
    # Slots by free size: 16-31 bytes in slot 2, one more per doubling (a
    # unit of 2^k..2^(k+1)-1 bytes in slot k - 2), then the sidelined, free
    # and to-depopulate slots.
    assert modern.size_to_slot(unit) + 4 == slots_


def test_nr_slots_in_the_state() -> None:
    assert run(Case("e", "embed", 8, (0, 1)))["state"]["nr_slots"] == 18


# --------------------------------------------------------------- failures

def boot_for(case: Case) -> Boot:
    boot = Boot(BootRecord(Machine(case)))
    modern.modern_record(boot)
    return boot


def test_dyn_size_below_the_early_minimum_is_a_bug() -> None:
    case = Case("b", "embed", 8, (0, 2))
    boot = boot_for(case)
    info = AllocInfo(static_size=40960, reserved_size=8192, dyn_size=4096, unit_size=57344,
                     atom_size=4096, alloc_size=57344,
                     groups=[GroupInfo(nr_units=2, base_offset=0, cpu_map=[0, 2])])
    with pytest.raises(ModelBug) as err:
        modern.setup_first_chunk(boot, modern.LINUX_6_1, info, "phys", 0)
    assert err.value.check == "ai->dyn_size < PERCPU_DYNAMIC_EARLY_SIZE"
    log = boot.record.log_text()
    assert "<0>percpu: failed to initialize, ai->dyn_size < PERCPU_DYNAMIC_EARLY_SIZE\n" in log
    # cpus 0 and 2 of nr_cpu_ids = 3
    assert "<0>percpu: cpu_possible_mask=5\n" in log
    assert "<0>pcpu-alloc: [0] 0 [0] 2 \n" in log
    assert boot.modern_state is None


def test_a_cpu_mapped_twice_is_a_bug() -> None:
    boot = boot_for(Case("b", "embed", 8, (0, 2)))
    info = AllocInfo(static_size=40960, reserved_size=8192, dyn_size=28672, unit_size=77824,
                     atom_size=4096, alloc_size=77824,
                     groups=[GroupInfo(nr_units=2, base_offset=0, cpu_map=[2, 2])])
    with pytest.raises(ModelBug, match=r"unit_map\[cpu\] != UINT_MAX"):
        modern.setup_first_chunk(boot, modern.LINUX_6_1, info, "phys", 0)


@pytest.mark.parametrize(("case", "check"), [
    (Case("s0", "page", 8, (0, 2, 4), static_size=0), "!ai->static_size"),
    (Case("r", "embed", 8, (0, 1), reserved_size=8190),
     "!IS_ALIGNED(ai->reserved_size, PCPU_MIN_ALLOC_SIZE)"),
])
def test_setup_bugs_name_their_check(case: Case, check: str) -> None:
    result = run(case)
    assert result["outcome"] == {"kind": "bug", "check": check}
    assert "state" not in result and "return" not in result
    assert f"<0>percpu: failed to initialize, {check}" in result["log"]


@pytest.mark.parametrize("scenario", ["embed", "page"])
def test_alloc_info_memblock_failure_is_enomem(scenario: str) -> None:
    result = run(Case("f", scenario, 8, (0, 1), fail_bootmem=0))
    assert result["return"] == -12
    assert "setup_args" not in result and result["log"] == ""


def test_embed_group_allocation_failure_gives_back_the_groups() -> None:
    # memblock calls: 0 alloc_info, 1 areas, 2 and 3 the two groups.
    result = run(Case("f", "embed", 8, (0, 1, 2, 3), cpu_node=(0, 0, 1, 1),
                      distance=TWO_NODES, fail_bootmem=3))
    assert result["return"] == -12
    bootmem = result["bootmem"]
    assert bootmem["fc_allocs"] == 1 == bootmem["fc_frees"]
    assert bootmem["fc_free_bytes"] == bootmem["fc_alloc_bytes"] == 2 * 77824
    assert bootmem["bad_free_count"] == 0


def test_page_allocation_failure_gives_back_every_page() -> None:
    # 0 alloc_info, 1 the pages array, then 15 pages per cpu (cpus 0, 2, 4):
    # call 22 is cpu 2's sixth page.
    result = run(Case("f", "page", 8, (0, 2, 4), fail_bootmem=22))
    assert result["return"] == -12
    assert "<4>percpu: failed to allocate 4K page for cpu2" in result["log"]
    bootmem = result["bootmem"]
    assert bootmem["fc_allocs"] == 20 == bootmem["fc_frees"]
    assert bootmem["maps"] == 0 and bootmem["vm_areas"] == []


def test_page_array_failure_panics() -> None:
    assert run(Case("f", "page", 8, (0, 1), fail_bootmem=1))["outcome"]["kind"] == "panic"


def test_page_table_failure_panics_before_the_unit_is_mapped() -> None:
    # 2 cpus x 15 pages after alloc_info and the pages array: the first
    # table is call 32 (p4d); 35 is the first pte table.
    result = run(Case("f", "page", 8, (0, 1), fail_bootmem=35))
    assert result["outcome"]["kind"] == "panic"
    assert (result["bootmem"]["maps"], result["bootmem"]["ptes_populated"]) == (0, 0)


def test_embed_spread_beyond_three_quarters_of_vmalloc_fails() -> None:
    # two groups of 77824 bytes back to back: 155648 > 3/4 of 200000
    result = run(Case("v", "embed", 8, (0, 1), cpu_node=(0, 1), distance=TWO_NODES,
                      vmalloc_size=200000))
    assert result["return"] == -22
    assert "<4>percpu: max_distance=0x26000 too large for vmalloc space 0x30d40" \
        in result["log"]
    assert result["bootmem"]["fc_frees"] == 2


# ------------------------------------------------------------------ NUMA

def test_numa_allocations_come_from_the_cpus_node() -> None:
    result = run(Case("n", "embed", 8, (0, 1, 2, 3), cpu_node=(0, 0, 1, 1),
                      distance=TWO_NODES, numa=True))
    assert result["bootmem"]["node_bytes"] == [2 * 77824, 2 * 77824]
    debug = [ln for ln in result["log"].splitlines() if "per cpu data" in ln]
    assert [ln.split(" at ")[0] for ln in debug] == [
        "<7>percpu: per cpu data for cpu0 155648 bytes on node0",
        "<7>percpu: per cpu data for cpu2 155648 bytes on node1"]


def test_numa_offline_node_takes_memory_from_anywhere() -> None:
    result = run(Case("n", "embed", 8, (0, 1), cpu_node=(0, 1), distance=TWO_NODES,
                      numa=True, offline_nodes=(1,)))
    assert "<6>percpu: cpu 1 has no node 1 or node-local memory" in result["log"]
    assert result["bootmem"]["node_bytes"] == [77824, 0]


def test_without_numa_nothing_is_node_directed() -> None:
    result = run(Case("n", "embed", 8, (0, 1), cpu_node=(0, 1), distance=TWO_NODES))
    assert "node_bytes" not in result["bootmem"]
    assert "per cpu data" not in result["log"]


# -------------------------------------------------------------- helpers

@pytest.mark.parametrize(("cpus", "nr_bits", "text"), [
    ((0, 1, 2, 3), 4, "f"),
    ((0, 2, *range(4, 21), 40), 41, "100,001ffff5"),
    ((31,), 32, "80000000"),
    ((32,), 33, "1,00000000"),
])
def test_cpu_mask_prints_like_pb(cpus: tuple[int, ...], nr_bits: int, text: str) -> None:
    assert modern.cpu_mask_hex(cpus, nr_bits) == text


def test_memblock_is_top_down_with_a_lower_limit_and_exact_frees() -> None:
    mem = modern.Memblock(1 * MB, -1)
    assert mem.alloc(4096, 4096) == MB - 4096
    assert mem.alloc(100, 64) == (MB - 4096 - 100) & ~63 == MB - 4224
    # nothing fits at or above 1M - 4096: below the limit is tried next,
    # the highest page-aligned 8K under the 100 bytes
    assert mem.alloc(8192, 4096, floor=MB - 4096) == MB - 4 * 4096
    mem.free(MB - 4096, 4096)
    assert mem.bad_frees == 0
    mem.free(MB - 4096, 4096)
    assert mem.bad_frees == 1
    assert mem.alloc(4096, 4096) == MB - 4096


def test_memblock_counts_every_call_towards_the_failing_one() -> None:
    mem = modern.Memblock(1 * MB, 3)
    runs = mem.alloc_run(10, 4096, 4096)
    assert runs == [(MB - 4096, 3)]
    assert mem.calls == 4
    assert mem.alloc(4096, 4096) == MB - 4 * 4096


def test_page_tables_per_span() -> None:
    # 4K pages: a pte table covers 2M, a pmd table 1G, a pud table 512G.
    events = modern.page_table_events(3 * MB, 4096)
    assert [(e.offset, e.level) for e in events] == [(0, 0), (0, 1), (0, 2), (0, 3),
                                                     (2 * MB, 3)]
    # 8K pages: 1024 entries a table, a pte table covers 8M.
    assert sum(e.level == 3 for e in modern.page_table_events(9 * MB, 8192)) == 2


# ------------------------------------------------------------ properties

@given(case=generate.cases(scenario="embed"))
@PROPERTY
def test_embed_keeps_exactly_the_used_part_of_every_cpu_unit(case: Case) -> None:
    result = run(case)
    if not booted(result):
        return
    info = ai(result)
    used = info["static_size"] + info["reserved_size"] + info["dyn_size"]
    bootmem = result["bootmem"]
    assert bootmem["fc_alloc_bytes"] - bootmem["fc_free_bytes"] == used * len(case.possible)
    assert result["static_copies"]["chunk_held"] == used * len(case.possible)
    assert bootmem["bad_free_count"] == 0


@given(case=generate.cases(scenario="embed"))
@PROPERTY
def test_layout_promises(case: Case) -> None:
    result = run(case)
    if not booted(result):
        return
    info, state = ai(result), result["state"]
    machine = Machine(case)
    groups = [[c for c in g if c is not None] for g in slots(result)]
    for group in groups:
        for a in group:
            for b in group:
                na, nb = machine.node_of(a), machine.node_of(b)
                assert a == b or (machine.node_distance(na, nb) == 10
                                  and machine.node_distance(nb, na) == 10)
    # ">=75% usage of allocated virtual address space"
    assert 4 * len(case.possible) >= 3 * state["nr_units"]
    assert info["unit_size"] % case.page_size == 0
    assert info["unit_size"] >= info["static_size"] + info["reserved_size"] + info["dyn_size"]
    # every possible cpu has its own unit, at its own offset
    offsets = [state["unit_offsets"][cpu] for cpu in case.possible]
    assert None not in offsets and len(set(offsets)) == len(offsets)
    assert state["low_unit_cpu"] == min(case.possible, key=lambda c: state["unit_offsets"][c])
    assert state["high_unit_cpu"] == max(case.possible, key=lambda c: state["unit_offsets"][c])


@given(case=generate.cases(scenario="page"))
@PROPERTY
def test_page_allocates_every_page_of_every_cpu(case: Case) -> None:
    result = run(case)
    if not booted(result):
        return
    state = result["state"]
    bootmem = result["bootmem"]
    assert bootmem["fc_allocs"] == state["unit_pages"] * len(case.possible)
    assert bootmem["maps"] == len(case.possible) == state["nr_units"]
    assert bootmem["vm_areas"] == [{"size": len(case.possible) * state["unit_size"],
                                    "align": case.page_size}]

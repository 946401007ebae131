"""The py_impl models on their own: the guarantees their contracts make.

Each property states a promise from a kernel-doc comment, a variable's
comment or the seed's commit message, and checks it over generated cases
(hypothesis, shrinking to a small machine on failure).  No kernel tree is
needed: these run in CI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import py_impl
from harness.campaign import generate
from harness.core import cases as case_mod
from harness.core import dumpfmt
from harness.core.cases import AUTO, Case
from harness.core.errors import UserError
from harness.core.klog import dump_text
from py_impl.layout import MIN_UNIT_SIZE, group_cpus, page_align, plan_units
from py_impl.machine import Machine

CASES = Path(__file__).resolve().parent.parent / "cases"
# The 2009 generations' contract; the modern model has tests/test_model_modern.py.
GENERATIONS = ("unit_map", "alloc_info")
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def boots(result: dict[str, Any]) -> bool:
    return result["outcome"]["kind"] == "ok" and result.get("return", -1) > 0


def unit_of(result: dict[str, Any]) -> dict[int, int]:
    units = result["state"]["unit_map"]
    return {cpu: units[cpu] for cpu in result["possible"]}


def slots(result: dict[str, Any]) -> list[int | None]:
    """Units in order with their cpu, None for an empty one."""
    args = result["setup_args"]
    nr_cpus = result["nr_cpus"]
    if "alloc_info" in args:
        return [None if c == nr_cpus else c
                for g in args["alloc_info"]["groups"] for c in g["cpu_map"]]
    by_unit = {u: cpu for cpu, u in unit_of(result).items()}
    total = result["build"]["return"] if "build" in result else result["state"]["nr_units"]
    return [by_unit.get(u) for u in range(total)]


@pytest.mark.parametrize("generation", GENERATIONS)
@given(case=generate.cases())
@PROPERTY
def test_every_possible_cpu_gets_exactly_one_unit(generation: str, case: Case) -> None:
    result = py_impl.run_model(generation, case)
    if not boots(result):
        return
    units = unit_of(result)
    assert sorted(units) == list(case.possible)
    assert len(set(units.values())) == len(units)
    assert all(0 <= u < result["state"]["nr_units"] for u in units.values())
    state = result["state"]
    # "cpus with the lowest and highest unit numbers"
    assert state["first_unit_cpu"] == min(units, key=units.__getitem__)
    assert state["last_unit_cpu"] == max(units, key=units.__getitem__)


@pytest.mark.parametrize("generation", GENERATIONS)
@given(case=generate.cases(scenario="lpage"))
@PROPERTY
def test_groups_never_mix_cpus_that_are_not_local(generation: str, case: Case) -> None:
    result = py_impl.run_model(generation, case)
    if "build" not in result or result["build"]["return"] < 0:
        return
    machine = Machine(case)
    if generation == "alloc_info":
        nr_cpus = case.nr_cpus
        groups = [[c for c in g["cpu_map"] if c != nr_cpus]
                  for g in result["build"]["alloc_info"]["groups"]]
    else:
        # The old API has no groups; cpus sharing a large page must be local.
        per_page = max(case.atom_size // result["build"]["unit_size"], 1)
        pages: dict[int, list[int]] = {}
        for cpu, unit in enumerate(result["build"]["unit_map"]):
            if unit is not None:
                pages.setdefault(unit // per_page, []).append(cpu)
        groups = list(pages.values())
    for group in groups:
        for a in group:
            for b in group:
                assert a == b or machine.local(a, b), (a, b, group)


@pytest.mark.parametrize("generation", GENERATIONS)
@given(case=generate.cases())
@PROPERTY
def test_unit_size_is_page_aligned_and_big_enough(generation: str, case: Case) -> None:
    result = py_impl.run_model(generation, case)
    if not boots(result):
        return
    args = result["setup_args"].get("alloc_info") or result["setup_args"]
    unit = args["unit_size"]
    assert unit % case.page_size == 0
    assert unit >= args["static_size"] + args["reserved_size"] + args["dyn_size"]
    assert unit >= MIN_UNIT_SIZE
    assert result["return"] == unit == result["state"]["unit_size"]


@pytest.mark.parametrize("generation", GENERATIONS)
@given(case=generate.cases(scenario="lpage"))
@PROPERTY
def test_at_least_three_quarters_of_the_address_space_is_used(generation: str,
                                                              case: Case) -> None:
    result = py_impl.run_model(generation, case)
    if not boots(result):
        return
    layout = slots(result)
    assert 4 * sum(c is not None for c in layout) >= 3 * len(layout)


@given(case=generate.cases(scenario="lpage"))
@PROPERTY
def test_alloc_info_shape_follows_its_comments(case: Case) -> None:
    result = py_impl.run_model("alloc_info", case)
    if not boots(result):
        return
    ai = result["setup_args"]["alloc_info"]
    unit, alloc = ai["unit_size"], ai["alloc_size"]
    # "Groups are always multiples of atom size"
    assert alloc % ai["atom_size"] == 0 and alloc % unit == 0
    offset = 0
    for group in ai["groups"]:
        assert group["nr_units"] * unit % alloc == 0
        assert len(group["cpu_map"]) == group["nr_units"]
        # "as if all groups are located back-to-back"
        assert group["base_offset"] == offset
        offset += group["nr_units"] * unit
        # empty slots hold NR_CPUS, and only at the end of the group
        cpus = group["cpu_map"]
        filled = [c for c in cpus if c != case.nr_cpus]
        assert cpus == filled + [case.nr_cpus] * (len(cpus) - len(filled))
        assert filled == sorted(filled)
    assert ai["nr_groups"] == len(ai["groups"])


@pytest.mark.parametrize("generation", GENERATIONS)
@given(case=generate.cases())
@PROPERTY
def test_dynamic_size_rule(generation: str, case: Case) -> None:
    result = py_impl.run_model(generation, case)
    if not boots(result):
        return
    args = result["setup_args"].get("alloc_info") or result["setup_args"]
    static, reserved, dyn = args["static_size"], args["reserved_size"], args["dyn_size"]
    requested = AUTO if case.scenario == "page" else case.dyn_size
    if requested == 0:
        assert dyn == 0
    else:
        # grows only to fill page alignment after static + reserved
        total = static + reserved + dyn
        assert total % case.page_size == 0
        assert max(requested, 0) <= dyn < max(requested, 0) + case.page_size


@pytest.mark.parametrize("generation", GENERATIONS)
@given(case=generate.cases())
@PROPERTY
def test_first_chunk_maps(generation: str, case: Case) -> None:
    result = py_impl.run_model(generation, case)
    if not boots(result):
        return
    state = result["state"]
    args = result["setup_args"].get("alloc_info") or result["setup_args"]
    static, reserved, dyn = args["static_size"], args["reserved_size"], args["dyn_size"]
    first, reserved_chunk = state["first_chunk"], state["reserved_chunk"]
    # negative: allocated; positive: free; the static area is always allocated
    assert first["map"][0] < 0 and all(v > 0 for v in first["map"][1:])
    assert first["free_size"] == sum(v for v in first["map"] if v > 0)
    if reserved:
        assert reserved_chunk["map"] == [-static, reserved]
        assert state["reserved_chunk_limit"] == static + reserved
        assert first["map"] == ([-(static + reserved), dyn] if dyn else [-static, reserved])
    else:
        assert reserved_chunk is None and state["reserved_chunk_limit"] == 0
        assert first["map"] == ([-static, dyn] if dyn else [-static])
    assert first["populated_bits"] == state["unit_pages"]
    assert state["chunk_size"] == state["nr_units"] * state["unit_size"]


@pytest.mark.parametrize("scenario", ["embed", "page"])
@given(data=st.data())
@PROPERTY
def test_packing_is_the_declared_difference(scenario: str, data: st.DataObject) -> None:
    """Commit message: possible cpus 0, 2, 4 get units 0, 1, 2 instead of 0, 2, 4."""
    case = data.draw(generate.cases(scenario=scenario))
    old = py_impl.run_model("unit_map", case)
    new = py_impl.run_model("alloc_info", case)
    if not (boots(old) and boots(new)):
        return
    assert unit_of(old) == {cpu: cpu for cpu in case.possible}
    assert unit_of(new) == {cpu: rank for rank, cpu in enumerate(case.possible)}
    assert old["state"]["nr_units"] == case.possible[-1] + 1
    assert new["state"]["nr_units"] == len(case.possible)
    assert old["state"]["unit_size"] == new["state"]["unit_size"]


@given(case=generate.cases(scenario="lpage"))
@PROPERTY
def test_lpage_layout_is_the_same_in_both_generations(case: Case) -> None:
    """The large-page map was already packed: nothing may change there."""
    old = py_impl.run_model("unit_map", case)
    new = py_impl.run_model("alloc_info", case)
    if new["build"]["alloc_info"] is None:
        # Only the new API allocates its info from bootmem, which may fail.
        assert case.fail_bootmem == 0 and new["build"]["return"] == -12
        return
    assert old["build"]["unit_size"] == new["build"]["alloc_info"]["unit_size"]
    if boots(old) and boots(new):
        assert slots(old) == slots(new)
        assert unit_of(old) == unit_of(new)


@pytest.mark.parametrize("generation", GENERATIONS)
@given(case=generate.cases(scenario="lpage"))
@PROPERTY
def test_lpage_returns_every_unused_hole(generation: str, case: Case) -> None:
    result = py_impl.run_model(generation, case)
    bootmem = result["bootmem"]
    if not boots(result):
        # A failed allocation gives back everything it got.
        if result.get("return", 0) < 0:
            assert bootmem["fc_free_bytes"] == bootmem["fc_alloc_bytes"]
        return
    args = result["setup_args"].get("alloc_info") or result["setup_args"]
    used = args["static_size"] + args["reserved_size"] + args["dyn_size"]
    held = bootmem["fc_alloc_bytes"] - bootmem["fc_free_bytes"]
    assert held == used * len(case.possible)
    assert sum(bootmem["fc_alloc_bytes_by_node"]) == bootmem["fc_alloc_bytes"]


@pytest.mark.parametrize("generation", GENERATIONS)
@given(case=generate.cases())
@PROPERTY
def test_dump_parses_back_to_the_layout(generation: str, case: Case) -> None:
    result = py_impl.run_model(generation, case)
    text = dump_text(result["log"])
    if not text:
        return
    table = dumpfmt.parse(text)
    assert dumpfmt.render(table) == text
    if boots(result):
        assert list(table.slots()) == slots(result)


@pytest.mark.parametrize("generation", GENERATIONS)
def test_page_failure_gives_everything_back(generation: str) -> None:
    case = Case("fail", "page", 8, (0, 2, 4), fail_fc_alloc=20)
    result = py_impl.run_model(generation, case)
    assert result["return"] == -12
    assert result["bootmem"]["fc_allocs"] == 20 == result["bootmem"]["fc_frees"]
    assert "PERCPU: failed to allocate 4K page for cpu2" in result["log"]
    assert "state" not in result


@pytest.mark.parametrize("generation", GENERATIONS)
def test_empty_static_area_is_a_bug(generation: str) -> None:
    result = py_impl.run_model(generation, Case("s0", "page", 8, (0, 2, 4), static_size=0))
    assert result["outcome"] == {"kind": "bug", "check": "the static area is empty"}
    assert "state" not in result and "return" not in result


def test_grouping_is_first_fit_over_non_transitive_distances() -> None:
    local = {(0, 1), (1, 2)}

    def near(a: int, b: int) -> bool:
        return a == b or (min(a, b), max(a, b)) in local

    def own_node(cpu: int) -> int:
        return cpu

    assert group_cpus([0, 1, 2], own_node, near) == [[0, 1], [2]]
    assert group_cpus([1, 0, 2], own_node, near) == [[1, 0], [2]]
    # a node whose cpus are remote from each other puts each in its own group
    assert group_cpus([0, 1, 2], lambda cpu: 0, lambda a, b: False) == [[0], [1], [2]]


@pytest.mark.parametrize(("groups", "needed", "atom", "expected"), [
    # one 2M page cut into 32 units of 64K fits 3 cpus in one allocation
    ([3], 64 << 10, 2 << 20, (2 << 20, 4)),      # wasting 1 of 4 is the limit
    ([2, 1], 64 << 10, 2 << 20, (2 << 20, 2)),   # 2 allocations either way: larger units
    ([5], 64 << 10, 2 << 20, (2 << 20, 2)),      # 1 of 6 wasted beats 3 of 8
    ([1], 3 << 20, 2 << 20, (4 << 20, 1)),       # unit bigger than the atom
    ([4], 300 << 10, 4096, (300 << 10, 1)),      # page atom: one unit per allocation
])
def test_units_per_allocation_search(groups: list[int], needed: int, atom: int,
                                     expected: tuple[int, int]) -> None:
    plan = plan_units(groups, needed, atom, 4096)
    assert (plan.alloc_size, plan.units_per_alloc) == expected


def test_area_sizes_round_to_pages() -> None:
    case = Case("x", "embed", 8, (0, 1), static_size=40000, reserved_size=8192, dyn_size=100)
    result = py_impl.run_model("alloc_info", case)
    ai = result["setup_args"]["alloc_info"]
    assert ai["dyn_size"] == page_align(48292, 4096) - 48192


@pytest.mark.parametrize("path", sorted(p for p in CASES.glob("*.toml")
                                        if p.name != "triage.toml"), ids=lambda p: p.stem)
@pytest.mark.parametrize("generation", GENERATIONS)
def test_models_boot_every_named_case(path: Path, generation: str) -> None:
    case = case_mod.load_case(path)
    assert set(GENERATIONS) <= set(case.expect), "each case says what to expect of both"
    result = py_impl.run_model(generation, case)
    assert result["outcome"]["kind"] in ("ok", "bug", "panic")
    assert result["generation"] == generation


def test_unknown_model_is_a_user_error() -> None:
    with pytest.raises(UserError, match="no model for generation 'sparc'"):
        py_impl.run_model("sparc", Case("x"))


def test_show_model_alone_prints_its_json() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli.app", "show", "--model", "alloc_info",
         "--case", str(CASES / "sparse-0-2-4-embed.toml"), "--json"],
        capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["source"] == "model:alloc_info"
    assert [g["cpu_map"] for g in result["setup_args"]["alloc_info"]["groups"]] == [[0, 2, 4]]
    assert result["log"].endswith("<7>pcpu-alloc: [0] 0 [0] 2 [0] 4 \n")


def test_show_model_alone_for_people() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli.app", "show", "--model", "unit_map",
         "--possible", "0,2,4", "--nr-cpus", "8"],
        capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "model:unit_map" in proc.stdout
    assert "4294967295" not in proc.stdout


def test_model_result_does_not_depend_on_the_case_name() -> None:
    case = Case("a", "lpage", 8, (0, 2, 4), cpu_node=(0, 0, 1), distance=((10, 20), (20, 10)),
                atom_size=2 << 20)
    a = py_impl.run_model("alloc_info", case)
    b = py_impl.run_model("alloc_info", replace(case, name="b"))
    for key in ("id", "case"):
        a.pop(key), b.pop(key)
    assert a == b


@given(fail_fc=st.integers(-1, 12), fail_bootmem=st.integers(-1, 12),
       batches=st.lists(st.integers(0, 6), max_size=5))
@PROPERTY
def test_counted_page_allocations_fail_where_one_by_one_would(
        fail_fc: int, fail_bootmem: int, batches: list[int]) -> None:
    """fc_alloc_many() counts instead of looping; it must stop exactly where
    one call at a time (arch failure first, then bootmem) would."""
    from py_impl.machine import BootRecord

    case = Case("f", "page", 8, (0, 1), fail_fc_alloc=fail_fc, fail_bootmem=fail_bootmem)
    record = BootRecord(Machine(case))
    fc_calls = bootmem_calls = 0
    for count in batches:
        expected = 0
        for _ in range(count):
            fc_index, fc_calls = fc_calls, fc_calls + 1
            if fc_index == fail_fc:
                break
            bootmem_index, bootmem_calls = bootmem_calls, bootmem_calls + 1
            if bootmem_index == fail_bootmem:
                break
            expected += 1
        assert record.fc_alloc_many(1, 4096, count) == expected
        if expected < count:
            break
    assert record.bootmem_may_fail() == (bootmem_calls != fail_bootmem)

"""The shrinker, against synthetic predicates (no shim, no kernel).

Each predicate stands in for "the difference still shows": a property of
the case that the shrinker has to keep while it strips everything else.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.campaign.generate import ALL_ORDER, cases, generate
from harness.campaign.shrink import (
    CANONICAL_STATIC,
    ShrinkResult,
    _booted_fields,
    canonical_atom,
    shrink,
    size_key,
)
from harness.core.cases import ARCH_SCENARIOS, AUTO, LOCAL_DISTANCE, Case
from harness.core.cases import GENERIC_SCENARIOS as SCENARIOS
from harness.core.errors import UserError

Predicate = Callable[[Case], bool]

FOUR_NODES = ((10, 20, 30, 40), (25, 10, 20, 30), (30, 20, 10, 20), (40, 30, 20, 17))


def big(**changes: Any) -> Case:
    """64 cpus on four nodes, odd sizes, both failure injections: room to shrink everywhere."""
    base = Case(
        name="big", description="a big one", nr_cpus=64, possible=tuple(range(64)),
        cpu_node=tuple(i // 16 for i in range(64)), distance=FOUR_NODES,
        static_size=53244, reserved_size=5000, dyn_size=12345,
        bootmem_size=1 << 30, vmalloc_size=1 << 30, fail_fc_alloc=2, fail_bootmem=1,
    )
    return replace(base, **changes).validate()


class Recorder:
    """A predicate that counts its calls and checks it only ever sees valid cases."""

    def __init__(self, predicate: Predicate) -> None:
        self.predicate = predicate
        self.calls: Counter[tuple[object, ...]] = Counter()

    def __call__(self, case: Case) -> bool:
        case.validate()
        self.calls[_booted_fields(case)] += 1
        return self.predicate(case)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def run(case: Case, predicate: Predicate, budget: int = 400) -> tuple[ShrinkResult, Recorder]:
    recorder = Recorder(predicate)
    result = shrink(case, recorder, budget=budget)
    assert result.attempts == recorder.total <= budget
    assert max(recorder.calls.values(), default=1) == 1, "a case was booted twice"
    assert _booted_fields(case) not in recorder.calls, "the input was booted again"
    return result, recorder


def nodes_in_use(case: Case) -> set[int]:
    return set(case.cpu_node) if case.cpu_node is not None else {0}


def asymmetric_pair(case: Case) -> bool:
    """Two cpus on nodes that see each other at different distances."""
    m = case.distance
    used = nodes_in_use(case)
    return m is not None and any(m[a][b] != m[b][a] for a in used for b in used if a != b)


def assert_canonical_sizes(case: Case) -> None:
    assert case.static_size == CANONICAL_STATIC
    assert case.reserved_size == 0
    assert case.dyn_size == AUTO
    assert case.atom_size == canonical_atom(case.scenario)
    assert (case.bootmem_size, case.vmalloc_size) == (Case(name="d").bootmem_size,
                                                      Case(name="d").vmalloc_size)
    assert (case.fail_fc_alloc, case.fail_bootmem) == (-1, -1)


# ------------------------------------------------------------- shrinking

def test_keeps_cpu5_and_two_more() -> None:
    result, _ = run(big(), lambda c: 5 in c.possible and len(c.possible) >= 3)
    case = result.case
    assert len(case.possible) == 3 and 5 in case.possible
    assert case.nr_cpus == 6 or (case.nr_cpus in (8, 16) and case.nr_cpus > max(case.possible))
    assert case.possible == (0, 1, 5)  # the other two moved down into the lowest ids
    assert case.cpu_node is None and case.distance is None
    assert_canonical_sizes(case)


def test_keeps_an_asymmetric_pair_of_nodes() -> None:
    result, _ = run(big(), asymmetric_pair)
    case = result.case
    assert len(case.possible) == 2 and case.nodes() == 2
    assert case.cpu_node is not None and set(case.cpu_node) == {0, 1}
    m = case.distance
    assert m is not None and m[0][1] != m[1][0]
    assert m[0][0] == m[1][1] == LOCAL_DISTANCE  # the diagonal was not what mattered
    assert_canonical_sizes(case)


def test_keeps_static_unaligned_but_close_to_canonical() -> None:
    result, _ = run(big(), lambda c: c.static_size % 4096 != 0)
    case = result.case
    assert case.static_size % 4096 != 0
    assert abs(case.static_size - CANONICAL_STATIC) < 4096
    assert case.possible == (0,) and case.nr_cpus == 1
    assert (case.reserved_size, case.dyn_size) == (0, AUTO)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_always_failing_shrinks_to_the_global_minimum(scenario: str) -> None:
    start = big(scenario=scenario, atom_size=64 << 10, page_size=8192)
    result, _ = run(start, lambda c: True)
    case = result.case
    assert (case.possible, case.nr_cpus, case.cpu_node, case.distance) == ((0,), 1, None, None)
    assert_canonical_sizes(case)
    assert case.page_size == 8192  # a build parameter of the kernel: never changed
    assert case.scenario == scenario


def test_keeps_the_one_failure_injection_that_matters() -> None:
    result, _ = run(big(), lambda c: c.fail_bootmem == 1)
    assert (result.case.fail_fc_alloc, result.case.fail_bootmem) == (-1, 1)


def test_nr_cpus_falls_back_to_powers_of_two() -> None:
    result, _ = run(big(), lambda c: c.nr_cpus >= 16)
    assert result.case.nr_cpus == 16 and result.case.possible == (0,)


def test_cpu0_absent_keeps_a_sparse_mask() -> None:
    result, _ = run(big(), lambda c: 0 not in c.possible)
    assert result.case.possible == (1,) and result.case.nr_cpus == 2


def test_keeps_a_node_without_cpus() -> None:
    result, _ = run(big(), lambda c: c.distance is not None and len(nodes_in_use(c)) < c.nodes())
    case = result.case
    assert case.nodes() == 2 and len(case.possible) == 1
    assert case.distance == ((10, 20), (20, 10))


def test_renumbering_keeps_nodes_with_their_cpus() -> None:
    # cpu 9 must stay alone on node 1, cpus 3 and 7 together on node 0.
    start = Case(name="nodes", nr_cpus=16, possible=(3, 7, 9), cpu_node=(0, 0, 1),
                 distance=((10, 20), (20, 10))).validate()

    def same_layout(c: Case) -> bool:
        return c.cpu_node is not None and len(c.possible) == 3 and sorted(c.cpu_node) == [0, 0, 1]

    result, _ = run(start, same_layout)
    assert result.case.possible == (0, 1, 2)
    assert sorted(result.case.cpu_node or ()) == [0, 0, 1]


def test_shift_keeps_the_gaps() -> None:
    start = Case(name="gap", nr_cpus=8, possible=(4, 6)).validate()
    result, _ = run(start, lambda c: c.possible[-1] - c.possible[0] == 2)
    assert (result.case.possible, result.case.nr_cpus) == ((0, 2), 3)


def test_lpage_atom_goes_back_to_2m() -> None:
    result, _ = run(big(scenario="lpage", atom_size=8 << 20), lambda c: True)
    assert result.case.atom_size == 2 << 20


# ------------------------------------------------------------ the contract

def test_nothing_smaller_fails_returns_the_input() -> None:
    start = big()
    result, _ = run(start, lambda c: False)
    assert result.case is start
    assert result.accepted == 0 and 0 < result.attempts <= 400


@pytest.mark.parametrize("budget", [0, 1, 7, 50])
def test_budget_is_respected_exactly(budget: int) -> None:
    result, recorder = run(big(), lambda c: False, budget=budget)
    assert result.attempts == recorder.total == budget


def test_budget_stops_a_shrink_that_keeps_succeeding() -> None:
    result, recorder = run(big(), lambda c: True, budget=3)
    assert result.attempts == result.accepted == recorder.total == 3
    assert size_key(result.case) < size_key(big())


def test_no_duplicate_calls_with_an_erratic_predicate() -> None:
    # A predicate that holds for an arbitrary quarter of the cases drives the
    # search through many passes and rounds; `run` checks each booted case
    # is booted once.
    def erratic(c: Case) -> bool:
        return hashlib.sha256(repr(_booted_fields(c)).encode()).digest()[0] < 64

    result, _ = run(big(), erratic, budget=400)
    assert result.attempts > 30
    assert erratic(result.case)


def test_progress_reports_every_attempt() -> None:
    seen: list[tuple[int, Case]] = []
    recorder = Recorder(lambda c: len(c.possible) >= 2)
    result = shrink(big(), recorder, progress=lambda n, best: seen.append((n, best)))
    assert [n for n, _ in seen] == list(range(1, result.attempts + 1))
    keys = [size_key(best) for _, best in seen]
    assert keys == sorted(keys, reverse=True)  # the best only ever gets smaller
    assert seen[-1][1].possible == result.case.possible


def test_deterministic() -> None:
    def predicate(c: Case) -> bool:
        return asymmetric_pair(c) and c.static_size % 4096 != 0

    first, _ = run(big(), predicate)
    second, _ = run(big(), predicate)
    assert first == second


def test_result_names_its_origin() -> None:
    start = big(scenario="lpage", atom_size=2 << 20, expect={"unit_map": "agree"})
    result, _ = run(start, lambda c: len(c.possible) >= 2)
    case = result.case
    assert case.name == "big-min"
    assert case.description == f"shrunk from big in {result.attempts} attempts: a big one"
    assert case.scenario == "lpage"
    assert case.expect == {"unit_map": "agree"}


def test_invalid_input_is_a_user_error() -> None:
    with pytest.raises(UserError):
        shrink(Case(name="bad", nr_cpus=4, possible=(0, 9)), lambda c: True)


def test_generated_case_shrinks() -> None:
    start = next(c for c in generate(50, 7, "lpage", 4096) if len(c.possible) >= 2)
    result, _ = run(start, lambda c: len(c.possible) >= 2)
    assert result.case.possible == (0, 1) and result.case.nr_cpus == 2
    assert result.case.description.startswith(f"shrunk from {start.name} in ")
    assert result.case.description.endswith(start.description)


# -------------------------------------------------------------- property

def predicates(case: Case) -> st.SearchStrategy[Predicate]:
    """Simple predicates that `case` itself satisfies."""
    n = len(case.possible)
    page = case.page_size
    options: list[st.SearchStrategy[Predicate]] = [
        st.integers(1, n).map(lambda k: lambda c: len(c.possible) >= k),
        st.sampled_from(case.possible).map(lambda cpu: lambda c: cpu in c.possible),
        st.integers(1, case.nodes()).map(lambda k: lambda c: c.nodes() >= k),
    ]
    if case.static_size % page:
        options.append(st.just(lambda c: c.static_size % c.page_size != 0))
    if asymmetric_pair(case):
        options.append(st.just(asymmetric_pair))
    return st.one_of(options)


def arch_predicates(case: Case) -> st.SearchStrategy[Predicate]:
    """Predicates on the arch knobs that `case` itself satisfies, else on its cpus."""
    options: list[st.SearchStrategy[Predicate]] = [predicates(case)]
    if case.numa:
        options.append(st.just(lambda c: c.numa))
    if case.offline_nodes:
        options.append(st.just(lambda c: bool(c.offline_nodes)))
        options.append(st.just(lambda c: any(c.node_of(cpu) in c.offline_nodes
                                              for cpu in c.possible)))
    if case.percpu_alloc:
        word = case.percpu_alloc
        options.append(st.just(lambda c: c.percpu_alloc == word))
    if not case.pse:
        options.append(st.just(lambda c: not c.pse))
    return st.one_of(options)


@st.composite
def case_and_predicate(draw: st.DrawFn) -> tuple[Case, Predicate]:
    nr_cpus = draw(st.sampled_from((4, 8, 64, 256)))
    case = draw(cases(nr_cpus=nr_cpus, scenarios=ALL_ORDER))
    if case.scenario in ARCH_SCENARIOS:
        return case, draw(arch_predicates(case))
    return case, draw(predicates(case))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case_and_predicate(), st.integers(0, 60))
def test_result_still_fails_and_is_no_bigger(pair: tuple[Case, Predicate], budget: int) -> None:
    start, predicate = pair
    result, _ = run(start, predicate, budget=budget)
    case = result.case
    assert predicate(case)
    case.validate()
    assert len(case.possible) <= len(start.possible)
    assert size_key(case) <= size_key(start)
    assert case.scenario == start.scenario and case.page_size == start.page_size
    assert (result.accepted == 0) == (case is start)


# ------------------------------------------------------------ arch flows

def arch_big(**changes: Any) -> Case:
    """x86 on eight nodes with every knob off its plain value."""
    eight = tuple(tuple(10 if i == j else 20 for j in range(8)) for i in range(8))
    base = Case(
        name="arch", scenario="x86", nr_cpus=64, possible=tuple(range(32)),
        cpu_node=tuple(i // 4 for i in range(32)), distance=eight, static_size=90113,
        vmalloc_size=100 << 20, fail_bootmem=3, percpu_alloc="bogus", pse=False, numa=True,
        offline_nodes=(1, 3, 6),
    )
    return replace(base, **changes).validate()


def test_arch_knobs_shrink_to_plain() -> None:
    result, _ = run(arch_big(), lambda c: True)
    case = result.case
    assert (case.percpu_alloc, case.pse, case.numa, case.offline_nodes) == ("", True, False, ())
    assert case.nodes() == 1 and len(case.possible) == 1
    assert (case.vmalloc_size, case.fail_bootmem) == (Case.vmalloc_size, -1)
    # Sizes the arch flow does not read are left alone.
    assert (case.reserved_size, case.dyn_size, case.atom_size) == (8192, AUTO, 4096)
    assert case.static_size == CANONICAL_STATIC


def test_offline_nodes_follow_their_nodes() -> None:
    """A cpu on a node without memory: the topology still shrinks around it."""
    def cpu_on_offline_node(c: Case) -> bool:
        return c.numa and any(c.node_of(cpu) in c.offline_nodes for cpu in c.possible)

    result, _ = run(arch_big(), cpu_on_offline_node)
    case = result.case
    assert cpu_on_offline_node(case)
    assert len(case.possible) == 1 and case.offline_nodes == (case.node_of(case.possible[0]),)
    assert case.nodes() <= 2 and (case.percpu_alloc, case.pse) == ("", True)


def test_a_needed_knob_stays() -> None:
    result, _ = run(arch_big(), lambda c: c.percpu_alloc == "bogus" and not c.pse)
    case = result.case
    assert (case.percpu_alloc, case.pse, case.numa, case.offline_nodes) == \
        ("bogus", False, False, ())


def test_generated_arch_case_shrinks() -> None:
    start = next(c for c in generate(200, 7, "sparc64", 256)
                 if c.offline_nodes and len(c.possible) >= 4)
    result, _ = run(start, lambda c: len(c.possible) >= 2 and c.numa)
    case = result.case
    assert case.possible == (0, 1) and case.nr_cpus == 2 and case.numa
    assert case.offline_nodes == () and case.page_size == 8192

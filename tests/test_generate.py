"""Generated cases: deterministic, valid, and every family really turns up.

Frequencies are checked on fixed seeds, so the bounds are not flaky; they
are wide enough that retuning a weight a little does not break them, and
narrow enough that a family silently dropping out (or taking over) does.
The generic scenarios and the arch flows (x86, sparc64) are checked apart:
the arch flows draw knobs instead of reserved, dynamic and atom sizes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.campaign.generate import (
    ALL_ORDER,
    ARCH_ORDER,
    GENERIC_ORDER,
    NR_CPUS_CHOICES,
    cases,
    generate,
    generate_mixed,
    x86_auto_tries_lpage,
    x86_lpage_chunk,
)
from harness.core.cases import (
    ARCH_MIN_STATIC,
    ARCH_PAGE_SIZE,
    ARCH_SCENARIOS,
    AUTO,
    LOCAL_DISTANCE,
    Case,
    case_to_toml,
    load_case,
)
from harness.core.cases import GENERIC_SCENARIOS as SCENARIOS

N = 2000
NR_CPUS = 64


def asymmetric(c: Case) -> bool:
    m = c.distance or ()
    return any(m[i][j] != m[j][i] for i in range(len(m)) for j in range(i))


def non_transitive(c: Case) -> bool:
    """Some a local to b and b local to c, but a remote from c."""
    m = c.distance or ()
    k = range(len(m))
    return any(a != c_ and m[a][b] <= LOCAL_DISTANCE and m[b][c_] <= LOCAL_DISTANCE
               and m[a][c_] > LOCAL_DISTANCE
               for a, b, c_ in itertools.product(k, k, k) if len({a, b, c_}) == 3)


def contiguous_from_0(c: Case) -> bool:
    return c.possible == tuple(range(len(c.possible)))


def failing(c: Case) -> bool:
    return c.fail_fc_alloc >= 0 or c.fail_bootmem >= 0


def empty_node(c: Case) -> bool:
    return c.cpu_node is not None and len(set(c.cpu_node)) < c.nodes()


def odd_diagonal(c: Case) -> bool:
    return c.distance is not None and any(
        row[i] != LOCAL_DISTANCE for i, row in enumerate(c.distance))


@pytest.fixture(scope="module")
def generated() -> dict[str, list[Case]]:
    return {sc: list(generate(N, 1, sc, NR_CPUS)) for sc in SCENARIOS}


def test_same_seed_same_cases_and_different_seed_different() -> None:
    first = list(generate(200, 7, "embed", NR_CPUS))
    assert first == list(generate(200, 7, "embed", NR_CPUS))
    assert first != list(generate(200, 8, "embed", NR_CPUS))
    # Case i stands on its own: it can be regenerated without the others.
    assert list(generate(3, 7, "embed", NR_CPUS, start=120)) == first[120:123]


def test_names_are_unique_and_say_scenario_and_seed(generated: dict[str, list[Case]]) -> None:
    for sc, cs in generated.items():
        names = [c.name for c in cs]
        assert len(set(names)) == N
        assert names[0] == f"{sc}-s1-00000" and names[-1] == f"{sc}-s1-{N - 1:05d}"


def test_every_case_is_valid_and_within_bounds(generated: dict[str, list[Case]]) -> None:
    for sc, cs in generated.items():
        for c in cs:
            c.validate()
            assert c.scenario == sc and c.nr_cpus == NR_CPUS and c.page_size == 4096
            assert c.description
            if c.distance is not None:
                assert all(10 <= d <= 255 for row in c.distance for d in row)
            if sc != "lpage":
                assert c.atom_size == 4096
            if not failing(c):
                assert c.bootmem_size == Case.bootmem_size
            if c.node_memory is not None:
                assert sum(c.node_memory) == c.bootmem_size and "node memory" in c.description
            if c.vmalloc_size != Case.vmalloc_size:
                assert "vmalloc" in c.description


@pytest.mark.parametrize("nr_cpus", [1, 2, 3, 4, 8])
def test_tiny_nr_cpus_still_produce_valid_cases(nr_cpus: int) -> None:
    for c in generate(300, 3, "page", nr_cpus):
        assert c.possible[-1] < nr_cpus


# (what, how to recognise it, least and most fraction of N cases)
FEATURES: list[tuple[str, Callable[[Case], bool], float, float]] = [
    ("dense mask", lambda c: "dense mask" in c.description, 0.30, 0.50),
    ("all NR_CPUS", lambda c: len(c.possible) == c.nr_cpus, 0.04, 0.15),
    ("blocks with holes", lambda c: "blocks-with-holes" in c.description, 0.07, 0.18),
    ("sparse masks", lambda c: "sparse" in c.description, 0.12, 0.28),
    ("not 0..k-1", lambda c: not contiguous_from_0(c), 0.30, 0.60),
    ("no cpu0", lambda c: 0 not in c.possible, 0.08, 0.30),
    ("single cpu", lambda c: len(c.possible) == 1, 0.05, 0.20),
    ("last cpu possible", lambda c: c.possible[-1] == c.nr_cpus - 1, 0.12, 0.35),
    ("single node", lambda c: c.distance is None, 0.35, 0.55),
    ("several nodes", lambda c: c.nodes() > 1, 0.40, 0.60),
    ("empty node", empty_node, 0.03, 0.30),
    ("asymmetric matrix", asymmetric, 0.05, 0.18),
    ("non-transitive matrix", non_transitive, 0.03, 0.12),
    ("all-local matrix", lambda c: "all-local" in c.description, 0.01, 0.06),
    ("diagonal != 10", odd_diagonal, 0.005, 0.06),
    ("static not a page multiple", lambda c: c.static_size % 4096 != 0, 0.40, 0.75),
    ("tiny static", lambda c: 0 < c.static_size <= 64, 0.04, 0.14),
    ("large static", lambda c: c.static_size >= 1 << 20, 0.03, 0.10),
    ("static 0", lambda c: c.static_size == 0, 0.0005, 0.015),
    ("reserved 0", lambda c: c.reserved_size == 0, 0.30, 0.50),
    ("reserved 8192", lambda c: c.reserved_size == 8192, 0.30, 0.50),
    ("dyn auto", lambda c: c.dyn_size == AUTO, 0.45, 0.65),
    ("dyn 0", lambda c: c.dyn_size == 0, 0.05, 0.15),
    ("dyn not a page multiple", lambda c: c.dyn_size > 0 and c.dyn_size % 4096 != 0,
     0.10, 0.25),
    ("failure injection", failing, 0.008, 0.04),
    # the memory knobs, drawn for every flow
    ("uneven node memory", lambda c: c.node_memory is not None, 0.04, 0.25),
    ("tight vmalloc", lambda c: "(tight for" in c.description, 0.03, 0.15),
]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize(("what", "has", "lo", "hi"), FEATURES, ids=[f[0] for f in FEATURES])
def test_family_frequency(generated: dict[str, list[Case]], scenario: str, what: str,
                          has: Callable[[Case], bool], lo: float, hi: float) -> None:
    share = sum(map(has, generated[scenario])) / N
    assert lo <= share <= hi, f"{what}: {share:.3f} of {scenario} cases, want {lo}..{hi}"


def test_descriptions_match_the_cases(generated: dict[str, list[Case]]) -> None:
    for c in itertools.chain(*generated.values()):
        d = c.description
        assert ("no-cpu0" in d) <= (0 not in c.possible), c
        assert ("last-cpu" in d) <= (c.nr_cpus - 1 in c.possible), c
        assert ("asymmetric distances" in d) <= asymmetric(c), c
        assert ("non-transitive" in d) <= non_transitive(c), c
        assert ("single node" in d) == (c.nodes() == 1), c
        assert ("unaligned" in d) == (c.static_size % 4096 != 0), c
        assert ("dyn auto" in d) == (c.dyn_size == AUTO), c
        assert ("fail" in d) == failing(c), c
        assert ("diagonal != 10" in d) == odd_diagonal(c), c


def test_lpage_atom_sizes_cover_the_table(generated: dict[str, list[Case]]) -> None:
    atoms = {c.atom_size for c in generated["lpage"]}
    assert atoms == {4096, 64 << 10, 1 << 20, 2 << 20, 4 << 20, 8 << 20}
    share_2m = sum(c.atom_size == 2 << 20 for c in generated["lpage"]) / N
    assert 0.6 <= share_2m <= 0.8


def test_big_nr_cpus_mostly_keeps_cases_small() -> None:
    counts = [len(c.possible) for c in generate(1000, 5, "embed", 4096)]
    big = sum(n > 256 for n in counts) / len(counts)
    assert 0.05 <= big <= 0.25
    assert max(counts) == 4096


def test_toml_round_trip(tmp_path: Path, generated: dict[str, list[Case]]) -> None:
    sample = [c for cs in generated.values() for c in cs[:150] if not failing(c)]
    assert any(c.distance is not None for c in sample)
    for c in sample:
        path = tmp_path / f"{c.name}.toml"
        path.write_text(case_to_toml(c))
        assert load_case(path) == c


def test_toml_round_trip_keeps_failure_injection(
        tmp_path: Path, generated: dict[str, list[Case]]) -> None:
    c = next(c for c in generated["embed"] if failing(c))
    path = tmp_path / "fail.toml"
    path.write_text(case_to_toml(c))
    assert load_case(path) == c


def test_generate_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    list(generate(100, 2, "lpage", 8))
    assert capsys.readouterr() == ("", "")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="scenario"):
        next(generate(1, 0, "bogus", 8))
    with pytest.raises(ValueError, match="nr_cpus"):
        cases(nr_cpus=0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_strategy_cases_are_valid(c: Case) -> None:
    c.validate()
    assert c.nr_cpus in NR_CPUS_CHOICES
    if c.cpu_node is not None:
        assert len(c.cpu_node) == len(c.possible)
        assert all(0 <= n < c.nodes() for n in c.cpu_node)
    if c.distance is not None:
        assert all(len(row) == c.nodes() for row in c.distance)
        assert all(10 <= d <= 255 for row in c.distance for d in row)


@settings(max_examples=30, deadline=None)
@given(cases("lpage", 8))
def test_strategy_respects_fixed_scenario_and_nr_cpus(c: Case) -> None:
    assert (c.scenario, c.nr_cpus) == ("lpage", 8)
    assert c.possible[-1] < 8


def test_failure_injection_cases_only_change_the_fail_fields(
        generated: dict[str, list[Case]]) -> None:
    for c in generated["page"]:
        if failing(c):
            assert (c.fail_fc_alloc >= 0) != (c.fail_bootmem >= 0)
            assert replace(c, fail_fc_alloc=-1, fail_bootmem=-1).validate()


# ------------------------------------------------------------ arch flows

ARCH_N = 1000
KNOWN_PERCPU_ALLOC = ("", "auto", "lpage", "embed", "page")


def vmalloc_small(c: Case) -> bool:
    return c.vmalloc_size != Case.vmalloc_size


def lpage_declines(c: Case) -> bool:
    """Below five times the lpage chunk: x86 with no allocator chosen declines lpage."""
    return c.vmalloc_size < 5 * x86_lpage_chunk(c)


def bogus_percpu_alloc(c: Case) -> bool:
    return c.percpu_alloc not in KNOWN_PERCPU_ALLOC


@pytest.fixture(scope="module")
def arch_generated() -> dict[str, list[Case]]:
    return {sc: list(generate(ARCH_N, 1, sc, NR_CPUS)) for sc in ARCH_SCENARIOS}


@pytest.fixture(scope="module")
def mixed_arch() -> list[Case]:
    return generate_mixed(500 * len(ARCH_ORDER), 1, ARCH_ORDER)


def test_scenario_lists() -> None:
    assert set(GENERIC_ORDER) == set(SCENARIOS)
    assert set(ARCH_ORDER) == set(ARCH_SCENARIOS)
    assert ALL_ORDER == GENERIC_ORDER + ARCH_ORDER


def test_mixed_runs_default_to_the_generic_scenarios() -> None:
    assert generate_mixed(60, 4) == generate_mixed(60, 4, GENERIC_ORDER)
    assert {c.scenario for c in generate_mixed(60, 4)} == set(GENERIC_ORDER)
    assert {c.scenario for c in generate_mixed(60, 4, ALL_ORDER)} == set(ALL_ORDER)


def test_mixed_runs_take_the_scenarios_in_turn(mixed_arch: list[Case]) -> None:
    assert [c.scenario for c in mixed_arch[:2 * len(ARCH_ORDER)]] == [*ARCH_ORDER, *ARCH_ORDER]
    names = [c.name for c in mixed_arch]
    assert len(set(names)) == len(names)
    assert names[0] == "run-s1-00000" and names[-1] == f"run-s1-{len(names) - 1:05d}"
    everything = generate_mixed(500, 1, ALL_ORDER)
    assert len({c.name for c in everything}) == 500


def test_arch_cases_are_deterministic_by_seed() -> None:
    for sc in ARCH_SCENARIOS:
        first = list(generate(200, 7, sc, NR_CPUS))
        assert first == list(generate(200, 7, sc, NR_CPUS))
        assert first != list(generate(200, 8, sc, NR_CPUS))
        assert list(generate(3, 7, sc, NR_CPUS, start=120)) == first[120:123]
    mixed = generate_mixed(300, 7, ALL_ORDER)
    assert mixed == generate_mixed(300, 7, ALL_ORDER)
    assert mixed != generate_mixed(300, 8, ALL_ORDER)


def test_arch_names_are_unique_and_say_scenario_and_seed(
        arch_generated: dict[str, list[Case]]) -> None:
    for sc, cs in arch_generated.items():
        names = [c.name for c in cs]
        assert len(set(names)) == ARCH_N
        assert names[0] == f"{sc}-s1-00000" and names[-1] == f"{sc}-s1-{ARCH_N - 1:05d}"


def _check_arch_case(c: Case) -> None:
    c.validate()
    sc = c.scenario
    assert sc in ARCH_SCENARIOS and c.description
    assert c.page_size == ARCH_PAGE_SIZE[sc]
    assert c.static_size >= ARCH_MIN_STATIC[sc]
    # What the arch flows ignore stays at the defaults.
    defaults = Case(name=c.name)
    assert (c.reserved_size, c.dyn_size, c.atom_size, c.fail_fc_alloc) == \
        (defaults.reserved_size, defaults.dyn_size, defaults.atom_size, defaults.fail_fc_alloc)
    assert -1 <= c.fail_bootmem <= 20
    if c.offline_nodes:
        assert c.numa and c.nodes() >= 2
        assert all(0 <= n < c.nodes() for n in c.offline_nodes)
        assert list(c.offline_nodes) == sorted(set(c.offline_nodes))
    if c.nodes() > 1:
        assert c.distance is not None and c.cpu_node is not None
    if sc == "sparc64":
        # sparc64 has no allocator choice, no PSE question and no 20% rule.
        assert (c.percpu_alloc, c.pse, c.vmalloc_size) == ("", True, defaults.vmalloc_size)
        if c.bootmem_size < defaults.bootmem_size:
            assert c.bootmem_size <= len(c.possible) * (4 << 20)
        else:
            assert c.bootmem_size >= (len(c.possible) + 16) * (4 << 20)
    else:
        assert c.bootmem_size == defaults.bootmem_size
        assert c.vmalloc_size > 0


def test_every_arch_case_is_valid(arch_generated: dict[str, list[Case]],
                                  mixed_arch: list[Case]) -> None:
    for c in itertools.chain(*arch_generated.values(), mixed_arch):
        _check_arch_case(c)


@pytest.mark.parametrize("nr_cpus", [1, 2, 3, 4096])
@pytest.mark.parametrize("scenario", ARCH_SCENARIOS)
def test_arch_cases_at_odd_nr_cpus(scenario: str, nr_cpus: int) -> None:
    for c in generate(150, 3, scenario, nr_cpus):
        _check_arch_case(c)
        assert c.possible[-1] < nr_cpus


def test_arch_descriptions_match_the_cases(arch_generated: dict[str, list[Case]],
                                           mixed_arch: list[Case]) -> None:
    for c in itertools.chain(*arch_generated.values(), mixed_arch):
        d = c.description
        assert ("no numa" in d) == (not c.numa), c
        assert ("offline nodes" in d) == bool(c.offline_nodes), c
        assert ("fail bootmem" in d) == (c.fail_bootmem >= 0), c
        assert ("single node" in d) == (c.nodes() == 1), c
        assert ("unaligned" in d) == (c.static_size % c.page_size != 0), c
        assert ("no pse" in d) == (not c.pse), c
        assert ("vmalloc" in d) == vmalloc_small(c), c
        if vmalloc_small(c) and c.scenario == "x86":
            assert ("over 20%" in d) == lpage_declines(c), c
        if c.scenario == "x86":
            assert (f"percpu_alloc={c.percpu_alloc}" in d if c.percpu_alloc
                    else "no percpu_alloc" in d), c


# (what, how to recognise it, scenarios, least and most fraction of ARCH_N cases)
ARCH_FEATURES: list[tuple[str, Callable[[Case], bool], tuple[str, ...], float, float]] = [
    ("numa", lambda c: c.numa, ("x86", "sparc64"), 0.55, 0.85),
    ("no numa", lambda c: not c.numa, ("x86", "sparc64"), 0.15, 0.45),
    # GENERIC_ARCH_NUMA is NUMA's
    ("numa only", lambda c: c.numa, ("arch_numa",), 1.0, 1.0),
    ("several nodes", lambda c: c.nodes() > 1, ARCH_SCENARIOS, 0.40, 0.65),
    ("offline nodes", lambda c: bool(c.offline_nodes), ARCH_SCENARIOS, 0.01, 0.08),
    ("fail bootmem", lambda c: c.fail_bootmem >= 0, ARCH_SCENARIOS, 0.01, 0.06),
    ("static at least MBs", lambda c: c.static_size >= 1 << 20, ARCH_SCENARIOS, 0.02, 0.10),
    ("static unaligned", lambda c: c.static_size % c.page_size != 0, ARCH_SCENARIOS,
     0.25, 0.65),
    ("no percpu_alloc", lambda c: c.percpu_alloc == "", ("x86",), 0.55, 0.75),
    ("percpu_alloc=lpage", lambda c: c.percpu_alloc == "lpage", ("x86",), 0.05, 0.15),
    ("percpu_alloc=embed", lambda c: c.percpu_alloc == "embed", ("x86",), 0.05, 0.15),
    ("percpu_alloc=page", lambda c: c.percpu_alloc == "page", ("x86",), 0.05, 0.15),
    ("percpu_alloc=auto", lambda c: c.percpu_alloc == "auto", ("x86",), 0.01, 0.06),
    ("percpu_alloc bogus", bogus_percpu_alloc, ("x86",), 0.01, 0.06),
    ("no pse", lambda c: not c.pse, ("x86",), 0.05, 0.15),
    ("lpage tried with no choice", x86_auto_tries_lpage, ("x86",), 0.12, 0.30),
    ("vmalloc small", vmalloc_small, ("x86",), 0.06, 0.20),
    ("lpage declined by the 20% rule",
     lambda c: vmalloc_small(c) and x86_auto_tries_lpage(c) and lpage_declines(c),
     ("x86",), 0.02, 0.08),
    ("lpage within the 20% rule",
     lambda c: vmalloc_small(c) and x86_auto_tries_lpage(c) and not lpage_declines(c),
     ("x86",), 0.02, 0.08),
    ("bootmem short of the 4M chunks", lambda c: c.bootmem_size < Case.bootmem_size,
     ("sparc64",), 0.003, 0.04),
]


@pytest.mark.parametrize(("what", "has", "scenarios", "lo", "hi"), ARCH_FEATURES,
                         ids=[f[0] for f in ARCH_FEATURES])
def test_arch_family_frequency(arch_generated: dict[str, list[Case]], what: str,
                               has: Callable[[Case], bool], scenarios: tuple[str, ...],
                               lo: float, hi: float) -> None:
    for sc in scenarios:
        share = sum(map(has, arch_generated[sc])) / ARCH_N
        assert lo <= share <= hi, f"{what}: {share:.3f} of {sc} cases, want {lo}..{hi}"


def test_mixed_arch_run_covers_every_knob(mixed_arch: list[Case]) -> None:
    x86 = [c for c in mixed_arch if c.scenario == "x86"]
    sparc64 = [c for c in mixed_arch if c.scenario == "sparc64"]
    numa = [c for c in mixed_arch if c.scenario == "arch_numa"]
    assert len(x86) == len(sparc64) == len(numa) == 500
    assert all(c.numa for c in numa) and any(c.offline_nodes for c in numa)
    assert {c.percpu_alloc for c in numa} >= {"page", "embed", ""}
    assert {c.percpu_alloc for c in x86} >= set(KNOWN_PERCPU_ALLOC)
    assert any(map(bogus_percpu_alloc, x86))
    assert any(not c.pse for c in x86)
    for group in (x86, sparc64):
        assert any(c.numa for c in group) and any(not c.numa for c in group)
        assert any(c.offline_nodes for c in group)
        assert any(c.fail_bootmem >= 0 for c in group)
        assert {c.nr_cpus for c in group} >= {2, 64, 4096}
    tried = [c for c in x86 if vmalloc_small(c) and x86_auto_tries_lpage(c)]
    assert sum(map(lpage_declines, tried)) >= 5
    assert sum(not lpage_declines(c) for c in tried) >= 5
    # By a few bytes, on both sides: the edge of the rule itself.
    edge = [c.vmalloc_size - 5 * x86_lpage_chunk(c) for c in tried]
    assert any(-5 <= e < 0 for e in edge) and any(0 <= e <= 4 for e in edge)


def test_x86_lpage_chunk_matches_what_the_kernel_mapped() -> None:
    """Chunks fd1e8a1fe2b5's setup_pcpu_lpage() weighed (units * unit size)."""
    two_nodes = Case(name="a", scenario="x86", nr_cpus=8, possible=(0, 1, 2, 3),
                     cpu_node=(0, 0, 1, 1), distance=((10, 20), (20, 10)), numa=True)
    assert x86_lpage_chunk(two_nodes) == 4 << 20  # alloc=1*2097152, [0] 0 1 [1] 2 3
    # 64 cpus in blocks of 11, 11, 10, 11, 11, 10 on six nodes, 512K units:
    # three 2M allocations a node.
    six = (0,) * 11 + (1,) * 11 + (2,) * 10 + (3,) * 11 + (4,) * 11 + (5,) * 10
    six_nodes = Case(name="b", scenario="x86", nr_cpus=64, possible=tuple(range(64)),
                     cpu_node=six, distance=tuple(tuple([10] * 6) for _ in range(6)),
                     static_size=36864, numa=True)
    assert x86_lpage_chunk(six_nodes) == 36 << 20
    # Units bigger than a large page take whole multiples of it.
    big = replace(two_nodes, static_size=3 << 20)
    assert x86_lpage_chunk(big) == 4 * (4 << 20)
    # Without CONFIG_NUMA every cpu is on node 0: one group.
    assert x86_lpage_chunk(replace(two_nodes, numa=False)) == 2 << 20


def test_x86_auto_tries_lpage() -> None:
    base = Case(name="a", scenario="x86", nr_cpus=8, possible=(0, 1, 2, 3),
                cpu_node=(0, 0, 1, 1), distance=((10, 20), (20, 10)), numa=True)
    assert x86_auto_tries_lpage(base)
    assert x86_auto_tries_lpage(replace(base, percpu_alloc="bogus"))
    assert not x86_auto_tries_lpage(replace(base, percpu_alloc="embed"))
    assert not x86_auto_tries_lpage(replace(base, pse=False))
    assert not x86_auto_tries_lpage(replace(base, numa=False))
    assert not x86_auto_tries_lpage(replace(base, offline_nodes=(1,)))
    assert not x86_auto_tries_lpage(replace(base, cpu_node=(0, 0, 0, 0)))


def test_arch_toml_round_trip(tmp_path: Path, arch_generated: dict[str, list[Case]],
                              mixed_arch: list[Case]) -> None:
    sample = [c for cs in arch_generated.values() for c in cs[:300]] + mixed_arch
    # Every knob off its default somewhere in the sample.
    assert any(c.percpu_alloc for c in sample) and any(not c.pse for c in sample)
    assert any(c.numa for c in sample) and any(c.offline_nodes for c in sample)
    assert any(vmalloc_small(c) for c in sample) and any(c.fail_bootmem >= 0 for c in sample)
    assert any(c.bootmem_size != Case.bootmem_size for c in sample)
    for c in sample:
        path = tmp_path / f"{c.name}-{c.scenario}.toml"
        path.write_text(case_to_toml(c))
        assert load_case(path) == c


def test_arch_generation_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    for sc in ARCH_SCENARIOS:
        list(generate(100, 2, sc, 8))
    assert capsys.readouterr() == ("", "")


def test_bad_scenario_lists_are_refused() -> None:
    with pytest.raises(ValueError, match="no scenarios"):
        generate_mixed(3, 1, ())
    with pytest.raises(ValueError, match="scenario 'bogus'"):
        generate_mixed(3, 1, ("x86", "bogus"))
    with pytest.raises(ValueError, match="scenario 'bogus'"):
        cases(scenarios=("bogus",))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(scenarios=ALL_ORDER))
def test_strategy_over_all_scenarios(c: Case) -> None:
    c.validate()
    assert c.scenario in ALL_ORDER and c.nr_cpus in NR_CPUS_CHOICES
    if c.scenario in ARCH_SCENARIOS:
        _check_arch_case(c)


@pytest.mark.parametrize("scenario", ARCH_SCENARIOS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_strategy_arch_cases(scenario: str, data: st.DataObject) -> None:
    c = data.draw(cases(scenario, 8))
    _check_arch_case(c)
    assert (c.scenario, c.nr_cpus) == (scenario, 8)


@settings(max_examples=30, deadline=None)
@given(cases())
def test_strategy_defaults_to_the_generic_scenarios(c: Case) -> None:
    assert c.scenario in GENERIC_ORDER


def test_arch_matrix_crosses_every_knob() -> None:
    from harness.campaign.generate import (
        MATRIX_FAILURES,
        MATRIX_PERCPU_ALLOC,
        MATRIX_TOPOLOGIES,
        MATRIX_VMALLOC,
        arch_matrix,
    )

    matrix = arch_matrix()
    assert len({c.name for c in matrix}) == len(matrix)
    x86 = {(c.percpu_alloc, c.pse, c.numa, c.vmalloc_size, c.fail_bootmem, c.offline_nodes,
            c.cpu_node) for c in matrix if c.scenario == "x86"}
    want = len(MATRIX_PERCPU_ALLOC) * 2 * 2 * len(MATRIX_VMALLOC) * len(MATRIX_FAILURES) * \
        len(MATRIX_TOPOLOGIES)
    assert len(x86) == want == 640
    sparc = [c for c in matrix if c.scenario == "sparc64"]
    assert len(sparc) == 2 * len(MATRIX_FAILURES) * len(MATRIX_TOPOLOGIES)
    assert all(c.page_size == 8192 for c in sparc)

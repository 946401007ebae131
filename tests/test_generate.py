"""Generated cases: deterministic, valid, and every family really turns up.

Frequencies are checked on fixed seeds, so the bounds are not flaky; they
are wide enough that retuning a weight a little does not break them, and
narrow enough that a family silently dropping out (or taking over) does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from harness.cases import AUTO, LOCAL_DISTANCE, Case, case_to_toml, load_case
from harness.cases import GENERIC_SCENARIOS as SCENARIOS
from harness.generate import NR_CPUS_CHOICES, cases, generate

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
                assert c.vmalloc_size == Case.vmalloc_size


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

"""Every writer of a result keeps to its shape, and every field a comparison
reports is one a rule may name (harness/core/result.py, fields.py).

The writers: the shim on the fixture kernels (every scenario, the arch
flows and failure injection included), every model, the harness's own
failure result; with PERCPU_DIFF_TREE, the real 2009 code as well.  The
captured kernel results of tests/test_data are checked too.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import dir_snapshot, kernel

import py_impl
from harness.campaign import generate
from harness.compile import shims
from harness.core import cases, generation
from harness.core.errors import UserError
from harness.core.fields import check_path, known_paths, normal
from harness.core.result import BootResult, ResultShapeError, parse_result
from harness.judge import compare
from harness.judge.classify import load_declared
from harness.judge.triage import load_triage
from harness.run import server

DATA = Path(__file__).resolve().parent / "test_data"
TREE = os.environ.get("PERCPU_DIFF_TREE")


def compared_paths(result: BootResult) -> Iterator[str]:
    """Every path the comparisons can report for one result: its fields,
    their neutral and cross-generation forms, and the leaves expand() adds."""
    flat = compare.fields(result)
    neutral = compare.neutral(result, flat)
    renames, dropped = generation.cross_vocabulary("unit_map", "modern")
    for view in (flat, neutral, compare.cross_generation(neutral, renames, dropped)):
        for name, value in view.items():
            for path, _, _ in compare.expand(name, value, compare.ABSENT):
                yield path
            yield from _leaves(name, value)


def _leaves(path: str, value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _leaves(f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}", sub)
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _leaves(f"{path}[{i}]", sub)
    else:
        yield path


def unknown_paths(results: list[BootResult]) -> set[str]:
    known = known_paths()
    return {normal(p) for r in results for p in compared_paths(r)} - known


def fixture_cases(scenario: str, nr_cpus: int = 8, count: int = 12) -> list[cases.Case]:
    made = list(generate.generate(count, 7, scenario, nr_cpus))
    # Failure injection takes the paths that give up halfway.
    return [*made, replace(made[0], name=f"{scenario}-fail-fc", fail_fc_alloc=1),
            replace(made[1], name=f"{scenario}-fail-bootmem", fail_bootmem=2)]


def boot_fixture(fixture: str, scenario: str) -> list[BootResult]:
    snap = dir_snapshot(kernel(fixture))
    todo = fixture_cases(scenario)
    case = todo[0]
    by_shim: dict[tuple[int, bool], list[cases.Case]] = {}
    for c in todo:
        by_shim.setdefault((c.page_shift, c.numa), []).append(c)
    results: list[BootResult] = []
    for (page_shift, numa), group in by_shim.items():
        config = shims.config_for(case.nr_cpus, page_shift, False, case.arch, numa)
        shim = shims.build(shims.render(snap, arch=case.arch), config)
        results += server.run_cases(shim, group, server.Limits(timeout_ms=20000))
    return results


# The unit_map fixture has no arch files.
@pytest.mark.parametrize("fixture, scenario", [
    *(("unit_map", s) for s in cases.GENERIC_SCENARIOS),
    # (the alloc_info fixture has no drivers/base/arch_numa.c: tests/test_arch_today.py)
    *(("alloc_info", s) for s in cases.SCENARIOS if s != "arch_numa")])
def test_the_shim_writes_the_shape(fixture: str, scenario: str) -> None:
    results = boot_fixture(fixture, scenario)
    assert results and all(r["outcome"]["kind"] != "harness" for r in results)
    assert unknown_paths(results) == set()


@pytest.mark.parametrize("generation", sorted(py_impl.MODELS))
def test_every_model_writes_the_shape(generation: str) -> None:
    results: list[BootResult] = []
    for scenario in py_impl.MODELS[generation]:
        for case in fixture_cases(scenario):
            result = py_impl.run_model(generation, case)
            assert parse_result(json.loads(json.dumps(result)), "model") == result
            results.append(result)
    assert unknown_paths(results) == set()


def test_a_dead_shim_is_a_result_of_the_shape() -> None:
    failure = server.harness_failure(cases.Case("c"), "shim server exited")
    assert parse_result(json.loads(json.dumps(failure)), "harness") == failure


@pytest.mark.parametrize("captured", sorted(DATA.glob("kernel_results/*.jsonl.gz")),
                         ids=lambda p: p.name)
def test_captured_kernel_fields_are_known(captured: Path) -> None:
    names: set[str] = set()
    with gzip.open(captured, "rt") as lines:
        for line in lines:
            record = json.loads(line)
            names |= {normal(p) for p in record["kernel"]}
    assert names and names - known_paths() == set()


def test_a_writer_with_a_stray_key_is_refused() -> None:
    with pytest.raises(ResultShapeError, match=r"unknown field 'state.first_cpu'.*core/result"):
        parse_result({"id": "c", "outcome": {"kind": "ok"}, "log": "",
                      "state": {"first_cpu": 0}}, "the shim")
    with pytest.raises(ResultShapeError, match=r"unknown field 'outcome.why'"):
        parse_result({"id": "c", "outcome": {"kind": "bug", "why": "x"}, "log": ""}, "the shim")


def test_a_struct_field_a_patch_adds_is_accepted() -> None:
    # struct pcpu_chunk and pcpu_alloc_info fields are the revision's own
    result = parse_result({"id": "c", "outcome": {"kind": "ok"}, "log": "",
                           "state": {"first_chunk": {"new_field": 1}},
                           "setup_args": {"alloc_info": {"groups": [{"extra": 2}]}}}, "the shim")
    assert result["state"] is not None


def test_every_rule_file_of_the_project_names_known_fields() -> None:
    assert load_triage()
    for path in sorted((Path(__file__).resolve().parent.parent / "cases" / "declared")
                       .glob("*.toml")):
        assert load_declared(path), path


@pytest.mark.parametrize("path, closest", [
    ("state.lst_unit_cpu", "state.last_unit_cpu"),
    ("setup_args.alloc_info.group[*].cpu_map", "setup_args.alloc_info.groups[*].cpu_map"),
    ("dump.size[2]", "dump.sizes[*]"),
])
def test_a_rule_naming_an_unknown_field_gets_the_closest(path: str, closest: str) -> None:
    with pytest.raises(UserError) as refused:
        check_path(path, "rules.toml: entry 1")
    assert str(refused.value) == (f"rules.toml: entry 1: no result has a field '{path}': "
                                  f"did you mean '{closest}'?")


@pytest.mark.parametrize("path", ["state.last_unit_cpu", "state.unit_of_cpu[3]", "*",
                                  "static_copies.*", "bootmem.vm_areas[0][0]", "return.ok"])
def test_known_fields_and_patterns_pass(path: str) -> None:
    check_path(path, "rules.toml")


def test_a_triage_file_with_a_misspelt_field_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ex.toml").write_text('name = "ex"\npossible = [0]\n')
    (tmp_path / "triage.toml").write_text(
        '[[entry]]\nid = "e"\ngeneration = "unit_map"\nfields = ["state.last_unitcpu"]\n'
        'wrong = "kernel"\nexample = "ex.toml"\n'
        'reason = "one two three four five six seven eight nine"\n')
    with pytest.raises(UserError, match=r"entry 1 \(e\): no result has a field "
                                        r"'state.last_unitcpu': did you mean "
                                        r"'state.last_unit_cpu'"):
        load_triage(tmp_path / "triage.toml")


@pytest.mark.tree
@pytest.mark.skipif(not TREE, reason="PERCPU_DIFF_TREE not set: no kernel tree to read")
@pytest.mark.parametrize("rev", ["fd1e8a1fe2b5^", "fd1e8a1fe2b5"])
def test_real_2009_code_writes_the_shape(rev: str) -> None:
    from harness.sources import snapshot

    assert TREE is not None
    snap = snapshot.load_snapshot(snapshot.SourceSpec("tree", Path(TREE), rev))
    results: list[BootResult] = []
    for scenario in cases.SCENARIOS:
        if scenario == "arch_numa":  # 2009 has no drivers/base/arch_numa.c
            continue
        todo = fixture_cases(scenario, nr_cpus=64)
        for c in todo:
            config = shims.config_for(c.nr_cpus, c.page_shift, False, c.arch, c.numa)
            shim = shims.build(shims.render(snap, arch=c.arch), config)
            results.append(server.run_one(shim, c, server.Limits(timeout_ms=20000)))
    assert unknown_paths(results) == set()


def test_a_triage_entry_of_an_unknown_generation_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ex.toml").write_text('name = "ex"\npossible = [0]\n')
    (tmp_path / "triage.toml").write_text(
        '[[entry]]\nid = "e"\ngeneration = "unitmap"\nfields = ["state.last_unit_cpu"]\n'
        'wrong = "kernel"\nexample = "ex.toml"\n'
        'reason = "one two three four five six seven eight nine"\n')
    with pytest.raises(UserError, match=r"entry 1 \(e\): generation 'unitmap' unknown: use "
                                        r"setup_static, get_page, unit_map, alloc_info, modern"):
        load_triage(tmp_path / "triage.toml")


def test_declared_changes_of_an_unknown_generation_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.toml"
    path.write_text('generations = ["alloc_info", "today"]\n[[change]]\nid = "x"\nclaim = "c"\n'
                    '[change.fields]\n"return" = { new = "1" }\n')
    with pytest.raises(UserError, match=r"generation 'today' unknown"):
        load_declared(path)

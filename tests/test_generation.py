"""The API generation specs: one module each, found by the registry, each
with a model, detected by asking every spec."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path

import pytest
from conftest import dir_snapshot, kernel

import py_impl
from harness.core import generation, kernel_files
from harness.core.errors import UserError
from harness.core.generation import GenerationSpec, ScenarioSpec, SpecError, called
from harness.core.generations import unit_map
from harness.core.paths import TEMPLATES
from harness.extract import closure, detect

SPECS = generation.all_specs()


def test_the_registry_finds_every_generation_oldest_first() -> None:
    # The names results, rule files and the shim carry.
    assert generation.names() == ("setup_static", "get_page", "unit_map", "alloc_info", "modern")
    assert generation.named("modern") is SPECS[-1]
    assert generation.find(None) is None


def test_an_unknown_generation_name_is_refused_with_the_known_ones() -> None:
    with pytest.raises(UserError, match="unknown API generation 'sparc': use one of "
                                        "setup_static, get_page, unit_map, alloc_info, modern"):
        generation.named("sparc")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_spec_has_a_model_for_each_of_its_scenarios(spec: GenerationSpec) -> None:
    model = py_impl.MODELS[spec.name]
    assert set(spec.scenarios) | set(spec.arch_flows) <= set(model)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_the_templates_a_spec_names_exist(spec: GenerationSpec) -> None:
    drivers = [way.driver for s in spec.scenarios.values() for way in s.chain()
               if way.driver is not None]
    for name in (spec.setup_args_glue, *drivers):
        assert (TEMPLATES / name).is_file(), name


@pytest.mark.parametrize("name", ["setup_static", "get_page", "get_page_embed", "unit_map",
                                  "alloc_info"])
def test_detection_asks_every_spec_and_one_claims_each_fixture_kernel(name: str) -> None:
    snap = dir_snapshot(kernel(name))
    c_file, h_file = closure.parse_files(snap.read(kernel_files.PERCPU_C),
                                         snap.read(kernel_files.PERCPU_H))
    api = detect.detect(c_file, h_file)
    name = name.removesuffix("_embed")
    assert api.spec is generation.named(name)
    assert api.generation == name
    types = tuple(p.ctype for p in api.setup.params)
    assert [s.name for s in SPECS if s.detects(api.setup.return_type, types)] == [name]


def test_the_modern_signature_is_told_from_alloc_info_by_its_return_type() -> None:
    types = ("const struct pcpu_alloc_info *", "void *")
    assert [s.name for s in SPECS if s.detects("void", types)] == ["modern"]
    assert [s.name for s in SPECS if s.detects("int", types)] == ["alloc_info"]


def _spec_package(root: Path, name: str, modules: dict[str, str]) -> str:
    """A package of spec modules; each test names its own (imports are cached)."""
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in modules.items():
        (package / f"{name}.py").write_text(textwrap.dedent(text))
    return package.name


# A generation the harness does not have: a module is all it takes.
TWO_INTS = """
    import dataclasses
    from harness.core.generation import GenerationName
    from harness.core.generations import unit_map

    SPEC = dataclasses.replace(
        unit_map.SPEC, name=GenerationName("two_ints"), since="2009-01",
        shape="two ints", detects=lambda ret, params: params == ("int", "int"),
        model="unit_map")
"""


def test_a_new_generation_is_one_module_that_detection_finds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    found = generation.discover(_spec_package(tmp_path, "new_specs", {"two_ints": TWO_INTS}))
    assert [s.name for s in found] == ["two_ints"]
    monkeypatch.setattr(generation, "all_specs", lambda: (*found, *SPECS))
    snap = dir_snapshot(kernel("unknown_api"))
    api = detect.detect(*closure.parse_files(snap.read(kernel_files.PERCPU_C),
                                             snap.read(kernel_files.PERCPU_H)))
    assert api.generation == "two_ints"


def test_a_spec_module_must_define_spec_under_its_own_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    misnamed = _spec_package(tmp_path, "misnamed_specs", {"other_name": TWO_INTS})
    with pytest.raises(SpecError, match="defines the spec of 'two_ints'"):
        generation.discover(misnamed)
    empty = _spec_package(tmp_path, "empty_specs", {"nothing": "X = 1\n"})
    with pytest.raises(SpecError, match=r"empty_specs\.nothing defines no SPEC"):
        generation.discover(empty)


def test_a_spec_with_an_unknown_scenario_fails_clearly() -> None:
    with pytest.raises(SpecError) as err:
        dataclasses.replace(unit_map.SPEC, scenarios={
            **unit_map.SPEC.scenarios, "embedd": called("pcpu_embed_first_chunk")})
    message = str(err.value)
    assert message.startswith("generation spec 'unit_map': scenario 'embedd' is unknown")
    assert "did you mean 'embed'?" in message


@pytest.mark.parametrize("change, complaint", [
    ({"successors": {"lpage": "embeded"}},
     "'lpage' runs on 'embeded', a scenario the generation does not have"),
    ({"successors": {"lpages": "embed"}}, "successor of unknown scenario 'lpages'"),
    ({"scenarios": {"embed": ScenarioSpec(("pcpu_build",), entry="pcpu_embed_first_chunk")}},
     "calls pcpu_embed_first_chunk() but does not extract it"),
    ({"scenarios": {"embed": ScenarioSpec(("pcpu_embed_first_chunk",))}},
     "needs either an entry point or a driver"),
    ({"arch_flows": ("x68",)}, "arch flow 'x68' is unknown"),
    ({"since": "2009"}, "since '2009' is not YYYY-MM"),
    ({"required_structs": ("pcpu_alloc_info",)}, "required struct pcpu_alloc_info"),
])
def test_a_spec_that_contradicts_itself_fails_clearly(change: dict[str, object],
                                                      complaint: str) -> None:
    with pytest.raises(SpecError, match="generation spec 'unit_map': .*" + re.escape(complaint)):
        dataclasses.replace(unit_map.SPEC, **change)  # type: ignore[arg-type]


def test_generations_compare_across_vocabularies_only() -> None:
    assert not generation.is_cross_generation("unit_map", "alloc_info")
    assert generation.is_cross_generation("alloc_info", "modern")
    assert not generation.is_cross_generation("modern", "modern")
    # A result the harness wrote itself (a shim that failed) names none.
    assert generation.is_cross_generation(None, "modern")
    assert not generation.is_cross_generation(None, "unit_map")
    # The oldest generation's vocabulary is the one such a result is read in.
    assert not generation.is_cross_generation("get_page", "unit_map")
    assert not generation.is_cross_generation(None, "get_page")
    renames, dropped = generation.cross_vocabulary("unit_map", "modern")
    assert renames["state.first_unit_cpu"] == "state.low_unit_cpu"
    assert "bootmem.maps" in dropped
    assert generation.cross_vocabulary("unit_map", "alloc_info") == ({}, ())


def test_x86_attempts_compare_across_generations_by_success_not_return() -> None:
    """2009's setup_pcpu_*() returned the unit size and took `chosen`;
    today's pcpu_*_first_chunk() return 0 and the flow has no `chosen`:
    across generations an attempt is its allocator, reason and success."""
    from harness.judge import compare

    renames, dropped = generation.cross_vocabulary("alloc_info", "modern")
    old = {"attempts": [{"allocator": "lpage", "chosen": False, "return": -22,
                         "reason": "not-numa"},
                        {"allocator": "embed", "chosen": False, "return": 2097152,
                         "reason": "ok"}]}
    new = {"attempts": [{"allocator": "lpage", "chosen": None, "return": -22,
                         "reason": "not-numa"},
                        {"allocator": "embed", "chosen": None, "return": 0, "reason": "ok"}]}
    a = compare.cross_generation(old, renames, dropped)
    assert a == compare.cross_generation(new, renames, dropped)
    assert a["attempts"] == [
        {"allocator": "lpage", "reason": "not-numa", "ok": False, "errno": -22},
        {"allocator": "embed", "reason": "ok", "ok": True, "errno": None}]
    # A failure still differs from a success, and a changed reason shows.
    failed = {"attempts": [{"allocator": "embed", "chosen": None, "return": -22,
                            "reason": "too-spread"}]}
    assert compare.cross_generation(failed, renames, dropped)["attempts"] == [
        {"allocator": "embed", "reason": "too-spread", "ok": False, "errno": -22}]

"""Tests for harness.extract and harness.detect on the fixture kernels."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import CaseFactory, ShimFactory, dir_snapshot, kernel

from harness.compile import shims
from harness.core import kernel_files
from harness.core.errors import UserError
from harness.extract import closure, ctext, detect
from harness.run import server

UNIT_MAP = kernel("unit_map")
ALLOC_INFO = kernel("alloc_info")


def parsed(path: Path) -> tuple[ctext.SourceFile, ctext.SourceFile]:
    snap = dir_snapshot(path)
    return closure.parse_files(snap.read(kernel_files.PERCPU_C), snap.read(kernel_files.PERCPU_H))


def extraction(path: Path, scenarios: list[str] | None = None) -> closure.Extraction:
    c_file, h_file = parsed(path)
    api = detect.detect(c_file, h_file)
    return closure.extract(c_file, h_file, api.spec, scenarios)


def names(items: tuple[ctext.Item, ...]) -> set[str]:
    return {name for item in items for name in item.names}


def copy_kernel(path: Path, dest: Path) -> Path:
    shutil.copytree(path, dest)
    return dest


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


# --- generation detection ------------------------------------------------------------


def test_unit_map_generation() -> None:
    c_file, h_file = parsed(UNIT_MAP)
    api = detect.detect(c_file, h_file)
    assert api.generation == "unit_map"
    assert api.setup.name == "pcpu_setup_first_chunk"
    assert api.setup.return_type == "size_t"
    assert [p.name for p in api.setup.params] == [
        "static_bytes",
        "reserved_bytes",
        "dyn_bytes",
        "unit_bytes",
        "base",
        "cpu_unit",
    ]
    assert [p.ctype for p in api.setup.params][-2:] == ["void *", "const int *"]
    assert "pcpu_alloc_info" not in api.structs
    chunk = {f.name: f for f in api.fields("pcpu_chunk")}
    assert list(chunk) == ["base_addr", "free_size", "map_used", "map_alloc", "map", "immutable"]
    assert chunk["map"].kind == "pointer"
    assert chunk["free_size"].kind == "scalar"
    # Prototypes are read with their typedef'd parameter types intact.
    build_map = next(it for it in c_file.items if it.name == "pcpu_lpage_build_unit_map"
                     and it.kind == "function")
    assert detect.parse_prototype(build_map.text).params[-1].ctype == (
        "pcpu_fc_cpu_distance_fn_t"
    )


def test_alloc_info_generation_and_struct_fields() -> None:
    api = detect.detect(*parsed(ALLOC_INFO))
    assert api.generation == "alloc_info"
    assert api.setup.return_type == "int"
    assert [p.ctype for p in api.setup.params] == ["const struct pcpu_alloc_info *", "void *"]
    ai = {f.name: f for f in api.fields("pcpu_alloc_info")}
    assert list(ai) == [
        "static_size",
        "reserved_size",
        "dyn_size",
        "unit_size",
        "atom_size",
        "alloc_size",
        "info_bytes",
        "nr_groups",
        "groups",
    ]
    assert ai["groups"].kind == "flexible_array"
    assert ai["groups"].pointee == "struct pcpu_group_info"
    gi = {f.name: f for f in api.fields("pcpu_group_info")}
    assert list(gi) == ["nr_units", "base_offset", "cpu_map"]
    assert (gi["cpu_map"].kind, gi["cpu_map"].pointee) == ("pointer", "unsigned int")
    chunk = {f.name: f for f in api.fields("pcpu_chunk")}
    assert chunk["populated"].kind == "flexible_array"


def test_unknown_generation_names_what_was_found() -> None:
    with pytest.raises(UserError) as err:
        detect.detect(*parsed(kernel("unknown_api")))
    message = str(err.value)
    assert "\n" not in message
    assert "unknown percpu API generation" in message
    assert "int pcpu_setup_first_chunk(int, int)" in message


def test_missing_setup_function(tmp_path: Path) -> None:
    root = copy_kernel(kernel("unknown_api"), tmp_path / "k")
    edit(root / "mm" / "percpu.c", "pcpu_setup_first_chunk(int", "pcpu_setup_everything(int")
    with pytest.raises(UserError) as err:
        shims.render(dir_snapshot(root))
    message = str(err.value)
    assert "\n" not in message
    assert "pcpu_setup_first_chunk()" in message
    assert "mm/percpu.c" in message


def test_alloc_info_without_group_struct(tmp_path: Path) -> None:
    root = copy_kernel(ALLOC_INFO, tmp_path / "k")
    header = root / "include" / "linux" / "percpu.h"
    text = header.read_text()
    start = text.index("struct pcpu_group_info {")
    end = text.index("};", start) + 2
    header.write_text(text[:start] + "struct pcpu_group_info;" + text[end:])
    with pytest.raises(UserError, match="struct pcpu_group_info is not defined"):
        detect.detect(*parsed(root))


# --- closure ---------------------------------------------------------------------------


def test_closure_of_one_scenario() -> None:
    ex = extraction(UNIT_MAP, ["embed"])
    assert ex.scenarios == ("embed",)
    assert ex.missing_roots == ()
    assert set(ex.functions()) == {
        "fx_make_chunk",
        "pcpu_setup_first_chunk",
        "fx_unit_size",
        "fx_scratch",
        "pcpu_embed_first_chunk",
    }
    source = names(ex.source_items)
    # fx_spins is only used by fx_scratch, which only embed calls.
    assert "fx_spins" in source
    assert {"FX_STATIC_CRASH", "FX_SCRATCH_PAGES", "FX_MAP_SLOTS"} <= source
    # The state variables the glue reports are always roots.
    assert {"pcpu_unit_map", "pcpu_nr_units", "pcpu_first_chunk", "pcpu_chunk"} <= source
    assert not {"pcpu_page_first_chunk", "pcpu_lpage_first_chunk", "fx_group_leader"} & source
    assert "pcpu_fixture_unreached" not in source
    assert not [item for item in ex.source_items if item.kind == "statement"]
    header = names(ex.header_items)
    assert {"PERCPU_DYNAMIC_RESERVE", "pcpu_setup_first_chunk", "pcpu_base_addr"} <= header
    assert "pcpu_page_first_chunk" not in header
    assert "pcpu_fc_populate_pte_fn_t" not in header
    assert not {"PERCPU_FIXTURE_UNUSED", "pcpu_fixture_header_only"} & header


def test_closure_of_all_scenarios() -> None:
    ex = extraction(UNIT_MAP)
    assert ex.scenarios == ("embed", "page", "lpage")
    source = names(ex.source_items)
    assert {"pcpu_page_first_chunk", "pcpu_lpage_first_chunk", "fx_group_leader"} <= source
    assert "pcpu_fixture_unreached" not in source
    # Both branches of an #ifdef are kept: the compiler picks one.
    assert len([item for item in ex.source_items if "FX_MAP_SLOTS" in item.names]) == 2
    header = names(ex.header_items)
    assert not {"PERCPU_FIXTURE_UNUSED", "pcpu_fixture_header_only"} & header
    assert ex.includes[0] == "<linux/bootmem.h>"
    assert "<asm/sections.h>" in ex.includes


def test_alloc_info_lpage_roots() -> None:
    ex = extraction(ALLOC_INFO, ["lpage"])
    functions = set(ex.functions())
    # pcpu_alloc_alloc_info is reached through pcpu_build_alloc_info.
    assert {
        "pcpu_build_alloc_info",
        "pcpu_lpage_first_chunk",
        "pcpu_free_alloc_info",
        "pcpu_alloc_alloc_info",
        "fx_group_leader",
        "pcpu_dump_alloc_info",
    } <= functions
    assert "pcpu_embed_first_chunk" not in functions
    assert {"pcpu_alloc_info", "pcpu_group_info"} <= names(ex.header_items)


def test_items_keep_source_order() -> None:
    ex = extraction(ALLOC_INFO)
    lines = [item.line for item in ex.source_items]
    assert lines == sorted(lines)
    assert all(item.path == kernel_files.PERCPU_C for item in ex.source_items)
    assert all(item.path == kernel_files.PERCPU_H for item in ex.header_items)


def test_absent_scenarios_are_reported_not_built() -> None:
    ex = extraction(kernel("unresolved"))
    assert ex.scenarios == ("embed",)
    assert ex.missing_roots == (
        "pcpu_lpage_build_unit_map",
        "pcpu_lpage_first_chunk",
        "pcpu_page_first_chunk",
    )


def test_unknown_scenario() -> None:
    with pytest.raises(UserError, match="unknown scenario 'huge'"):
        extraction(UNIT_MAP, ["huge"])


def test_item_digest_tracks_the_text() -> None:
    a = extraction(UNIT_MAP).functions()["fx_unit_size"]
    b = extraction(ALLOC_INFO).functions()["fx_group_leader"]
    assert closure.item_digest(a) == closure.item_digest(a)
    assert closure.item_digest(a) != closure.item_digest(b)
    assert len(closure.item_digest(a)) == 16


# --- struct fields flow into the results ---------------------------------------------


def test_a_new_struct_field_shows_up_in_the_results(
    tmp_path: Path, make_shim: ShimFactory, make_case: CaseFactory
) -> None:
    root = copy_kernel(ALLOC_INFO, tmp_path / "k")
    edit(
        root / "include" / "linux" / "percpu.h",
        "\tint\t\t\tnr_groups;\n",
        "\tint\t\t\tnr_groups;\n\tunsigned long\t\tfx_new_field;\n",
    )
    api = detect.detect(*parsed(root))
    assert [f.name for f in api.fields("pcpu_alloc_info")][-3:] == [
        "nr_groups",
        "fx_new_field",
        "groups",
    ]
    result = server.run_one(make_shim(root), make_case("new-field"))
    assert result["outcome"] == {"kind": "ok"}
    ai = result["setup_args"]["alloc_info"]
    assert list(ai)[-3:] == ["nr_groups", "fx_new_field", "groups"]
    assert ai["fx_new_field"] == 0
    assert ai["groups"][0]["cpu_map"] == [0, 2, 4]

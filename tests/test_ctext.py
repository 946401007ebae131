"""Tests for harness.ctext: cutting C text into verbatim top-level items."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import kernel, line_of

from harness.extract import ctext

UNIT_MAP_C = kernel("unit_map") / "mm" / "percpu.c"
UNIT_MAP_H = kernel("unit_map") / "include" / "linux" / "percpu.h"
ALLOC_INFO_C = kernel("alloc_info") / "mm" / "percpu.c"
ALLOC_INFO_H = kernel("alloc_info") / "include" / "linux" / "percpu.h"
ALL_FILES = (UNIT_MAP_C, UNIT_MAP_H, ALLOC_INFO_C, ALLOC_INFO_H)


def split_file(path: Path) -> ctext.SourceFile:
    return ctext.split(path.read_text(), str(path))


def by_name(source: ctext.SourceFile, name: str) -> list[ctext.Item]:
    return [item for item in source.items if name in item.names]


def one(source: ctext.SourceFile, name: str) -> ctext.Item:
    items = by_name(source, name)
    assert len(items) == 1, (name, items)
    return items[0]


# --- tokens -------------------------------------------------------------------


def test_preprocessor_line_with_continuation_is_one_token() -> None:
    text = "#define TWO(a) \\\n\t((a) + \\\n\t 2)\nint x;\n"
    tokens = ctext.tokenize(text)
    assert tokens[0].kind == "pp"
    assert tokens[0].text == "#define TWO(a) \\\n\t((a) + \\\n\t 2)"
    assert [t.text for t in tokens[1:]] == ["int", "x", ";"]


def test_comments_are_dropped_and_strings_kept_whole() -> None:
    tokens = ctext.tokenize("/* { */ char *s = \"}{;\"; // x {\nchar c = '}';\n")
    assert [(t.kind, t.text) for t in tokens if t.kind in ("string", "char")] == [
        ("string", '"}{;"'),
        ("char", "'}'"),
    ]
    assert all("{" not in t.text for t in tokens if t.kind == "punct")


def test_hash_inside_a_comment_or_mid_line_is_not_a_directive() -> None:
    tokens = ctext.tokenize("/*\n#define NOT_A_MACRO 1\n*/ int a = 1 # 2;\n")
    assert not [t for t in tokens if t.kind == "pp"]


def test_identifiers_ignore_comments_and_strings() -> None:
    found = ctext.identifiers('foo(bar, "baz") /* qux */ + quux // corge\n')
    assert found == {"foo", "bar", "quux"}


# --- items of the fixtures ------------------------------------------------------


def test_fixture_items_have_the_right_kinds_and_names() -> None:
    source = split_file(UNIT_MAP_C)
    assert one(source, "FX_STATIC_CRASH").kind == "macro"
    assert one(source, "pcpu_chunk").kind == "declaration"
    assert one(source, "pcpu_unit_map").kind == "declaration"
    assert one(source, "pcpu_base_addr").kind == "declaration"
    setup = one(source, "pcpu_setup_first_chunk")
    assert setup.kind == "function"
    assert setup.names == {"pcpu_setup_first_chunk"}
    assert {"fx_make_chunk", "pcpu_first_chunk", "BUG_ON"} <= setup.refs
    # A local variable is a reference, never a name the item defines.
    assert "identity" in setup.refs
    assert one(source, "fx_scratch").kind == "function"


def test_export_annotation_defines_nothing() -> None:
    source = split_file(UNIT_MAP_C)
    exports = [item for item in source.items if "EXPORT_SYMBOL_GPL" in item.text]
    assert len(exports) == 1
    assert exports[0].kind == "statement"
    assert exports[0].names == frozenset()
    assert "pcpu_base_addr" in exports[0].refs
    # The variable itself is defined exactly once, by its declaration.
    assert len(by_name(source, "pcpu_base_addr")) == 1


def test_header_prototypes_and_typedefs() -> None:
    header = split_file(ALLOC_INFO_H)
    proto = one(header, "pcpu_setup_first_chunk")
    assert proto.kind == "declaration"
    assert proto.is_prototype
    assert one(header, "pcpu_fc_alloc_fn_t").kind == "declaration"
    assert one(header, "pcpu_fc_cpu_distance_fn_t").kind == "declaration"
    assert not one(header, "pcpu_base_addr").is_prototype
    ai = one(header, "pcpu_alloc_info")
    assert ai.text.startswith("struct pcpu_alloc_info {")
    assert ai.text.endswith("};")
    # A prototype returning a struct pointer does not define the struct.
    assert one(header, "pcpu_build_alloc_info").names == {"pcpu_build_alloc_info"}


def test_items_are_verbatim_and_in_source_order() -> None:
    for path in ALL_FILES:
        text = path.read_text()
        source = split_file(path)
        assert source.items, path
        offsets = [text.index(item.text) for item in source.items]
        assert offsets == sorted(offsets), path


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: f"{p.parts[-4]}/{p.name}")
def test_item_lines_point_at_the_first_line_of_the_item(path: Path) -> None:
    lines = path.read_text().splitlines()
    for item in split_file(path).items:
        first = item.text.splitlines()[0]
        assert lines[item.line - 1].startswith(first), (item.name, item.line)
        assert item.path == str(path)


def test_known_line_numbers() -> None:
    source = split_file(UNIT_MAP_C)
    setup_line = line_of(UNIT_MAP_C, "size_t __init pcpu_setup_first_chunk(")
    assert one(source, "pcpu_setup_first_chunk").line == setup_line
    assert one(source, "FX_STATIC_CRASH").line == line_of(UNIT_MAP_C, "#define FX_STATIC_CRASH")


# --- conditional context ---------------------------------------------------------


def test_if_else_context_is_kept_per_item() -> None:
    source = split_file(UNIT_MAP_C)
    smp, not_smp = by_name(source, "FX_MAP_SLOTS")
    assert [c.lines for c in smp.conditions] == [("#ifdef CONFIG_SMP\t/* room for more areas */",)]
    assert [c.lines for c in not_smp.conditions] == [
        ("#ifdef CONFIG_SMP\t/* room for more areas */", "#else")
    ]
    assert "4" in smp.text and "2" in not_smp.text


def test_items_inside_and_after_an_ifdef_block() -> None:
    source = split_file(UNIT_MAP_C)
    page = one(source, "pcpu_page_first_chunk")
    assert [c.lines for c in page.conditions] == [
        ("#ifdef CONFIG_NEED_PER_CPU_PAGE_FIRST_CHUNK /* fixture: page scenario */",)
    ]
    for name in ("pcpu_lpage_build_unit_map", "pcpu_lpage_first_chunk", "fx_group_leader"):
        assert [c.lines for c in one(source, name).conditions] == [
            ("#ifdef CONFIG_NEED_PER_CPU_LPAGE_FIRST_CHUNK /* fixture: lpage scenario */",)
        ], name
    # The #endif closed the block: what follows is unconditional.
    assert one(source, "pcpu_fixture_unreached").conditions == ()
    assert one(source, "pcpu_embed_first_chunk").conditions == ()


def test_nested_and_elif_conditions() -> None:
    text = (
        "#ifdef CONFIG_A\n"
        "#if B > 1\n"
        "int inner;\n"
        "#elif defined(C)\n"
        "int middle;\n"
        "#else\n"
        "int last;\n"
        "#endif\n"
        "int outer;\n"
        "#endif\n"
        "int top;\n"
    )
    source = ctext.split(text, "x.c")
    conds = {item.name: [c.lines for c in item.conditions] for item in source.items}
    assert conds == {
        "inner": [("#ifdef CONFIG_A",), ("#if B > 1",)],
        "middle": [("#ifdef CONFIG_A",), ("#if B > 1", "#elif defined(C)")],
        "last": [("#ifdef CONFIG_A",), ("#if B > 1", "#elif defined(C)", "#else")],
        "outer": [("#ifdef CONFIG_A",)],
        "top": [],
    }


def test_preprocessor_lines_inside_a_function_stay_in_its_text() -> None:
    text = "int f(void)\n{\n#ifdef X\n\treturn 1;\n#endif\n\treturn 0;\n}\nint g;\n"
    source = ctext.split(text, "x.c")
    assert [item.name for item in source.items] == ["f", "g"]
    assert "#ifdef X" in source.items[0].text
    assert source.items[0].conditions == ()
    assert source.items[1].line == 8


# --- include guards --------------------------------------------------------------


@pytest.mark.parametrize("path", [UNIT_MAP_H, ALLOC_INFO_H], ids=["unit_map", "alloc_info"])
def test_include_guard_is_dropped(path: Path) -> None:
    header = split_file(path)
    assert header.guard == "__LINUX_PERCPU_H"
    assert not by_name(header, "__LINUX_PERCPU_H")
    for item in header.items:
        for cond in item.conditions:
            assert all("__LINUX_PERCPU_H" not in line for line in cond.lines), item.name
    # Items at the top of the header re-emit no condition at all...
    assert all(not c.lines for c in one(header, "pcpu_setup_first_chunk").conditions)
    # ...while a real #ifdef inside the guard is kept.
    page = one(header, "pcpu_page_first_chunk")
    assert [c.lines for c in page.conditions if c.lines] == [
        ("#ifdef CONFIG_NEED_PER_CPU_PAGE_FIRST_CHUNK /* fixture: page scenario */",)
    ]


def test_no_guard_when_the_file_does_not_open_with_one() -> None:
    source = ctext.split("#include <x.h>\n#ifndef FOO\n#define FOO 1\n#endif\n", "x.h")
    assert source.guard is None
    assert [(i.kind, i.name) for i in source.items] == [("macro", "FOO")]
    assert [c.lines for c in source.items[0].conditions] == [("#ifndef FOO",)]
    assert source.includes == ["<x.h>"]


# --- declarations --------------------------------------------------------------------


def test_declaration_names() -> None:
    text = (
        "int a, b = 2, *c;\n"
        "static int table[] = { 1, 2, 3 };\n"
        "struct tag { int member; } instance;\n"
        "enum fx_mode { FX_A, FX_B = 3, FX_C };\n"
        "typedef unsigned long fx_word_t;\n"
        "typedef int (*fx_fn_t)(int);\n"
        "static DEFINE_MUTEX(fx_mutex);\n"
        'static const char *names[] = { "a{", "}b" };\n'
        "int f(void) { char c = '}'; /* } */ return c; }\n"
    )
    source = ctext.split(text, "x.c")
    got = [(item.kind, sorted(item.names)) for item in source.items]
    assert got == [
        ("declaration", ["a", "b", "c"]),
        ("declaration", ["table"]),
        ("declaration", ["instance", "tag"]),
        ("declaration", ["FX_A", "FX_B", "FX_C", "fx_mode"]),
        ("declaration", ["fx_word_t"]),
        ("declaration", ["fx_fn_t"]),
        ("declaration", ["fx_mutex"]),
        ("declaration", ["names"]),
        ("function", ["f"]),
    ]
    assert [item.line for item in source.items] == list(range(1, 10))


def test_macro_refs_exclude_the_macro_itself() -> None:
    source = ctext.split("#define FX_ROUND(x) ALIGN((x), FX_ROUND_TO) /* FX_ROUND */\n", "x.c")
    (macro,) = source.items
    assert macro.names == {"FX_ROUND"}
    assert {"ALIGN", "FX_ROUND_TO", "x"} <= macro.refs
    assert "FX_ROUND" not in macro.refs


def test_undef_is_its_own_item() -> None:
    source = ctext.split("#define A 1\n#undef A\n", "x.c")
    assert [(i.kind, sorted(i.names), sorted(i.refs)) for i in source.items] == [
        ("macro", ["A"], []),
        ("undef", [], ["A"]),
    ]

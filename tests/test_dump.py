"""Rendering and parsing the two allocation dump formats (py_impl/dump.py).

The files in test_data/dumps are kernel logs captured with `percpu-diff show
--json` (the "log" field, levels included) from a Linux tree; CAPTURED says
which case made each one.  The rest are hand-written examples and
hypothesis properties, so the module needs no kernel tree.
"""

from __future__ import annotations

import re
from pathlib import Path
from random import Random

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from harness.core.dumpfmt import (
    DumpParseError,
    DumpTable,
    DumpUnit,
    alloc_table,
    lpage_table,
    parse,
    render,
    render_alloc,
    render_lpage,
)

DUMPS = Path(__file__).resolve().parent / "test_data" / "dumps"

# How each captured dump was made: `percpu-diff show --tree linux --rev REV
# OPTIONS --json`.  NEW prints pcpu-alloc dumps, OLD (its parent) pcpu-lpage
# dumps in the lpage scenario.  "dist(N)" is an N-node distance matrix with
# 10 on the diagonal and 20 elsewhere.
NEW, OLD = "fd1e8a1fe2b5", "fd1e8a1fe2b5^"
CAPTURED = {
    "alloc_embed_128cpus_r0": f"{NEW} --scenario embed --possible 0-127 --nr-cpus 128 "
    "--reserved-size 0",
    "alloc_embed_wide_cpus_8k": f"{NEW} --scenario embed --possible 0-5,100-105 --nr-cpus 128 "
    "--page-size 8K --static-size 12345 --dyn-size 20480",
    "alloc_lpage_11groups_odd": f"{NEW} --scenario lpage --atom-size 2M --possible 0-32 "
    "--nr-cpus 64 --cpu-node 0,0,0,1,1,1,...,10,10,10 --distance dist(11)",
    "alloc_lpage_12groups": f"{NEW} --scenario lpage --atom-size 2M --possible 0-23 --nr-cpus 64 "
    "--cpu-node 0,0,1,1,...,11,11 --distance dist(12)",
    "alloc_lpage_3nodes_14cpus": f"{NEW} --scenario lpage --atom-size 2M --possible 0-11,16,17 "
    "--nr-cpus 64 --cpu-node 0,0,0,0,0,0,1,1,1,1,1,1,2,2 --distance dist(3)",
    "alloc_lpage_9cpus_12units": f"{NEW} --scenario lpage --atom-size 2M --possible 0-8 "
    "--nr-cpus 16 --cpu-node 0,0,0,1,1,1,2,2,2 --distance dist(3)",
    "alloc_page_static_odd_r0": f"{NEW} --scenario page --possible 0-15 --nr-cpus 64 "
    "--static-size 40000 --reserved-size 0",
    "lpage_old_119cpus_3nodes": f"{OLD} --scenario lpage --atom-size 2M --possible 0-99,101-119 "
    "--nr-cpus 128 --cpu-node 0 (x40),1 (x40),2 (x39) --distance dist(3)",
    "lpage_old_9cpus_12units": f"{OLD} --scenario lpage --atom-size 2M --possible 0-8 "
    "--nr-cpus 16 --cpu-node 0,0,0,1,1,1,2,2,2 --distance dist(3)",
    "lpage_old_nodes_odd": f"{OLD} --scenario lpage --atom-size 2M --possible 0-32 --nr-cpus 64 "
    "--cpu-node 0,0,0,1,1,1,...,10,10,10 --distance dist(11)",
    "lpage_old_sparse": f"{OLD} --scenario lpage --atom-size 2M --possible 0-11,16,17 "
    "--nr-cpus 64 --cpu-node 0,0,0,0,0,0,1,1,1,1,1,1,2,2 --distance dist(3)",
    "lpage_old_wide_cpus": f"{OLD} --scenario lpage --atom-size 4M --possible 0-9,100,120 "
    "--nr-cpus 128 --static-size 50000 --reserved-size 0 --dyn-size 8192",
}

ALLOC_ONE_GROUP = (
    "pcpu-alloc: s40960 r8192 d0 u65536 alloc=16*4096\n"
    "pcpu-alloc: [0] 0 [0] 2 [0] 4 "
)
ALLOC_TWO_GROUPS = (
    "pcpu-alloc: s40960 r8192 d0 u1048576 alloc=1*2097152\n"
    "pcpu-alloc: [0] 0 2 [1] 4 - "
)
LPAGE_TWO_PAGES = (
    "pcpu-lpage: sta/res/dyn=40960/8192/0 unit=1048576 lpage=2097152\n"
    "pcpu-lpage: 0 2 | 4 - "
)
M = 1 << 20


def dump_lines(log: str) -> str:
    """The dump lines of a log without their levels: what render() gives."""
    return "\n".join(
        m.group(1)
        for line in log.splitlines()
        if (m := re.fullmatch(r"<[0-7]>(pcpu-(?:alloc|lpage):.*)", line))
    )


# -- the examples -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "table"),
    [
        (ALLOC_ONE_GROUP, alloc_table(40960, 8192, 0, 65536, 4096, 65536, [[0, 2, 4]])),
        (ALLOC_TWO_GROUPS, alloc_table(40960, 8192, 0, M, 2 * M, 2 * M, [[0, 2], [4, None]])),
        (LPAGE_TWO_PAGES, lpage_table(40960, 8192, 0, M, 2 * M, [0, 2, 4, None])),
    ],
    ids=["alloc-one-group", "alloc-two-groups", "lpage"],
)
def test_examples_both_ways(text: str, table: DumpTable) -> None:
    assert render(table) == text
    assert parse(text) == table


def test_example_tables_spelled_out() -> None:
    assert parse(ALLOC_TWO_GROUPS) == DumpTable(
        "alloc", 40960, 8192, 0, M, 2 * M, 2 * M,
        (DumpUnit(0, 0, 0, 0), DumpUnit(1, 0, 0, 2), DumpUnit(2, 1, 1, 4), DumpUnit(3, 1, 1, None)),
    )
    assert parse(LPAGE_TWO_PAGES) == DumpTable(
        "lpage", 40960, 8192, 0, M, 2 * M, None,
        (DumpUnit(0, 0, None, 0), DumpUnit(1, 0, None, 2), DumpUnit(2, 1, None, 4),
         DumpUnit(3, 1, None, None)),
    )


def test_table_views() -> None:
    table = parse(ALLOC_TWO_GROUPS)
    assert table.slots() == (0, 2, 4, None)
    assert table.cpus() == (0, 2, 4)
    assert table.cpu_to_unit() == {0: 0, 2: 1, 4: 2}
    assert table.groups() == ((0, 2), (4, None))
    assert table.allocs() == ((0, 2), (4, None))
    assert table.units_per_alloc == 2
    lpage = parse(LPAGE_TWO_PAGES)
    # Same layout, other generation: the same meaning, the pages as allocations.
    assert lpage.slots() == table.slots()
    assert lpage.allocs() == table.allocs()
    assert lpage.groups() == ((0, 2, 4, None),)


def test_render_dispatch_and_wrong_format() -> None:
    alloc, lpage = parse(ALLOC_ONE_GROUP), parse(LPAGE_TWO_PAGES)
    assert render_alloc(alloc) == ALLOC_ONE_GROUP
    assert render_lpage(lpage) == LPAGE_TWO_PAGES
    with pytest.raises(ValueError, match="alloc table"):
        render_alloc(lpage)
    with pytest.raises(ValueError, match="lpage table"):
        render_lpage(alloc)
    with pytest.raises(ValueError, match="unknown dump format"):
        render(DumpTable("unit_map", 0, 0, 0, 4096, 4096, None, ()))


def test_widths_follow_counts_not_cpu_numbers() -> None:
    # Three cpus: one digit, and cpu 100 simply prints wider.
    assert render(alloc_table(0, 0, 0, 4096, 4096, 4096, [[0, 1, 100]])).splitlines()[1] == (
        "pcpu-alloc: [0] 0 [0] 1 [0] 100 "
    )
    # Ten cpus: two digits, so empty slots are "--" and eight allocations fit on a line.
    table = alloc_table(0, 0, 0, 4096, 4096, 4096, [[*range(10), None]])
    assert render(table).splitlines()[1:] == [
        "pcpu-alloc: " + "".join(f"[0] {c:02d} " for c in range(8)),
        "pcpu-alloc: [0] 08 [0] 09 [0] -- ",
    ]
    # lpage widths count units, empty ones included: nine cpus in ten units.
    assert render(lpage_table(0, 0, 0, 4096, 4096, [*range(9), None])).splitlines()[1:] == [
        "pcpu-lpage: 00 | 01 | 02 | 03 | 04 | 05 | 06 | 07 ",
        "pcpu-lpage: 08 | -- ",
    ]


def test_group_numbers_get_wider_with_ten_groups() -> None:
    table = alloc_table(0, 0, 0, 4096, 4096, 4096, [[g] for g in range(10)])
    assert render(table).splitlines()[1:] == [
        "pcpu-alloc: " + "".join(f"[{g:02d}] {g:02d} " for g in range(4)),
        "pcpu-alloc: " + "".join(f"[{g:02d}] {g:02d} " for g in range(4, 8)),
        "pcpu-alloc: [08] 08 [09] 09 ",
    ]


def test_parse_accepts_levels_soh_timestamps_and_other_lines() -> None:
    expected = parse(ALLOC_TWO_GROUPS)
    header, units = ALLOC_TWO_GROUPS.splitlines()
    for text in (
        f"<6>PERCPU: Embedded 12 pages/cpu\n<7>{header}\n<7>{units}\n<4>something else\n",
        f"\x017{header}\n\x017{units}\n",
        f"[    0.000000] {header}\n[    0.000000] {units}\n",
        f"{header}\nnot a dump line\n{units}",
        # Widths are not fixed: the same meaning, padded differently.
        f"{header}\npcpu-alloc:  [000]  000 002  [001] 004 ----",
    ):
        assert parse(text) == expected, text


def test_empty_dump_has_a_header_only() -> None:
    table = alloc_table(0, 0, 0, 4096, 4096, 4096, [])
    assert render(table) == "pcpu-alloc: s0 r0 d0 u4096 alloc=1*4096"
    assert parse(render(table)) == table


@pytest.mark.parametrize(
    ("text", "line_number", "problem"),
    [
        ("PERCPU: Embedded\nnothing here", None, "no pcpu-alloc: or pcpu-lpage: line"),
        ("pcpu-alloc: s1 r2 d3", 1, "not a pcpu-alloc: header"),
        ("pcpu-lpage: sta/res/dyn=1/2 unit=4096 lpage=8192", 1, "not a pcpu-lpage: header"),
        ("pcpu-alloc: s0 r0 d0 u0 alloc=1*4096", 1, "unit size 0 is not positive"),
        ("pcpu-alloc: s0 r0 d0 u8192 alloc=1*4096", 1, "smaller than unit size"),
        (f"{ALLOC_ONE_GROUP}\npcpu-alloc: [0] x1", 3, "'x1' is neither a cpu number"),
        (f"{ALLOC_ONE_GROUP}\npcpu-lpage: 0 1", 3, "a pcpu-lpage: line in a pcpu-alloc: dump"),
        (f"{ALLOC_ONE_GROUP}\n{ALLOC_ONE_GROUP}", 3, "a second dump header"),
        (f"{ALLOC_ONE_GROUP}\npcpu-alloc:   ", 3, "no units on the line"),
        ("pcpu-alloc: s0 r0 d0 u4096 alloc=1*4096\npcpu-alloc: 0 [0] 1", 2, "before the first"),
        ("pcpu-alloc: s0 r0 d0 u4096 alloc=1*4096\npcpu-alloc: [1] 0", 2, "group 1 where group 0"),
        ("pcpu-alloc: s0 r0 d0 u4096 alloc=1*4096\npcpu-alloc: [0] 0 [1] 1 [0] 2", 2,
         "group 0 where group 1 or 2"),
        ("pcpu-alloc: s0 r0 d0 u4096 alloc=2*4096\npcpu-alloc: [0] 0 1 [0] 2", 2,
         "allocation 1 (group 0) has 1 units; the header (s0 r0 d0 u4096 alloc=2*4096) means 2"),
        ("pcpu-alloc: s0 r0 d0 u4096 alloc=1*4096\npcpu-alloc: [0] 0 | 1", 2, "'|' is neither"),
        ("pcpu-lpage: sta/res/dyn=0/0/0 unit=4096 lpage=8192\npcpu-lpage: 0 1 2 | 3", 2,
         "large page 0 has 3 units"),
        ("pcpu-lpage: sta/res/dyn=0/0/0 unit=4096 lpage=8192\npcpu-lpage: 0\npcpu-lpage: 1 2",
         2, "large page 0 has 1 units"),
        ("pcpu-lpage: sta/res/dyn=0/0/0 unit=4096 lpage=8192\npcpu-lpage: 0 1 | | 2", 2,
         "a large page with no units"),
        ("pcpu-lpage: sta/res/dyn=0/0/0 unit=4096 lpage=8192\npcpu-lpage: 0 1 |", 2,
         "a large page with no units"),
        ("pcpu-lpage: sta/res/dyn=0/0/0 unit=4096 lpage=8192\npcpu-lpage: [0] 1", 2,
         "'[0]' is neither"),
    ],
)
def test_parse_errors_name_line_and_problem(
    text: str, line_number: int | None, problem: str
) -> None:
    with pytest.raises(DumpParseError, match=re.escape(problem)) as info:
        parse(text)
    assert info.value.line_number == line_number
    if line_number is not None:
        assert info.value.line == text.splitlines()[line_number - 1]
        assert str(info.value).startswith(f"line {line_number}: ")
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        (alloc_table(0, 0, 0, 4096, 4096, 8192, [[0, 1], [2, 3, 4]]),
         "group 1 has 3 units, not a multiple of 2"),
        (alloc_table(0, 0, 0, 4096, 4096, 4096, [[0], [], [1]]),
         "unit 1: group 2 where group 0 or 1 was due"),
        (alloc_table(0, 0, 0, 4096, 4096, 4096, [[-1]]), "cpu -1 is negative"),
        (DumpTable("alloc", 0, 0, 0, 4096, 3000, 8192, ()), "not a multiple of atom size"),
        (DumpTable("alloc", 0, 0, 0, 4096, 4096, None, ()), "needs alloc_size"),
        (DumpTable("lpage", 0, 0, 0, 4096, 4096, 4096, ()), "no alloc_size"),
        (DumpTable("lpage", 0, 0, 0, 4096, 0, None, ()), "atom size 0"),
        (DumpTable("lpage", 0, 0, 0, 4096, 8192, None, (DumpUnit(1, 0, None, 0),)),
         "unit 1 is at position 0"),
        (DumpTable("lpage", 0, 0, 0, 4096, 8192, None, (DumpUnit(0, 0, 0, 0),)), "no groups"),
        (DumpTable("alloc", 0, 0, 0, 4096, 4096, 4096, (DumpUnit(0, 0, None, 0),)),
         "needs a group"),
        (DumpTable("lpage", 0, 0, 0, 4096, 8192, None,
                   (DumpUnit(0, 0, None, 0), DumpUnit(1, 1, None, 1))),
         "unit 1: allocation 1, expected 0"),
    ],
)
def test_render_refuses_tables_the_kernel_cannot_print(table: DumpTable, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        render(table)


def test_table_units_become_a_tuple_and_cpu_to_unit_rejects_duplicates() -> None:
    table = DumpTable("lpage", 0, 0, 0, 4096, 4096, None,
                      [DumpUnit(0, 0, None, 3), DumpUnit(1, 1, None, 3)])  # type: ignore[arg-type]
    assert isinstance(table.units, tuple)
    assert parse(render(table)) == table
    with pytest.raises(ValueError, match="cpu 3 is in units 0 and 1"):
        table.cpu_to_unit()


# -- captured dumps -----------------------------------------------------------


def captured() -> list[Path]:
    return sorted(DUMPS.glob("*.txt"))


def test_every_captured_dump_says_where_it_came_from() -> None:
    assert {path.stem for path in captured()} == set(CAPTURED)


@pytest.mark.parametrize("path", captured(), ids=lambda p: p.stem)
def test_captured_dump(path: Path) -> None:
    log = path.read_text()
    table = parse(log)
    assert table.format == path.stem.split("_")[0]
    assert [u.unit for u in table.units] == list(range(table.nr_units))
    assert len(table.cpus()) == len(set(table.cpus())), "a cpu with two units"
    groups = [u.group for u in table.units]
    runs = [g for n, g in enumerate(groups) if n == 0 or groups[n - 1] != g]
    assert len(runs) == len(set(runs)), "a group split in two"
    assert render(table) == dump_lines(log)


def test_captured_generations_agree_on_meaning_not_text() -> None:
    for old, new in (("lpage_old_9cpus_12units", "alloc_lpage_9cpus_12units"),
                     ("lpage_old_sparse", "alloc_lpage_3nodes_14cpus")):
        old_log, new_log = (DUMPS / f"{old}.txt").read_text(), (DUMPS / f"{new}.txt").read_text()
        old_table, new_table = parse(old_log), parse(new_log)
        assert old_table.slots() == new_table.slots()
        assert old_table.allocs() == new_table.allocs()
        assert old_table.unit_size == new_table.unit_size
        assert old_table.atom_size == new_table.alloc_size
    # ...while the text differs: the old width counts units, the new one cpus.
    assert "00 01 02 -- | 03" in (DUMPS / "lpage_old_9cpus_12units.txt").read_text()
    assert "[0] 0 1 2 - [1] 3" in (DUMPS / "alloc_lpage_9cpus_12units.txt").read_text()


# -- properties ---------------------------------------------------------------

cpus = st.one_of(st.none(), st.integers(0, 15), st.integers(0, 99_999))
sizes = st.one_of(st.integers(0, 1 << 24), st.integers(0, 24).map(lambda k: 1 << k))
positive = st.one_of(st.integers(1, 1 << 24), st.integers(0, 24).map(lambda k: 1 << k))
upas = st.sampled_from([1, 2, 4, 8, 16])


@st.composite
def alloc_tables(draw: st.DrawFn, upa: int | None = None) -> DumpTable:
    upa = draw(upas) if upa is None else upa
    unit_size = draw(positive)
    alloc_size = upa * unit_size
    atoms_per_alloc = draw(st.sampled_from([d for d in range(1, 65) if alloc_size % d == 0]))
    nr_groups = draw(st.integers(1, 12))
    groups = [
        draw(st.lists(cpus, min_size=n * upa, max_size=n * upa))
        for n in draw(st.lists(st.integers(1, 4), min_size=nr_groups, max_size=nr_groups))
    ]
    return alloc_table(draw(sizes), draw(sizes), draw(sizes), unit_size,
                       alloc_size // atoms_per_alloc, alloc_size, groups)


@st.composite
def lpage_tables(draw: st.DrawFn) -> DumpTable:
    return lpage_table(draw(sizes), draw(sizes), draw(sizes), draw(positive), draw(positive),
                       draw(st.lists(cpus, min_size=draw(st.integers(0, 150)), max_size=150)))


tables = st.one_of(alloc_tables(), lpage_tables())
# No example database: the tests leave nothing behind in the work tree.
properties = settings(max_examples=40, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow])


@settings(properties, max_examples=200)
@given(tables)
def test_parse_inverts_render(table: DumpTable) -> None:
    text = render(table)
    assert parse(text) == table
    assert render(parse(text)) == text
    assert all(line.endswith(" ") for line in text.splitlines()[1:])


@properties
@given(tables, st.lists(st.sampled_from(["<6>PERCPU: Embedded", "<4>noise", ""]), max_size=4),
       st.randoms(use_true_random=False))
def test_parse_ignores_levels_and_other_lines(
    table: DumpTable, noise: list[str], random: Random
) -> None:
    lines = [f"<7>{line}" for line in render(table).splitlines()]
    for extra in noise:
        lines.insert(random.randrange(len(lines) + 1), extra)
    assert parse("\n".join(lines) + "\n") == table


@properties
@given(st.data())
def test_render_refuses_a_group_that_is_not_whole_allocations(data: st.DataObject) -> None:
    upa = data.draw(st.sampled_from([2, 4, 8, 16]))
    table = data.draw(alloc_tables(upa=upa))
    groups = [list(group) for group in table.groups()]
    victim = data.draw(st.integers(0, len(groups) - 1))
    groups[victim].extend(data.draw(st.lists(cpus, min_size=1, max_size=upa - 1)))
    broken = alloc_table(table.static_size, table.reserved_size, table.dyn_size, table.unit_size,
                         table.atom_size, upa * table.unit_size, groups)
    with pytest.raises(ValueError, match=f"group {victim} has"):
        render(broken)


@properties
@given(st.text().filter(lambda s: "pcpu-alloc:" not in s and "pcpu-lpage:" not in s))
def test_parse_refuses_text_without_a_dump(text: str) -> None:
    with pytest.raises(DumpParseError, match="no pcpu-alloc: or pcpu-lpage: line"):
        parse(text)


@properties
@given(tables, st.data())
def test_parse_refuses_a_bad_header(table: DumpTable, data: st.DataObject) -> None:
    header, *rest = render(table).splitlines()
    prefix, _, body = header.partition(" ")
    fields = body.split()
    index = data.draw(st.integers(0, len(fields) - 1))
    fields[index] = data.draw(st.sampled_from(["", "x", "s", "alloc=", "unit=12ab", "=1/2"]))
    text = "\n".join([f"{prefix} {' '.join(fields)}", *rest])
    with pytest.raises(DumpParseError, match="header") as info:
        parse(text)
    assert info.value.line_number == 1


@properties
@given(tables, st.data())
def test_parse_refuses_a_cpu_that_is_not_a_number(table: DumpTable, data: st.DataObject) -> None:
    lines = render(table).splitlines()
    cells = [(n, i) for n, line in enumerate(lines[1:], 1)
             for i, token in enumerate(line.split()[1:], 1) if re.fullmatch(r"\d+|-+", token)]
    assume(cells)
    number, index = data.draw(st.sampled_from(cells))
    junk = data.draw(st.from_regex(r"[a-z#*+x]{1,4}|\d+[a-f]|-\d+|0x\d", fullmatch=True))
    tokens = lines[number].split()
    tokens[index] = junk
    lines[number] = " ".join(tokens)
    with pytest.raises(DumpParseError, match="is neither a cpu number") as info:
        parse("\n".join(lines))
    assert info.value.line_number == number + 1

"""show's unit layout table: a small machine row by row, as always; a large
one with each regular run of units drawn as one row of ranges, every unit
that breaks the pattern on a row of its own."""

from __future__ import annotations

import io

from rich.console import Console

from harness.report import console
from harness.report.console import Unit


def _drawn(layouts: list[list[Unit]]) -> tuple[list[list[str]], str]:
    table = console._layout_table([f"side{n}" for n in range(len(layouts))], layouts)
    cells = [[str(cell) for cell in column.cells] for column in table.columns]
    out = Console(file=io.StringIO(), width=80)
    out.print(table, crop=False)  # as console.show prints it
    text = out.file.getvalue()  # type: ignore[attr-defined]
    return [list(row) for row in zip(*cells, strict=True)], text


def _regular(units: int, offset: int = 0, empty: set[int] | None = None) -> list[Unit]:
    return [Unit("0", u, None if u in (empty or set()) else u + offset) for u in range(units)]


def test_a_small_layout_is_drawn_unit_by_unit() -> None:
    rows, text = _drawn([_regular(console.LAYOUT_ROWS_IN_FULL)] * 2)
    assert len(rows) == console.LAYOUT_ROWS_IN_FULL
    assert rows[5] == ["5", "0", "5", "0", "5"]
    assert "unit a-b" not in text


def test_a_large_layout_draws_its_regular_runs_as_ranges() -> None:
    units = 2048
    old = _regular(units, empty={1000})
    # the new side serves the cpus one unit later from unit 1500 on, and has two units fewer
    new = _regular(1500) + [Unit("1", u, u - 1) for u in range(1500, units - 2)]
    rows, text = _drawn([old, new])

    def marked(*cells: str) -> list[str]:  # a row where the two sides differ
        return [f"[bold yellow]{cell}[/]" for cell in cells]

    assert rows == [
        ["0-999", "0", "0-999", "0", "0-999"],
        marked("1000", "0", "--", "0", "1000"),  # the break, on its own row
        ["1001-1499", "0", "1001-1499", "0", "1001-1499"],
        marked("1500-2045", "0", "1500-2045", "1", "1499-2044"),
        # a run too short to gain stays unit by unit, the missing units blank
        marked("2046", "0", "2046", "", ""),
        marked("2047", "0", "2047", "", "")]
    assert "1001-1499" in text and "unit a-b, cpu c-d: unit a serves cpu c" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_a_range_is_never_cut_short_in_a_narrow_table() -> None:
    layouts = [_regular(4096, offset=4096)] * 4
    _, text = _drawn(layouts)
    assert text.count("4096-8191") == 4, text

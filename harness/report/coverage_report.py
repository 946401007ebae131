"""Coverage for people: a table per side of the kernel functions the shim
built, what of them ran, and the changed lines no case reached."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from harness.campaign.coverage import FunctionCoverage, SideCoverage


def _ratio(part: int, whole: int) -> str:
    return f"{part}/{whole}" + (f" ({100 * part // whole}%)" if whole else "")


def side_table(side: SideCoverage) -> Table:
    """Functions by file, in line order; the lines of the arms no case took last."""
    table = Table(title=f"coverage of {side.label} ({side.side})")
    table.add_column("function:line", overflow="fold")
    table.add_column("lines hit", justify="right")
    table.add_column("branches taken", justify="right")
    table.add_column("arms not taken at", overflow="fold")
    shown = None
    for fn in side.functions:
        if fn.path != shown:
            table.add_row(f"[bold]{fn.path}[/bold]", "", "", "")
            shown = fn.path
        table.add_row(f"{fn.name}:{fn.start}", _ratio(fn.lines_hit, fn.lines),
                      _ratio(fn.branches_taken, fn.branches), _untaken(fn))
    totals = side.totals()
    table.add_section()
    table.add_row(f"{len(side.functions)} functions", _ratio(totals["lines_hit"], totals["lines"]),
                  _ratio(totals["branches_taken"], totals["branches"]), "")
    return table


def _untaken(fn: FunctionCoverage) -> str:
    lines = sorted({line for line, _ in fn.untaken_arms})
    return " ".join(str(line) for line in lines)


def changed_lines_text(side: SideCoverage) -> list[str]:
    """The changed lines no case reached, with their text, under a count of all."""
    if not side.changed:
        return []
    counts = {state: sum(1 for c in side.changed if c.state == state)
              for state in ("reached", "unreached", "no code", "not built")}
    out = [f"changed lines of {side.label}: " + ", ".join(f"{n} {state}"
                                                           for state, n in counts.items())]
    out += [f"  unreached {c.path}:{c.line}: {c.text}" for c in side.changed
            if c.state == "unreached"]
    return out


def show(console: Console, coverage: Sequence[SideCoverage]) -> None:
    for side in coverage:
        console.print(side_table(side))
        for line in changed_lines_text(side):
            console.print(line, markup=False, highlight=False)

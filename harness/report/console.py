"""Print results for people: unit layout, dump, outcome, side by side."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from harness.core import attempts
from harness.core.klog import DUMP_PREFIXES, dump_text, split_log
from harness.core.result import BootResult, laid_out_alloc_info
from harness.core.verdict import Verdict

if TYPE_CHECKING:
    from harness.campaign.agree import DifferenceJson, Summary
    from harness.core.dumpfmt import DumpTable
    from harness.judge.classify import Finding
    from harness.judge.triage import TriageEntry

@dataclass(frozen=True)
class Unit:
    group: str
    unit: int
    cpu: int | None


def unit_layout(result: BootResult) -> list[Unit]:
    """Units in address order with the cpu each serves (None: empty slot)."""
    nr_cpus = int(result.get("nr_cpus", 0))
    args = result.get("setup_args") or {}
    build = result.get("build") or {}
    ai = laid_out_alloc_info(result)
    if ai:
        units: list[Unit] = []
        for g, group in enumerate(ai.get("groups", [])):
            for slot in group.get("cpu_map") or []:
                units.append(Unit(str(g), len(units), None if slot == nr_cpus else int(slot)))
        return units
    state = result.get("state") or {}
    unit_map = args.get("unit_map") or build.get("unit_map")
    nr_units = state.get("nr_units") or build.get("return") or 0
    if unit_map is None and state.get("unit_map") is not None:
        # Identity mapping (NULL unit_map): the state holds it.
        possible = set(result.get("possible", []))
        unit_map = [u if c in possible else None for c, u in enumerate(state["unit_map"])]
    if not unit_map and "unit_map" not in state and state.get("unit_size"):
        # No map at all (the first API): cpu N's unit is unit N of the chunk.
        possible = set(result.get("possible", []))
        total = int(state.get("chunk_size") or 0) // int(state["unit_size"])
        return [Unit("-", u, u if u in possible else None) for u in range(total)]
    if not unit_map:
        return []
    by_unit = {u: cpu for cpu, u in enumerate(unit_map) if u is not None}
    total = max(int(nr_units), max(by_unit, default=-1) + 1)
    return [Unit("-", u, by_unit.get(u)) for u in range(total)]


def outcome_text(result: BootResult) -> str:
    out = result["outcome"]
    kind = out.get("kind", "?")
    if kind == "bug":
        return f"BUG at {out.get('file')}:{out.get('line')}: {out.get('condition')}"
    if kind == "panic":
        return f"panic at {out.get('file')}:{out.get('line')}: {out.get('message')}"
    if kind == "crash":
        return f"crash: {out.get('signal_name')} at {out.get('fault_addr', '?')}"
    if kind == "sanitizer":
        first = next((ln for ln in out.get("stderr", "").splitlines() if "ERROR" in ln
                      or "runtime error" in ln), "")
        return f"sanitizer: {out.get('sanitizer')}: {first.strip()}"
    if kind == "hang":
        where = f" in {out.get('function')} at {out.get('file')}:{out.get('line')}" \
            if out.get("file") else ""
        if out.get("message"):
            return f"hang{where}: {out.get('message')}"
        return f"hang{where}: used all its {out.get('limit_ms')} ms of CPU time"
    if kind == "timeout":
        if out.get("message"):
            return f"timeout: {out.get('message')}"
        return (f"timeout: stopped by the backstop after {out.get('wall_ms')} ms blocked, "
                f"having used {out.get('cpu_ms')} ms of its {out.get('limit_ms')} ms of CPU time")
    if kind in ("invalid", "unsupported", "harness", "memory"):
        return f"{kind}: {out.get('message')}"
    if kind == "exit":
        return f"exited with status {out.get('status')}"
    ret = result.get("return")
    return f"ok, returned {ret}" if ret is not None else "ok"


STATE_FIELDS = ("nr_units", "unit_size", "unit_pages", "chunk_size", "first_unit_cpu",
                "last_unit_cpu", "reserved_chunk_limit", "base_addr")


def show(console: Console, labels: list[str], results: Sequence[BootResult]) -> None:
    """One case on one or two sources, for a person."""
    # not cropped: a long table of ranges may be wider than the terminal, never cut
    console.print(_layout_table(labels, [unit_layout(r) for r in results]), crop=False)
    console.print(_state_table(labels, results))
    for label, result in zip(labels, results, strict=True):
        console.rule(label)
        _show_one(console, result)


# A unit layout of more units than this draws each run of regular rows as
# one row: the 2,048 rows of a 4096-cpu machine are seconds of drawing and
# pages of scrolling, while a reviewer looks for where the pattern breaks.
LAYOUT_ROWS_IN_FULL = 128
# A run shorter than this is drawn row by row: a range would not be shorter.
_SHORTEST_RUN = 3

# One column's cell of a unit row: (group, cpu), cpu None for an empty
# slot; None where the layout has no such unit.
_Cell = tuple[str, int | None] | None


def _layout_table(labels: list[str], layouts: list[list[Unit]]) -> Table:
    table = Table(title="unit layout (group, unit -> cpu)")
    table.add_column("unit", justify="right")
    for label in labels:
        table.add_column(f"{label}\ngroup", justify="right")
        table.add_column("cpu", justify="right")
    rows = max((len(lay) for lay in layouts), default=0)
    cells = [[(lay[u].group, lay[u].cpu) if u < len(lay) else None for lay in layouts]
             for u in range(rows)]
    runs = _regular_runs(cells) if rows > LAYOUT_ROWS_IN_FULL else \
        [(u, u) for u in range(rows)]
    texts = []
    for first, last in runs:
        row = [str(first) if first == last else f"{first}-{last}"]
        for cell, end in zip(cells[first], cells[last], strict=True):
            row += _cell_texts(cell, end)
        texts.append(row)
    for (first, _), row in zip(runs, texts, strict=True):
        if len(layouts) == 2 and _differs(layouts, first):
            row = [f"[bold yellow]{cell}[/]" for cell in row]
        table.add_row(*row)
    if len(runs) < rows:
        # a range cut to "0-20…" would say the wrong thing: the ranges stay whole
        # and the group columns give way, their labels cut as they were before
        for n, column in enumerate(table.columns):
            column.min_width = max((len(row[n]) for row in texts if "-" in row[n]),
                                   default=None)
            column.max_width = 5 if n % 2 else None
        table.caption = ("unit a-b, cpu c-d: unit a serves cpu c, unit a+1 cpu c+1, and so "
                         "on (--json: every unit)")
    return table


def _cell_texts(cell: _Cell, end: _Cell) -> list[str]:
    """A column's group and cpu text for a run from `cell` to `end`."""
    if cell is None or end is None:
        return ["", ""]
    group, cpu = cell
    if cpu is None:
        return [group, "--"]
    return [group, str(cpu) if cpu == end[1] else f"{cpu}-{end[1]}"]


def _regular_runs(cells: list[list[_Cell]]) -> list[tuple[int, int]]:
    """(first, last) unit of each row drawn: the longest runs over which every
    column keeps its group and either keeps an empty slot, has no unit, or
    serves the next cpu at the next unit; a run too short to gain is split."""
    runs: list[tuple[int, int]] = []
    first = 0
    for u in range(1, len(cells) + 1):
        if u < len(cells) and all(_follows(a, b) for a, b in
                                  zip(cells[u - 1], cells[u], strict=True)):
            continue
        if u - first >= _SHORTEST_RUN:
            runs.append((first, u - 1))
        else:
            runs += [(v, v) for v in range(first, u)]
        first = u
    return runs


def _follows(before: _Cell, cell: _Cell) -> bool:
    """Whether `cell` continues the run `before` is in (one unit on)."""
    if before is None or cell is None:
        return before is None and cell is None
    (group, cpu), (next_group, next_cpu) = before, cell
    if group != next_group:
        return False
    if cpu is None or next_cpu is None:
        return cpu is None and next_cpu is None
    return next_cpu == cpu + 1


def _state_table(labels: list[str], results: Sequence[BootResult]) -> Table:
    table = Table(title="state left by pcpu_setup_first_chunk()")
    table.add_column("field")
    for label in labels:
        table.add_column(label)
    for name in STATE_FIELDS:
        values = [str((r.get("state") or {}).get(name, "-")) for r in results]
        style = "bold yellow" if len(set(values)) > 1 else ""
        table.add_row(name, *values, style=style)
    return table


def _show_one(console: Console, result: BootResult) -> None:
    """How one boot ended, what it chose and printed, and its memory."""
    say = functools.partial(console.print, markup=False, highlight=False)
    say(f"outcome: {outcome_text(result)}")
    allocator_path = attempts.path(result)
    if allocator_path is not None:
        say(f"allocators tried: {allocator_path}")
    offsets = (result.get("arch") or {}).get("unit_offsets")
    if offsets is not None:
        shown = [f"{cpu}:{off}" for cpu, off in enumerate(offsets) if off is not None]
        say("per-cpu offsets from the chunk base: " + " ".join(shown[:16])
            + (" ..." if len(shown) > 16 else ""))
    printed = boot_lines(result.get("log", ""))
    if printed and max(map(cell_len, printed.splitlines())) <= console.width:
        # what wrapping would print, without rich wrapping every line of
        # the dump of thousands of units (a second at 2,048)
        say(printed, soft_wrap=True)
    elif printed:
        say(printed)
    if not dump_text(result.get("log", "")):
        say("(no allocation dump printed)")
    memory = _memory_line(result)
    if memory:
        say(memory)
    copies = result.get("static_copies") or {}
    if copies.get("bad_cpus"):
        console.print(f"static data missing for cpus {copies.get('bad_cpus')}", style="bold red")


# The kernel's other lines shown beside its dump: a fixture or a debug
# build may print without end; --json has the whole log.
BOOT_LINES_SHOWN = 40


def boot_lines(log: str) -> str:
    """What the kernel printed, in its order, levels stripped: the dump whole
    (pcpu-alloc:, pcpu-lpage:), its other lines ("percpu: Embedded N
    pages/cpu ...") up to BOOT_LINES_SHOWN, then how many more there were."""
    kept: list[str] = []
    others = 0
    for line in split_log(log):
        if line.text.startswith(DUMP_PREFIXES):
            kept.append(line.text)
            continue
        others += 1
        if others <= BOOT_LINES_SHOWN:
            kept.append(line.text)
    if others > BOOT_LINES_SHOWN:
        kept.append(f"... {others - BOOT_LINES_SHOWN} more lines the kernel printed "
                    "(--json has the whole log)")
    return "\n".join(kept)


def _memory_line(result: BootResult) -> str | None:
    bootmem = result.get("bootmem") or {}
    if not bootmem:
        return None
    if "held" not in bootmem:
        # A model accounts only for what the arch callbacks did.
        held = (result.get("static_copies") or {}).get("chunk_held")
        return (f"first-chunk pages: allocated {bootmem.get('fc_alloc_bytes')} "
                f"freed {bootmem.get('fc_free_bytes')}"
                + (f"; embedded chunk holds {held}" if held is not None else ""))
    return (f"bootmem: allocated {bootmem.get('allocated')} freed {bootmem.get('freed')} "
            f"held {bootmem.get('held')} bad frees {bootmem.get('bad_free_count')}")


def _differs(layouts: list[list[Unit]], u: int) -> bool:
    cells = [(lay[u].cpu if u < len(lay) else "absent") for lay in layouts]
    return cells[0] != cells[1]


def show_differences(console: Console, title: str, differences: Sequence[DifferenceJson]
                     ) -> None:
    """Model/kernel differences of one case, each with its triage entry."""
    if not differences:
        console.print(f"{title}: every compared field agrees", markup=False)
        return
    table = Table(title=title)
    for column in ("field", "kernel", "model", "triage"):
        table.add_column(column, overflow="fold")
    for diff in differences:
        entry = diff.get("triage")
        table.add_row(str(diff["field"]), _cell(diff["kernel"]), _cell(diff["model"]),
                      entry or "[bold red]unexpected[/]")
    console.print(table)


def _cell(value: Any, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def show_agreement(console: Console, title: str, summaries: Mapping[str, Summary],
                   entries: Sequence[TriageEntry]) -> None:
    table = Table(title=title)
    shown: tuple[Verdict, ...] = (Verdict.AGREE, Verdict.TRIAGED, Verdict.UNEXPECTED,
                                  Verdict.FAILED)
    if any(s.verdicts[Verdict.INCONCLUSIVE] for s in summaries.values()):
        shown = (*shown[:3], Verdict.INCONCLUSIVE, *shown[3:])
    for column in ("scenario", "cases", *shown, "kernel outcomes"):
        table.add_column(column, justify="right" if column != "scenario" else "left")
    for scenario, summary in summaries.items():
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(summary.outcomes.items()))
        table.add_row(scenario, str(summary.cases),
                      *(str(summary.verdicts[verdict]) for verdict in shown), outcomes)
    console.print(table)
    used = {e for s in summaries.values() for e in s.entries}
    if used:
        hits = Table(title="triage entries that explained differences")
        for column in ("entry", "wrong", "cases"):
            hits.add_column(column)
        for entry in entries:
            count = sum(s.entries[entry.id] for s in summaries.values())
            if count:
                hits.add_row(entry.id, entry.wrong, str(count))
        console.print(hits)
    fields: dict[str, int] = {}
    for summary in summaries.values():
        for name, count in summary.unexpected_fields.items():
            fields[name] = fields.get(name, 0) + count
    if fields:
        console.print("unexpected differences by field: " + ", ".join(
            f"{name} {count}" for name, count in sorted(fields.items(), key=lambda x: -x[1])),
            style="bold red", markup=False)


@contextmanager
def progress(console: Console, what: str, total: int,
             status: Callable[[], str] | None = None) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr; yields the function that advances it.
    `status`, if given, is shown after the bar (running counts, say)."""
    # imported here: rich.progress is a tenth of show's start-up, and show has no bar
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), "{task.fields[status]}", console=console,
                  transient=True) as bar:
        task = bar.add_task(what, total=total, status=status() if status else "")

        def advance() -> None:
            bar.update(task, advance=1, status=status() if status else "")

        yield advance


@contextmanager
def steps(console: Console, what: str, total: int,
          status: Callable[[], str]) -> Iterator[Callable[[], None]]:
    """progress() on a terminal; elsewhere (a log, a pipe) a plain line when
    the work starts and one when it ends, each with `status()`, rather than
    a bar nobody sees redrawn."""
    if console.is_terminal:
        with progress(console, what, total, status) as advance:
            yield advance
        return
    say = functools.partial(console.print, markup=False, highlight=False, soft_wrap=True)
    say(f"{what}: {status()}")
    yield lambda: None
    say(f"{what}: done, {status()}")


def show_dump(console: Console, table: DumpTable) -> None:
    """A parsed dump: header sizes, then which cpu each unit serves."""
    alloc = f" alloc {table.alloc_size}" if table.alloc_size is not None else ""
    console.print(f"{table.format} dump: static {table.static_size} reserved "
                  f"{table.reserved_size} dyn {table.dyn_size} unit {table.unit_size} "
                  f"atom {table.atom_size}{alloc}, {table.nr_units} units, "
                  f"{len(table.cpus())} cpus", markup=False, highlight=False)
    units = Table()
    for column in ("unit", "alloc", "group", "cpu"):
        units.add_column(column, justify="right")
    for u in table.units:
        units.add_row(str(u.unit), str(u.alloc), "-" if u.group is None else str(u.group),
                      "--" if u.cpu is None else str(u.cpu))
    console.print(units)


def show_findings(console: Console, findings: Sequence[Finding]) -> None:
    """A case's classified differences, every comparison."""
    if not findings:
        console.print("every comparison agrees", markup=False)
        return
    table = Table(title="differences")
    for column in ("comparison", "field", "left", "right", "label", "rule"):
        table.add_column(column, overflow="fold")
    for f in findings:
        style = "bold red" if f.label is Verdict.UNEXPECTED else ""
        table.add_row(f.comparison.column, f.field, _cell(f.left), _cell(f.right), f.label,
                      f.rule or "-", style=style)
    console.print(table)

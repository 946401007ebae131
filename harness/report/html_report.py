"""--html FILE of show, repro and run: one self-contained page that draws
the unit layout of each side (groups as boxes, units as cells coloured by
node, empty units hatched) beside its allocation dump, old and new side by
side, with the classified differences and the reproducer commands.

The page is built from a small typed view of what to draw (PageView) and
rendered by templates/report.html.j2: inline CSS only, no script and no
external resource, so it opens the same from a mail attachment, a CI
artifact or a file:// URL.  A layout of more than LAYOUT_ROWS_IN_FULL units
draws each run of regular units as one range cell, as `show` does in the
terminal: 4,096 cells are a page of noise, where a reviewer looks for where
the pattern breaks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from harness.campaign import agree, runner
from harness.campaign.reproduce import Reproducer
from harness.core import case_kinds, files
from harness.core.cases import Case
from harness.core.klog import dump_text
from harness.core.paths import TEMPLATES
from harness.core.result import BootResult
from harness.core.verdict import Verdict
from harness.judge import classify, compare
from harness.report.console import (
    LAYOUT_ROWS_IN_FULL,
    STATE_FIELDS,
    Unit,
    outcome_text,
    unit_layout,
)

# Node n's cells are NODE_COLOURS[n % len]: colours told apart at a glance
# (Tableau 10), none of them the grey of the hatch of empty units.
NODE_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2",
                "#ff9da7", "#9c755f")
HATCH_COLOUR = "#6b6b6b"
# A run of regular units shorter than this stays unit by unit: a range cell
# would not be smaller.
SHORTEST_RANGE = 3
# Examples a run page draws: each is a boot of every side, done again.
DRAWN_EXAMPLES = 8


@dataclass(frozen=True)
class CellView:
    """One unit, or a range of regular units (the next unit serving the next
    cpu of the same node, or all of them empty)."""

    first_unit: int
    last_unit: int
    first_cpu: int | None  # None: an empty unit (no cpu)
    last_cpu: int | None
    node: int | None
    differs: bool  # the unit's cpu is not the one the compared side has there

    @property
    def units(self) -> int:
        return self.last_unit - self.first_unit + 1

    @property
    def label(self) -> str:
        if self.first_cpu is None or self.last_cpu is None:
            return "--" if self.units == 1 else f"-- \u00d7{self.units}"
        return str(self.first_cpu) if self.units == 1 else f"{self.first_cpu}-{self.last_cpu}"

    @property
    def title(self) -> str:
        units = f"unit {self.first_unit}" if self.units == 1 \
            else f"units {self.first_unit}-{self.last_unit}"
        if self.first_cpu is None:
            return f"{units}: empty (no cpu)"
        cpus = f"cpu {self.first_cpu}" if self.units == 1 \
            else f"cpus {self.first_cpu}-{self.last_cpu}"
        node = "" if self.node is None else f", node {self.node}"
        return f"{units}: {cpus}{node}"

    @property
    def css(self) -> str:
        kind = "empty" if self.first_cpu is None else \
            "nonode" if self.node is None else f"n{self.node % len(NODE_COLOURS)}"
        return " ".join(("cell", kind, *(("range",) if self.units > 1 else ()),
                         *(("differs",) if self.differs else ())))


@dataclass(frozen=True)
class GroupView:
    name: str  # the group's index, "-" where the API has no groups
    cells: tuple[CellView, ...]

    @property
    def units(self) -> int:
        return sum(cell.units for cell in self.cells)

    @property
    def nodes(self) -> str:
        found = sorted({cell.node for cell in self.cells if cell.node is not None})
        return "" if not found else \
            f"node{'s' if len(found) > 1 else ''} {', '.join(map(str, found))}"


@dataclass(frozen=True)
class SideView:
    """One source's kernel, or its model, on one case."""

    label: str
    outcome: str
    groups: tuple[GroupView, ...]
    dump: str
    compared_with: str | None  # the side whose differing units are outlined
    differing: int  # units whose cpu differs from compared_with's

    @property
    def units(self) -> int:
        return sum(group.units for group in self.groups)

    @property
    def ranges(self) -> bool:
        return any(cell.units > 1 for group in self.groups for cell in group.cells)


@dataclass(frozen=True)
class StateRow:
    name: str
    values: tuple[str, ...]

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


@dataclass(frozen=True)
class FindingView:
    where: str
    field: str
    left: str
    right: str
    label: str
    rule: str

    @property
    def unexpected(self) -> bool:
        return self.label == Verdict.UNEXPECTED


@dataclass(frozen=True)
class CaseView:
    """One case drawn on every side: sources in the first row, their models
    in the second, old on the left and new on the right."""

    title: str
    description: str
    sides: tuple[SideView, ...]
    columns: int
    state: tuple[StateRow, ...]
    findings: tuple[FindingView, ...]
    command: str | None = None


@dataclass(frozen=True)
class SectionView:
    """A declared change, a triage entry or an unexpected difference of a run."""

    label: str
    heading: str
    cases: int
    fields: tuple[str, ...]
    example: CaseView | None
    note: str = ""


@dataclass(frozen=True)
class PageView:
    title: str
    facts: tuple[str, ...]
    counts: tuple[tuple[str, int], ...]
    nodes: tuple[int, ...]
    cases: tuple[CaseView, ...] = ()
    sections: tuple[SectionView, ...] = ()


@dataclass(frozen=True)
class _Drawn:
    label: str
    result: BootResult
    compare_with: int | None  # the index, in the drawn order, of the side it is set against


def _drawn(labels: Sequence[str], results: Sequence[BootResult], models: bool
           ) -> tuple[list[_Drawn], int]:
    """The sides in the order drawn, and the columns: with models (labels
    alternate source, its model), sources first, each model against its
    source; every source against the first."""
    if not models:
        return [_Drawn(label, result, None if n == 0 else 0)
                for n, (label, result) in enumerate(zip(labels, results, strict=True))], \
            len(labels)
    sources = len(labels) // 2
    kernels = [_Drawn(labels[2 * n], results[2 * n], None if n == 0 else 0)
               for n in range(sources)]
    # one source: its kernel and its model side by side, not one above the other
    return kernels + [_Drawn(labels[2 * n + 1], results[2 * n + 1], n)
                      for n in range(sources)], max(sources, 2)


def _node_map(case: Case) -> dict[int, int]:
    """Each possible cpu's node (looked up once: a case may have 4,096)."""
    if case.cpu_node is None:
        return dict.fromkeys(case.possible, 0)
    return dict(zip(case.possible, case.cpu_node, strict=True))


def case_view(title: str, case: Case, drawn: Sequence[_Drawn], columns: int,
              findings: Sequence[FindingView], command: str | None = None) -> CaseView:
    """One case on every drawn side, ranges of regular units drawn as one
    cell when the largest layout has more than LAYOUT_ROWS_IN_FULL units."""
    layouts = [unit_layout(d.result) for d in drawn]
    compress = max((len(layout) for layout in layouts), default=0) > LAYOUT_ROWS_IN_FULL
    nodes = _node_map(case)
    sides = []
    for side, layout in zip(drawn, layouts, strict=True):
        other = None if side.compare_with is None else layouts[side.compare_with]
        differing = set() if other is None else {
            u for u, unit in enumerate(layout) if u >= len(other) or other[u].cpu != unit.cpu}
        sides.append(SideView(
            side.label, outcome_text(side.result), _groups(layout, nodes, differing, compress),
            dump_text(side.result.get("log", "")) or "(no allocation dump printed)",
            None if side.compare_with is None else drawn[side.compare_with].label,
            len(differing)))
    state = tuple(StateRow(name, tuple(str((d.result.get("state") or {}).get(name, "-"))
                                       for d in drawn)) for name in STATE_FIELDS)
    return CaseView(title, describe(case), tuple(sides), max(columns, 1), state,
                    tuple(findings), command)


def describe(case: Case) -> str:
    return (f"case {case.name}: scenario {case.scenario}, NR_CPUS={case.nr_cpus}, "
            f"possible {case_kinds.format_cpu_list(case.possible)}, static {case.static_size} "
            f"reserved {case.reserved_size} dyn {'auto' if case.dyn_size < 0 else case.dyn_size}"
            f" atom {case.atom_size}")


def _groups(layout: Sequence[Unit], nodes: dict[int, int], differing: set[int],
            compress: bool) -> tuple[GroupView, ...]:
    """A box per group (units of one group are consecutive), its cells in unit order."""
    groups: list[tuple[str, list[Unit]]] = []
    for unit in layout:
        if not groups or groups[-1][0] != unit.group:
            groups.append((unit.group, []))
        groups[-1][1].append(unit)
    return tuple(GroupView(name, _cells(units, nodes, differing, compress))
                 for name, units in groups)


def _cells(units: Sequence[Unit], nodes: dict[int, int], differing: set[int],
           compress: bool) -> tuple[CellView, ...]:
    runs: list[list[Unit]] = []
    for unit in units:
        if runs and compress and _continues(runs[-1][-1], unit, nodes, differing):
            runs[-1].append(unit)
        else:
            runs.append([unit])
    cells = []
    for run in runs:
        for piece in [run] if len(run) >= SHORTEST_RANGE else [[unit] for unit in run]:
            first, last = piece[0], piece[-1]
            cells.append(CellView(first.unit, last.unit, first.cpu, last.cpu,
                                  None if first.cpu is None else nodes.get(first.cpu),
                                  first.unit in differing))
    return tuple(cells)


def _continues(before: Unit, unit: Unit, nodes: dict[int, int], differing: set[int]) -> bool:
    """Whether `unit` extends the range `before` ends: both empty, or the
    next cpu on the same node; and outlined alike."""
    if (before.unit in differing) != (unit.unit in differing):
        return False
    if before.cpu is None or unit.cpu is None:
        return before.cpu is None and unit.cpu is None
    return unit.cpu == before.cpu + 1 and nodes.get(unit.cpu) == nodes.get(before.cpu)


def finding_views(findings: Sequence[classify.Finding]) -> tuple[FindingView, ...]:
    return tuple(FindingView(f.comparison.description, f.field, compare.short(f.left),
                             compare.short(f.right), str(f.label), f.rule or "-")
                 for f in findings)


def difference_views(label: str, differences: Sequence[agree.DifferenceJson]
                     ) -> list[FindingView]:
    """show's model/kernel differences of one source."""
    return [FindingView(f"{label} vs its model", d["field"], compare.short(d["kernel"]),
                        compare.short(d["model"]),
                        str(Verdict.TRIAGED if d["triage"] else Verdict.UNEXPECTED),
                        d["triage"] or "-") for d in differences]


def render(page: PageView) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, autoescape=True)
    return env.get_template("report.html.j2").render(
        page=page, node_colours=NODE_COLOURS, hatch=HATCH_COLOUR)


def _nodes(cases: Sequence[Case]) -> tuple[int, ...]:
    return tuple(sorted({node for case in cases for node in _node_map(case).values()}))


def write_show(path: Path, case: Case, labels: Sequence[str], results: Sequence[BootResult],
               differences: Sequence[Sequence[agree.DifferenceJson]], models: bool) -> None:
    """show's page: the case on its one or two sources (and their models)."""
    drawn, columns = _drawn(labels, results, models)
    findings = [view for label, diffs in zip(labels[::2], differences, strict=False)
                for view in difference_views(label, diffs)]
    page = PageView(f"percpu-diff show: {case.name}", _sources_fact(labels, models), (),
                    _nodes([case]), (case_view(case.name, case, drawn, columns, findings),))
    files.write_atomic(path, render(page))


def write_repro(path: Path, case: Case, labels: Sequence[str], results: Sequence[BootResult],
                record: runner.CaseRecord) -> None:
    """repro's page: the case rerun on every side beside the models, classified."""
    drawn, columns = _drawn(labels, results, models=True)
    page = PageView(f"percpu-diff repro: {case.name}",
                    (*_sources_fact(labels, True), f"verdict: {record.verdict}"), (),
                    _nodes([case]), (case_view(case.name, case, drawn, columns,
                                               finding_views(record.findings)),))
    files.write_atomic(path, render(page))


def _sources_fact(labels: Sequence[str], models: bool) -> tuple[str, ...]:
    sources = labels[::2] if models else labels
    return (" -> ".join(sources) if len(sources) > 1 else f"source: {sources[0]}",)


@dataclass
class _RunGroup:
    """What a run section gathers before its example is drawn."""

    label: Verdict
    heading: str
    first_case: str
    reproducer: Reproducer | None
    cases: int = 0
    fields: list[str] | None = None


def _run_groups(summary: runner.Summary, reproducers: Sequence[Reproducer]
                ) -> list[_RunGroup]:
    """A group per declared change, per triage entry, and per unexpected
    difference, those with one example case being one (the fields a
    reproducer shrank to, or those first seen in the same case): one
    drawing each.  Unexpected first, then the most cases first."""
    by_signature = {r.signature: r for r in reproducers}
    groups: dict[tuple[Verdict, str], _RunGroup] = {}
    for kind, hits in summary.by_kind.items():
        if kind.verdict not in (Verdict.DECLARED, Verdict.TRIAGED, Verdict.UNEXPECTED):
            continue
        unexpected = kind.verdict is Verdict.UNEXPECTED
        repro = by_signature.get(kind.signature) if unexpected else None
        key = (repro.command if repro else f"case {hits.first_case}") if unexpected \
            else kind.rule or "-"
        group = groups.setdefault((kind.verdict, key), _RunGroup(
            kind.verdict, kind.signature if unexpected else key, hits.first_case, repro,
            fields=[]))
        group.cases = max(group.cases, hits.cases) if unexpected \
            else summary.rule_cases[kind.verdict, kind.rule or ""]
        assert group.fields is not None
        field = kind.signature.split(":", 1)[1]
        group.fields.append(f"{hits.first.comparison.description}: {field} ({hits.cases} "
                            f"case{'s' if hits.cases != 1 else ''})")
    for group in groups.values():
        if group.label is Verdict.UNEXPECTED and group.fields and len(group.fields) > 1:
            group.heading += f" and {len(group.fields) - 1} more field(s)"
    order = {Verdict.UNEXPECTED: 0, Verdict.DECLARED: 1, Verdict.TRIAGED: 2}
    return sorted(groups.values(), key=lambda g: (order[g.label], -g.cases))


def _example(plan: runner.Plan, case: Case, command: str) -> CaseView:
    """`case` booted again on every side, beside each side's model."""
    kernels = runner.boot_kernels(plan, case)
    labels: list[str] = []
    results: list[BootResult] = []
    for side in plan.sides:
        judged = agree.judge(side.case_for(case), kernels[side.name], side.generation,
                             side.label, plan.entries)
        labels += [side.label, f"model:{side.generation}"]
        results += [kernels[side.name], judged.model]
    record = runner.evaluate(case, kernels, plan)
    drawn, columns = _drawn(labels, results, models=True)
    return case_view(case.name, case, drawn, columns, finding_views(record.findings), command)


def run_page(plan: runner.Plan, summary: runner.Summary, reproducers: Sequence[Reproducer],
             command: Callable[[Case], str]) -> PageView:
    """The run's page: its counts, then a section per group, the first
    DRAWN_EXAMPLES of them with their example drawn (the reproducer's case
    when there is one, else the first case that showed it)."""
    by_name = {case.name: case for case in plan.cases}
    sections = []
    drawn: dict[str, CaseView] = {}
    examples: list[Case] = []
    for group in _run_groups(summary, reproducers):
        case = group.reproducer.case if group.reproducer else by_name.get(group.first_case)
        note = group.reproducer.note() if group.reproducer else \
            f"first seen in {group.first_case}"
        example = None if case is None else drawn.get(case.name)
        if case is not None and example is None and len(drawn) < DRAWN_EXAMPLES:
            example = drawn[case.name] = _example(
                plan, case, group.reproducer.command if group.reproducer else command(case))
            examples.append(case)
        elif case is not None and example is None:
            note += f" (not drawn: a page draws {DRAWN_EXAMPLES} example cases; " \
                f"see it with: {command(case)})"
        sections.append(SectionView(str(group.label), group.heading, group.cases,
                                    tuple(group.fields or ()), example, note))
    counts = summary.to_json()
    facts = (" -> ".join(side.label for side in plan.sides),
             f"NR_CPUS {', '.join(str(n) for n in sorted({c.nr_cpus for c in plan.cases}))}; "
             f"scenarios {', '.join(sorted({c.scenario for c in plan.cases}))}")
    return PageView("percpu-diff run", facts, tuple(counts.items()), _nodes(examples),
                    sections=tuple(sections))


def write_run(path: Path, plan: runner.Plan, summary: runner.Summary,
              reproducers: Sequence[Reproducer], command: Callable[[Case], str]) -> None:
    files.write_atomic(path, render(run_page(plan, summary, reproducers, command)))

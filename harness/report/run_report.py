"""Reports of a differential run: a table for people, JSON, JUnit, and a
plain-text email for a patch review reply.

Everything here is built from the run's records (in case order) and the
reproducers, so an interrupted-and-resumed run reports exactly what an
uninterrupted one would.
"""

from __future__ import annotations

import functools
import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from rich.console import Console
from rich.table import Table

from harness.campaign import runner
from harness.campaign.coverage import SideCoverage
from harness.campaign.reproduce import Reproducer, Unjudged
from harness.core import cases
from harness.core.paths import TEMPLATES
from harness.core.verdict import Comparison, FindingKind, Verdict
from harness.judge import classify, compare


@dataclass
class EmailGroup:
    """Unexpected differences that shrink to one case: one finding, seen
    from several fields and comparisons."""

    example: list[str]
    repro: list[str]
    toml: list[str]
    shrink_note: str
    fields: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunInfo:
    sides: Sequence[str]
    seed: int
    generated: int
    corpus: int
    extra: int
    declared_file: str | None
    nr_cpus: Sequence[int]
    scenarios: Sequence[str]


@dataclass(frozen=True)
class KindRow:
    """One kind of finding of a run: where and what, and the cases it hit."""

    kind: FindingKind
    hits: Sequence[tuple[str, classify.Finding]]

    @property
    def comparison(self) -> Comparison:
        return self.hits[0][1].comparison

    @property
    def field(self) -> str:
        return self.kind.signature.split(":", 1)[1]

    @property
    def cases(self) -> int:
        return len({case for case, _ in self.hits})


@dataclass(frozen=True)
class RuleCount:
    """For the email: a rule, the cases it explained, the fields it covered."""

    rule: str
    cases: int
    field: str


def _rows(summary: runner.Summary, verdict: Verdict) -> list[KindRow]:
    return [KindRow(kind, hits) for kind, hits in summary.by_kind.items()
            if kind.verdict is verdict]


def _rule_counts(summary: runner.Summary, verdict: Verdict) -> list[RuleCount]:
    per_rule: dict[str, set[str]] = {}
    fields: dict[str, list[str]] = {}
    for row in _rows(summary, verdict):
        rule = row.kind.rule or ""
        per_rule.setdefault(rule, set()).update(case for case, _ in row.hits)
        fields.setdefault(rule, []).append(row.field)
    return [RuleCount(rule, len(names), ", ".join(sorted(set(fields[rule]))))
            for rule, names in per_rule.items()]


def show_summary(console: Console, info: RunInfo, summary: runner.Summary,
                 reproducers: Sequence[Reproducer], unjudged: Sequence[Unjudged] = ()) -> None:
    counts = summary.to_json()
    table = Table(title=f"percpu-diff run: {' -> '.join(info.sides)}")
    for name in ("cases", *Verdict):
        table.add_column(name, justify="right")
    table.add_row(*[str(counts[name]) for name in ("cases", *Verdict)])
    console.print(table)
    _show_unjudged(console, unjudged)
    detail = Table(title="differences by kind")
    for column in ("label", "where", "field", "rule", "cases"):
        detail.add_column(column, overflow="fold")
    for verdict in (Verdict.DECLARED, Verdict.TRIAGED, Verdict.UNEXPECTED):
        for row in sorted(_rows(summary, verdict), key=lambda r: -r.cases):
            style = "bold red" if verdict is Verdict.UNEXPECTED else ""
            detail.add_row(verdict, row.comparison.description, row.field, row.kind.rule or "-",
                           str(row.cases), style=style)
    if detail.row_count:
        console.print(detail)
    if summary.paths:
        paths = Table(title="arch flows: allocator paths the kernels took")
        sides = list(summary.paths)
        paths.add_column("scenario: allocators tried [outcome]", overflow="fold")
        for side in sides:
            paths.add_column(side, justify="right")
        keys = sorted(set().union(*summary.paths.values()))
        for key in keys:
            paths.add_row(key, *[str(summary.paths[side].get(key, 0)) for side in sides])
        console.print(paths)
    for n, repro in enumerate(reproducers, 1):
        console.print(f"reproducer {n} ({repro.signature}, shrunk from {repro.first_case} in "
                      f"{repro.attempts} boots):", markup=False, highlight=False)
        console.print(f"  {repro.command}", markup=False, highlight=False, soft_wrap=True)


def _show_unjudged(console: Console, unjudged: Sequence[Unjudged]) -> None:
    """Each case the run could not judge, by name, with what to try."""
    say = functools.partial(console.print, markup=False, highlight=False, soft_wrap=True)
    for item in unjudged:
        outcomes = ", ".join(f"{side} {kind}" for side, kind in item.outcomes.items())
        if "memory" in item.outcomes.values():
            say(f"inconclusive: {item.case} ({outcomes}): a boot needed more memory than "
                "--mem-mb allows; not compared, not shrunk.  Try more memory:")
        elif item.verdict is Verdict.INCONCLUSIVE:
            say(f"inconclusive: {item.case} ({outcomes}): a boot was blocked until the "
                "backstop stopped it (it used little CPU time: not a kernel loop); not "
                "compared, not shrunk.  Try --resume, or more time:")
        else:
            say(f"failed: {item.case} ({outcomes}): the harness broke; rerun it alone:")
        say(f"  {item.command}")


def run_json(info: RunInfo, summary: runner.Summary, records: Sequence[runner.CaseRecord],
             reproducers: Sequence[Reproducer], coverage: Sequence[SideCoverage] = (),
             unjudged: Sequence[Unjudged] = ()) -> str:
    differences = [
        {"case": record.case, **finding.to_json()}
        for record in records for finding in record.findings
    ]
    # only a --coverage run has the key: the reports of other runs stay as they were
    extra: dict[str, object] = {"coverage": {c.side: c.to_json() for c in coverage}} \
        if coverage else {}
    if unjudged:
        extra["unjudged"] = [u.to_json() for u in unjudged]
    return json.dumps({
        "summary": summary.to_json(),
        "sides": list(info.sides),
        "allocator_paths": summary.paths_json(),
        "seed": info.seed,
        "cases": {"generated": info.generated, "corpus": info.corpus, "given": info.extra},
        "verdicts": {record.case: record.verdict for record in records},
        "differences": differences,
        "reproducers": [r.to_json() for r in reproducers],
        **extra,
    }, separators=(",", ":"), default=str) + "\n"


def _environment(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True, autoescape=autoescape,
                              keep_trailing_newline=True)


def junit_xml(info: RunInfo, summary: runner.Summary,
              records: Sequence[runner.CaseRecord]) -> str:
    rows = [{
        "case": r.case, "scenario": r.scenario, "nr_cpus": r.nr_cpus, "verdict": r.verdict,
        "outcomes": ", ".join(f"{k} {v}" for k, v in r.outcomes.items()),
        "unexpected": [f"{f.comparison.description}: {f.field}: {compare.short(f.left)} vs "
                       f"{compare.short(f.right)}" for f in r.findings
                       if f.label is Verdict.UNEXPECTED],
    } for r in records]
    return _environment(True).get_template("junit.xml.j2").render(
        summary=summary.to_json(), sides=info.sides, records=rows)


def _wrap_command(command: str, width: int = 70) -> list[str]:
    """A shell command on lines under `width`, continued with backslashes."""
    lines = textwrap.wrap(command, width - 2, break_long_words=False, break_on_hyphens=False)
    return [line + " \\" for line in lines[:-1]] + lines[-1:]


def _example(hits: Sequence[tuple[str, classify.Finding]]) -> list[str]:
    case, finding = hits[0]
    kernel_vs_model = finding.comparison in (Comparison.OLD_KERNEL_VS_MODEL,
                                             Comparison.NEW_KERNEL_VS_MODEL)
    left, right = ("kernel", "model") if kernel_vs_model else ("old", "new")
    return textwrap.wrap(f"first seen in {case}: {left} {compare.short(finding.left, 50)}, "
                         f"{right} {compare.short(finding.right, 50)}", 74)


def _path_lines(summary: runner.Summary) -> list[str]:
    """Allocator path counts, one column per side, wrapped under 80 columns."""
    sides = list(summary.paths)
    lines: list[str] = []
    for key in sorted(set().union(*summary.paths.values())) if sides else []:
        counts = "".join(f"{summary.paths[side].get(key, 0):>6}" for side in sides)
        width = 76 - len(counts)
        wrapped = textwrap.wrap(key, width, subsequent_indent="  ", break_on_hyphens=False)
        lines.append(f"{counts}  {wrapped[0]}")
        lines += [" " * len(counts) + "  " + more for more in wrapped[1:]]
    return lines


def email_text(info: RunInfo, summary: runner.Summary,
               reproducers: Sequence[Reproducer], version: str) -> str:
    by_signature = {r.signature: r for r in reproducers}
    # Differences that shrink to the same case are one finding, seen from
    # several fields and comparisons: report them together.
    groups: dict[str, EmailGroup] = {}
    for row in sorted(_rows(summary, Verdict.UNEXPECTED), key=lambda r: -r.cases):
        repro = by_signature.get(row.kind.signature)
        key = repro.command if repro else row.kind.signature
        group = groups.setdefault(key, EmailGroup(
            example=_example(row.hits),
            repro=_wrap_command(repro.command) if repro else [],
            toml=cases.case_to_toml(repro.case).splitlines() if repro else [],
            shrink_note=f"shrunk from {repro.first_case} in {repro.attempts} boots"
            if repro else ""))
        group.fields.append(f"{row.comparison.description}: {row.field} ({row.cases} case"
                               f"{'s' if row.cases != 1 else ''})")
    unexpected = list(groups.values())
    text = _environment(False).get_template("email.txt.j2").render(
        version=version, sides=info.sides, summary=summary.to_json(), seed=info.seed,
        generated=info.generated, corpus=info.corpus, extra=info.extra,
        declared_file=info.declared_file, nr_cpus=info.nr_cpus, scenarios=info.scenarios,
        declared=_rule_counts(summary, Verdict.DECLARED),
        triaged=_rule_counts(summary, Verdict.TRIAGED),
        unexpected=unexpected, path_sides=list(summary.paths), path_lines=_path_lines(summary))
    # The TOML of a reproducer can hold a long description: keep the promise.
    return "\n".join(line if len(line) < 80 else line[:76] + "..."
                     for line in text.splitlines()) + "\n"


def write(path: Path, text: str) -> None:
    """Write whole or not at all: a report is never left half-written."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)

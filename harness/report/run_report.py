"""Reports of a differential run: a table for people, JSON, JUnit, and a
plain-text email for a patch review reply.

Everything here is built from the run's records (in case order) and the
reproducers, so an interrupted-and-resumed run reports exactly what an
uninterrupted one would.  The records pass once, one at a time, into the
summary (which grows with the kinds of findings, not the cases) and into
Parts, the pieces of the long reports kept in temporary files: no report
holds every record.
"""

from __future__ import annotations

import functools
import io
import json
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

import jinja2
from rich.console import Console
from rich.table import Table

from harness.campaign import runner
from harness.campaign.coverage import SideCoverage
from harness.campaign.reproduce import Reproducer, Unjudged
from harness.core import cases
from harness.core.paths import TEMPLATES
from harness.core.verdict import Comparison, FindingKind, Verdict
from harness.judge import compare
from harness.report import summary_text
from harness.report.summary_text import RunInfo

__all__ = ["Parts", "RunInfo", "email_text", "junit_xml", "run_json", "show_summary",
           "write_junit", "write_run_json"]


@dataclass(frozen=True)
class KindRow:
    """One kind of finding of a run: where and what, and the cases it hit."""

    kind: FindingKind
    hits: runner.KindHits

    @property
    def comparison(self) -> Comparison:
        return self.hits.first.comparison

    @property
    def field(self) -> str:
        return self.kind.signature.split(":", 1)[1]

    @property
    def cases(self) -> int:
        return self.hits.cases


def _rows(summary: runner.Summary, verdict: Verdict) -> list[KindRow]:
    return [KindRow(kind, hits) for kind, hits in summary.by_kind.items()
            if kind.verdict is verdict]


def show_summary(console: Console, info: RunInfo, summary: runner.Summary,
                 reproducers: Sequence[Reproducer], unjudged: Sequence[Unjudged] = (),
                 verbose: bool = False, options_of: Callable[[str], str] | None = None
                 ) -> None:
    """The run for a reviewer: what was tested, the verdict, a few lines a
    finding (summary_text); with `verbose`, every field of every rule too.
    `options_of` gives a case's options by its name, for its examples."""
    found = summary_text.entries(summary, reproducers, options_of)
    text = summary_text.terminal_text(info, summary, found, console.width, verbose)
    for line in text.splitlines():
        alarm = line.startswith(("unexpected #", "verdict: UNEXPECTED"))
        console.print(line, markup=False, highlight=False, soft_wrap=True,
                      style="bold red" if alarm else "")
    _show_unjudged(console, unjudged if verbose else unjudged[:CUT_SHOWN])
    if len(unjudged) > CUT_SHOWN and not verbose:
        console.print(f"and {len(unjudged) - CUT_SHOWN} more not judged: --verbose, or "
                      "report.json's \"unjudged\"", markup=False, highlight=False)
    if verbose:
        _show_detail(console, summary, reproducers)


def _show_detail(console: Console, summary: runner.Summary,
                 reproducers: Sequence[Reproducer]) -> None:
    """run --verbose: each field of each rule, the allocator paths, the
    cases whose findings were cut, and every reproducer."""
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
    _show_cut(console, summary)
    for n, repro in enumerate(reproducers, 1):
        console.print(f"reproducer {n} ({repro.signature}, {repro.note()}):", markup=False,
                      highlight=False)
        console.print(f"  {repro.command}", markup=False, highlight=False, soft_wrap=True)
        if repro.further():
            console.print(f"  {repro.further()}", markup=False, highlight=False,
                          soft_wrap=True)


def cut_note(case: str, cut: tuple[int, int, str]) -> str:
    """'x: 8236 findings, 53 shown; all in cases/x/findings.jsonl' (the values
    shown may be cut too)."""
    total, shown, file = cut
    return f"{case}: {total} findings, {shown} shown; all in {file}"


# The cases with findings cut to size that the console names; report.json has them all.
CUT_SHOWN = 5


def _show_cut(console: Console, summary: runner.Summary) -> None:
    if not summary.cut:
        return
    console.print(f"findings cut to size in {len(summary.cut)} case(s) (whole in the run "
                  "directory):", markup=False, highlight=False)
    for case, cut in list(summary.cut.items())[:CUT_SHOWN]:
        console.print(f"  {cut_note(case, cut)}", markup=False, highlight=False,
                      soft_wrap=True)
    if len(summary.cut) > CUT_SHOWN:
        console.print(f"  and {len(summary.cut) - CUT_SHOWN} more: report.json's \"cut\"",
                      markup=False, highlight=False)


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
    """report.json as text (write_run_json writes it without the text whole)."""
    sink = io.StringIO()
    with Parts.of(summary, records, junit=False, in_memory=True) as parts:
        write_run_json(sink, info, summary, parts, reproducers, coverage, unjudged)
    return sink.getvalue()


_dumps = functools.partial(json.dumps, separators=(",", ":"), default=str)
# The same encoding, one encoder for every record (json.dumps makes one a call).
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


class Parts:
    """What of report.json and the JUnit file grows with the cases - each
    case's verdict, its findings, its <testcase> - written to temporary
    files as the records pass once, in case order: the reports put them
    between a head that needs the whole summary and a tail that needs the
    reproducers, and no report holds every record."""

    def __init__(self, junit: bool, in_memory: bool = False) -> None:
        def part() -> TextIO:
            return io.StringIO() if in_memory else \
                tempfile.TemporaryFile("w+", encoding="utf-8", prefix="percpu-diff-report-")

        self.verdicts, self.differences = part(), part()
        self.junit = part() if junit else None
        self._started: set[int] = set()

    @staticmethod
    def of(summary: runner.Summary, records: Iterable[runner.CaseRecord], *, junit: bool,
           in_memory: bool = False) -> Parts:
        parts = Parts(junit, in_memory)
        for record in records:
            parts.add(summary, record)
        return parts

    def __enter__(self) -> Parts:
        return self

    def __exit__(self, *exc: object) -> None:
        for part in (self.verdicts, self.differences, self.junit):
            if part is not None:
                part.close()

    def add(self, summary: runner.Summary, record: runner.CaseRecord) -> None:
        """The next record in case order; `summary` has had it added (the
        JUnit failure names where a cut case's findings are kept)."""
        # a one-key object and a list without their brackets: a case's entries
        # as the whole report's json.dumps writes them, at one call a case
        self._put(self.verdicts, _encode({record.case: record.verdict})[1:-1])
        if record.findings:
            self._put(self.differences, _encode(
                [{"case": record.case, **finding.to_json()} for finding in record.findings]
            )[1:-1])
        if self.junit is not None:
            # siblings in the suite, indented as ET.indent indents them
            self._put(self.junit, _junit_case(summary, record), between="\n    ")

    def _put(self, part: TextIO, text: str, between: str = ",") -> None:
        if id(part) in self._started:
            part.write(between)
        self._started.add(id(part))
        part.write(text)

    def has_cases(self) -> bool:
        return id(self.verdicts) in self._started

    @staticmethod
    def copy(part: TextIO | None, sink: TextIO) -> None:
        if part is not None:
            part.seek(0)
            shutil.copyfileobj(part, sink)


def write_run_json(sink: TextIO, info: RunInfo, summary: runner.Summary, parts: Parts,
                   reproducers: Sequence[Reproducer], coverage: Sequence[SideCoverage] = (),
                   unjudged: Sequence[Unjudged] = ()) -> None:
    """report.json from its parts: the bytes one json.dumps of the whole
    report would give."""
    # only a --coverage run has the key: the reports of other runs stay as they were
    extra: dict[str, object] = {"coverage": {c.side: c.to_json() for c in coverage}
                                } if coverage else {}
    if summary.cut:
        # The cases whose findings are cut to size here, and where (in the run
        # directory) they are kept whole; only a run that cut any has the key.
        extra["cut"] = {case: {"findings": total, "shown": shown, "file": file}
                        for case, (total, shown, file) in summary.cut.items()}
    if unjudged:
        extra["unjudged"] = [u.to_json() for u in unjudged]
    head = {"summary": summary.to_json(), "sides": list(info.sides),
            "allocator_paths": summary.paths_json(), "seed": info.seed,
            "cases": {"generated": info.generated, "corpus": info.corpus, "given": info.extra},
            # what was tested, by full ids (an addition: the keys above are unchanged)
            "tested": info.to_json()}
    sink.write("{" + "".join(f"{_dumps(key)}:{_dumps(value)}," for key, value in head.items()))
    sink.write('"verdicts":{')
    Parts.copy(parts.verdicts, sink)
    sink.write('},"differences":[')
    Parts.copy(parts.differences, sink)
    tail = {"reproducers": [r.to_json() for r in reproducers], **extra}
    sink.write("]" + "".join(f",{_dumps(key)}:{_dumps(value)}" for key, value in tail.items())
               + "}\n")


def _environment(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True, autoescape=autoescape,
                              keep_trailing_newline=True)


def junit_xml(info: RunInfo, summary: runner.Summary,
              records: Sequence[runner.CaseRecord]) -> str:
    """The run as JUnit XML (write_junit writes it without the text whole)."""
    sink = io.StringIO()
    with Parts.of(summary, records, junit=True, in_memory=True) as parts:
        write_junit(sink, info, summary, parts)
    return sink.getvalue()


def write_junit(sink: TextIO, info: RunInfo, summary: runner.Summary, parts: Parts) -> None:
    """The run as JUnit XML, built by ElementTree, which escapes markup;
    text XML 1.0 cannot carry at all (most control characters) is
    written as a visible escape.  The <testcase> elements come from the
    parts, each built alone; around them, the suites' own opening and
    closing text, indented as ET.indent indents the whole tree."""
    totals = summary.to_json()
    counts = {"tests": str(totals["cases"]), "failures": str(totals["unexpected"]),
              "errors": str(totals["failed"]),
              "skipped": str(totals["inconclusive"])}
    suites = ET.Element("testsuites", {"name": "percpu-diff", **counts})
    suite = ET.SubElement(suites, "testsuite", {"name": _xml_text(" -> ".join(info.sides)),
                                                **counts})
    if not parts.has_cases():
        ET.indent(suites, space="  ")
        sink.write(ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n")
        return
    ET.SubElement(suite, "placeholder")
    ET.indent(suites, space="  ")
    head, tail = ET.tostring(suites, encoding="unicode", xml_declaration=True).split(
        "<placeholder />")
    sink.write(head)
    Parts.copy(parts.junit, sink)
    sink.write(tail + "\n")


def _junit_case(summary: runner.Summary, r: runner.CaseRecord) -> str:
    """One <testcase>, indented for its place in the suite, without its tail."""
    case = ET.Element("testcase", {
        "classname": _xml_text(f"{r.scenario}.nr_cpus_{r.nr_cpus}"),
        "name": _xml_text(r.case)})
    if r.verdict == Verdict.UNEXPECTED:
        unexpected = _junit_cut(summary, r, [
            f"{f.comparison.description}: {f.field}: {compare.short(f.left)} vs "
            f"{compare.short(f.right)}" for f in r.findings if f.label is Verdict.UNEXPECTED])
        failure = ET.SubElement(case, "failure", {
            "message": f"{len(unexpected)} unexpected difference(s)"})
        failure.text = _xml_text("".join(line + "\n" for line in unexpected))
    elif r.verdict == Verdict.INCONCLUSIVE:
        ET.SubElement(case, "skipped", {"message": _xml_text(
            "inconclusive: a boot was stopped by a limit that says nothing of the "
            f"kernel code: {_outcomes(r)}")})
    elif r.verdict == Verdict.FAILED:
        ET.SubElement(case, "error", {
            "message": _xml_text(f"the shim did not finish: {_outcomes(r)}")})
    ET.indent(case, space="  ", level=2)
    return ET.tostring(case, encoding="unicode")


def _outcomes(record: runner.CaseRecord) -> str:
    return ", ".join(f"{k} {v}" for k, v in record.outcomes.items())


# Characters XML 1.0 has no way to write, not even as a character reference.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100
                        else f"\\u{ord(m[0]):04x}", text)


def _junit_cut(summary: runner.Summary, record: runner.CaseRecord,
               lines: list[str]) -> list[str]:
    """A failure's lines, the last one followed by where the rest is kept
    when the case's findings were cut (the count of lines stays theirs)."""
    cut = summary.cut.get(record.case)
    if cut is None or not lines:
        return lines
    return [*lines[:-1], f"{lines[-1]}\n{cut_note(record.case, cut)} (in the run directory)"]


# The email's width: a reply quotes it ("> ") and stays under 80 columns.
EMAIL_WIDTH = 72


def _path_lines(summary: runner.Summary, width: int = EMAIL_WIDTH) -> list[str]:
    """Allocator path counts, one column per side, wrapped at `width`."""
    sides = list(summary.paths)
    lines: list[str] = []
    for key in sorted(set().union(*summary.paths.values())) if sides else []:
        counts = "".join(f"{summary.paths[side].get(key, 0):>6}" for side in sides)
        lines += summary_text.wrap(key, width, " " * (len(counts) + 4), f"{counts}  ")
    return lines


def email_text(info: RunInfo, summary: runner.Summary,
               reproducers: Sequence[Reproducer], version: str,
               options_of: Callable[[str], str] | None = None) -> str:
    """Plain text for a review reply: what was tested, exactly (each
    source by its full ids, the patches' subjects, the cases, NR_CPUS, the
    scenarios), the verdict and each finding; wrapped at 72 columns, never
    cut."""
    found = summary_text.entries(summary, reproducers, options_of)
    toml = {r.command: cases.case_to_toml(r.case) for r in reproducers}
    totals = summary.to_json()
    return summary_text.environment().get_template("email.txt.j2").render(
        version=version, info=info, summary=totals, width=EMAIL_WIDTH,
        verdict=summary_text.verdict_line(totals), cases_text=info.cases_text(totals["cases"]),
        scenarios_text=info.scenarios_text(), judged_by=info.judged_by(),
        unexpected=[e for e in found if e.verdict is Verdict.UNEXPECTED],
        declared=[e for e in found if e.verdict is Verdict.DECLARED],
        triaged=[e for e in found if e.verdict is Verdict.TRIAGED], toml=toml,
        path_sides=list(summary.paths), path_lines=_path_lines(summary))

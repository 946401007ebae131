"""A run's reports are built from records read back one at a time, in case
order, from results.jsonl: the same bytes as building them whole, in memory
that does not grow with the number of cases."""

from __future__ import annotations

import io
import json
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from harness.campaign import runner
from harness.core.cases import Case
from harness.core.verdict import Comparison, Verdict
from harness.judge import classify, compare
from harness.report import run_report

INFO = run_report.RunInfo(["old", "new"], 7, 3, 0, 0, None, [8], ["embed"])
FIELDS = ("units[3].cpu", "state.nr_units", "groups[0].cpu_map", "messages[2]")


def _record(n: int, findings: int = 6) -> runner.CaseRecord:
    """A made-up record: every third agrees, the others differ in a few
    kinds of finding with values of a few hundred bytes."""
    if n % 3 == 0:
        return runner.CaseRecord(f"case-{n:06}", "embed", 8, Verdict.AGREE,
                                 {"old": "ok", "new": "ok"}, ())
    label = Verdict.UNEXPECTED if n % 3 == 1 else Verdict.TRIAGED
    found = tuple(classify.Finding(
        Comparison.KERNELS_OLD_VS_NEW if k % 2 else Comparison.OLD_KERNEL_VS_MODEL,
        FIELDS[k % len(FIELDS)], list(range(n, n + 40)), f"value <{n}> & \x01 {k}", label,
        None if label is Verdict.UNEXPECTED else f"rule-{k % 3}") for k in range(findings))
    cut = (findings + 5, f"cases/case-{n:06}/findings.jsonl") if n % 50 == 1 else (None, None)
    return runner.CaseRecord(f"case-{n:06}", "embed", 8, label, {"old": "ok", "new": "ok"},
                             found, {"old": "embed:ok"}, *cut)


def _rundir(tmp_path: Path, n: int) -> tuple[runner.RunDir, runner.Plan]:
    """n records in a run directory, in an order other than the cases'."""
    rundir = runner.RunDir(tmp_path / f"run-{n}")
    rundir.path.mkdir()
    rundir.results.write_text("")
    for k in (*range(1, n, 2), *range(0, n, 2)):
        rundir.append(_record(k))
    plan = runner.Plan((), tuple(Case(f"case-{k:06}", "embed", 8, (0, 2, 4)) for k in range(n)),
                       (), ())
    return rundir, plan


def _whole_json(summary: runner.Summary, records: Sequence[runner.CaseRecord]) -> str:
    """report.json as one json.dumps of the whole report (as it was built)."""
    return json.dumps({
        "summary": summary.to_json(), "sides": list(INFO.sides),
        "allocator_paths": summary.paths_json(), "seed": INFO.seed,
        "cases": {"generated": INFO.generated, "corpus": INFO.corpus, "given": INFO.extra},
        "tested": INFO.to_json(),
        "verdicts": {r.case: r.verdict for r in records},
        "differences": [{"case": r.case, **f.to_json()} for r in records for f in r.findings],
        "reproducers": [],
        **({"cut": {case: {"findings": total, "shown": shown, "file": file}
                    for case, (total, shown, file) in summary.cut.items()}}
           if summary.cut else {}),
    }, separators=(",", ":"), default=str) + "\n"


def _whole_junit(summary: runner.Summary, records: Sequence[runner.CaseRecord]) -> str:
    """The JUnit XML as one ElementTree of every case (as it was built)."""
    totals = summary.to_json()
    counts = {"tests": str(totals["cases"]), "failures": str(totals["unexpected"]),
              "errors": str(totals["failed"]), "skipped": str(totals["inconclusive"])}
    suites = ET.Element("testsuites", {"name": "percpu-diff", **counts})
    suite = ET.SubElement(suites, "testsuite", {"name": "old -> new", **counts})
    for r in records:
        case = ET.SubElement(suite, "testcase", {"classname": f"{r.scenario}.nr_cpus_{r.nr_cpus}",
                                                 "name": r.case})
        if r.verdict == Verdict.UNEXPECTED:
            lines = [f"{f.comparison.description}: {f.field}: {compare.short(f.left)} vs "
                     f"{compare.short(f.right)}" for f in r.findings
                     if f.label is Verdict.UNEXPECTED]
            cut = summary.cut.get(r.case)
            if cut:
                lines[-1] += f"\n{run_report.cut_note(r.case, cut)} (in the run directory)"
            failure = ET.SubElement(case, "failure",
                                    {"message": f"{len(lines)} unexpected difference(s)"})
            failure.text = "".join(line + "\n" for line in lines).replace("\x01", "\\x01")
    ET.indent(suites, space="  ")
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def test_records_come_back_in_case_order_the_last_line_of_a_case_winning(
        tmp_path: Path) -> None:
    rundir, plan = _rundir(tmp_path, 7)
    again = runner.CaseRecord("case-000003", "embed", 8, Verdict.AGREE,
                              {"old": "ok", "new": "ok"}, ())
    rundir.append(again)  # a case run again on resume: its later record counts
    with rundir.results.open("a") as sink:
        sink.write('{"case": "case-000004", "scen')  # torn by a kill
    where = rundir.index()
    assert not rundir.results.read_text().endswith("scen")  # dropped from the file
    ordered = list(rundir.ordered(plan, where))
    assert [r.case for r in ordered] == [c.name for c in plan.cases]
    assert ordered[3] == again
    assert ordered == [rundir.load()[c.name] for c in plan.cases]


def test_streamed_reports_are_the_bytes_of_the_whole_ones(tmp_path: Path) -> None:
    rundir, plan = _rundir(tmp_path, 120)
    where = rundir.index()
    records = list(rundir.ordered(plan, where))
    summary = runner.summary_of(records)
    assert summary.cut and summary.counts[Verdict.UNEXPECTED] == 40
    with run_report.Parts.of(summary, rundir.ordered(plan, where), junit=True) as parts:
        sink = io.StringIO()
        run_report.write_run_json(sink, INFO, summary, parts, [])
        assert sink.getvalue() == _whole_json(summary, records)
        sink = io.StringIO()
        run_report.write_junit(sink, INFO, summary, parts)
        assert sink.getvalue() == _whole_junit(summary, records)
    ET.fromstring(sink.getvalue())  # and well formed
    empty = runner.Summary()
    assert run_report.junit_xml(INFO, empty, []) == _whole_junit(empty, [])
    assert run_report.run_json(INFO, empty, [], []) == _whole_json(empty, [])


def test_the_summary_counts_cases_not_hits() -> None:
    records = [_record(n) for n in range(1, 8)]
    summary = runner.summary_of(records)
    for kind, hits in summary.by_kind.items():
        having = [r for r in records if any(f.kind == kind for f in r.findings)]
        assert hits.cases == len(having)
        assert (hits.first_case, hits.first) == (
            having[0].case, next(f for f in having[0].findings if f.kind == kind))
    assert summary.label_cases[Verdict.UNEXPECTED] == summary.counts[Verdict.UNEXPECTED]
    assert summary.rule_cases[Verdict.TRIAGED, "rule-0"] == summary.counts[Verdict.TRIAGED]


def _peak_bytes(tmp_path: Path, n: int, whole: bool = False) -> int:
    """The traced peak of building every report of n records (or, `whole`,
    of only loading them all, as the reports used to)."""
    home = tmp_path / f"{'whole' if whole else 'streamed'}-{n}"
    home.mkdir()
    rundir, plan = _rundir(home, n)
    tracemalloc.start()
    try:
        if whole:
            rundir.load()
        else:
            summary = runner.Summary()
            with run_report.Parts(junit=True) as parts:
                for record in rundir.ordered(plan, rundir.index()):
                    summary.add(record)
                    parts.add(summary, record)
                with (home / "report.json").open("w") as sink:
                    run_report.write_run_json(sink, INFO, summary, parts, [])
                with (home / "junit.xml").open("w") as sink:
                    run_report.write_junit(sink, INFO, summary, parts)
            run_report.email_text(INFO, summary, [], "test")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_report_memory_does_not_grow_with_the_cases(tmp_path: Path) -> None:
    """Ten times the records: the reports' peak grows by the index of where
    each record is (a name and an offset), not by the records."""
    small, large = _peak_bytes(tmp_path, 100), _peak_bytes(tmp_path, 1000)
    per_record = (large - small) / 900
    held_small = _peak_bytes(tmp_path, 100, whole=True)
    held_large = _peak_bytes(tmp_path, 1000, whole=True)
    held_per_record = (held_large - held_small) / 900
    assert per_record < 600, f"{per_record:.0f} bytes a record"
    # and the test can tell: holding the records costs far more a record
    assert held_per_record > 8 * per_record, (held_per_record, per_record)


def test_a_resumed_run_keeps_verdicts_not_records(tmp_path: Path) -> None:
    rundir, plan = _rundir(tmp_path, 6)
    rundir.meta.write_text(json.dumps({"identity": plan.identity()}) + "\n")
    timed_out = runner.CaseRecord("case-000004", "embed", 8, Verdict.INCONCLUSIVE,
                                  {"old": "timeout", "new": "ok"}, ())
    rundir.append(timed_out)
    with runner.RunDir(rundir.path) as again:
        verdicts = again.begin(plan, resume=True)
        assert again.retried == ["case-000004"]
    with runner.RunDir(rundir.path) as whole:
        records = whole.start(plan, resume=True)
    assert verdicts == {name: r.verdict for name, r in records.items()}
    assert list(verdicts) == list(records) and "case-000004" not in verdicts

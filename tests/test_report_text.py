"""The reports a reviewer reads: the terminal summary of `run` (what was
tested, the verdict, a few lines a finding, unexpected ones first; the
field table behind --verbose) and the review email (wrapped at 72 columns,
never cut, every source by its full ids).

The line-count test runs the README's main job - Debian 6.1 against 6.12,
real code - and skips, visibly, where apt is missing."""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
import tomllib
from pathlib import Path

import pytest
from rich.console import Console

from harness.campaign import runner
from harness.campaign.reproduce import Reproducer
from harness.cli import app
from harness.core import cases
from harness.core.verdict import Comparison, Verdict
from harness.judge.classify import Finding
from harness.report import run_report, summary_text

COMMIT = "033e48fb82958053113178264ddb9d5038d5e38b"
DEB_SHA = "5259c57ca92092da39bd2ea803046da0e3c28f2b6a11ea20f6297468188ceb67"
SUBJECT = ("percpu: teach the large page allocator about sparse cpu maps, so that "
           "possible cpus that are not contiguous get units of their own")
TESTED = (
    summary_text.SourceId("old", "columbia+linux-2.6-racepro@033e48fb8295",
                          (f"commit {COMMIT}",)),
    summary_text.SourceId("new", "033e48fb8295+000_f7d4c1c3ef532e76.txt+second-patch.txt",
                          (f"commit {COMMIT} with 2 patch files",),
                          (f"000_f7d4c1c3ef532e76.txt: {SUBJECT}", "second-patch.txt: x")),
)
INFO = run_report.RunInfo(
    ["columbia+linux-2.6-racepro@033e48fb8295",
     "033e48fb8295+000_f7d4c1c3ef532e76.txt+second-patch.txt"], 1, 300, 37, 2,
    "cases/declared/fd1e8a1fe2b5.toml", [1, 2, 4, 8, 16, 64, 256, 1024, 4096],
    ["embed", "lpage", "page", "sparc64", "x86"], tested=TESTED,
    triage_file="cases/triage.toml", scenario_notes=["lpage runs as embed on new"],
    rerun="percpu-diff repro --tree /work/trees/linux --base 'fd1e8a1fe2b5^'", out="run")
LONG_DESCRIPTION = ("shrunk from run-s1-00187 in 11 attempts: no-cpu0 random mask 3 of 1-3, "
                    "2 nodes round-robin, asymmetric distances, static 73728, reserved 0")


def _finding(comparison: Comparison, name: str, label: Verdict, rule: str | None,
             left: object = 1, right: object = 2) -> Finding:
    return Finding(comparison, name, left, right, label, rule)  # type: ignore[arg-type]


def _summary() -> runner.Summary:
    """Two cases: one with a declared change seen in two fields and a
    triaged difference, one with an unexpected difference."""
    summary = runner.Summary()
    summary.add(runner.CaseRecord("run-s1-00001", "embed", 8, Verdict.TRIAGED, {}, (
        _finding(Comparison.KERNELS_OLD_VS_NEW, "sizes.dyn_size", Verdict.DECLARED,
                 "early-dynamic-size-20k", 12288, 20480),
        _finding(Comparison.KERNELS_OLD_VS_NEW, "state.unit_offsets[3]", Verdict.DECLARED,
                 "early-dynamic-size-20k"),
        _finding(Comparison.OLD_KERNEL_VS_MODEL, "dump", Verdict.TRIAGED,
                 "modern-groups-by-first-cpu-only", "x" * 300, "y" * 300))))
    summary.add(runner.CaseRecord("run-s1-00002", "lpage", 8, Verdict.UNEXPECTED, {}, (
        _finding(Comparison.KERNELS_OLD_VS_NEW, "state.chunk_size", Verdict.UNEXPECTED, None,
                 1572864, 2097152),)))
    return summary


def _reproducer() -> Reproducer:
    case = cases.Case(name="run-s1-00002-min", description=LONG_DESCRIPTION,
                      scenario="lpage", nr_cpus=3, possible=(0, 1, 2))
    command = ("percpu-diff repro --tree /work/.mirror/columbia+linux-2.6-racepro/repo --base "
               "'fd1e8a1fe2b5^' --patch /work/shared/seeds/000_f7d4c1c3ef532e76.txt "
               "--scenario lpage --nr-cpus 3 --possible 0-2 --static-size 40960")
    finding = _finding(Comparison.KERNELS_OLD_VS_NEW, "state.chunk_size", Verdict.UNEXPECTED,
                       None)
    return Reproducer("kernel:state.chunk_size", "run-s1-00002", finding, case, 11, command,
                      "run-s1-00002")


def _one_word_too_long(line: str, width: int) -> bool:
    """A line over `width` is allowed only as a word that cannot be broken."""
    return len(line) > width and len(line.strip().rstrip("\\").split()) == 1


# ------------------------------------------------------------ the pieces

def test_wrap_never_cuts_a_word() -> None:
    path = "/a/very/long/path/" + "x" * 90
    lines = summary_text.wrap(f"tree {path} and more words", 40, "  ")
    assert path in [line.strip() for line in lines]
    assert " ".join(line.strip() for line in lines) == f"tree {path} and more words"


def test_a_wrapped_command_pastes_as_the_same_command() -> None:
    command = _reproducer().command + " --distance '" + ";".join(
        ",".join(["10"] * 12) for _ in range(12)) + "'"
    lines = summary_text.wrap_command(command, 50, "  ")
    # as the shell reads it: a backslash-newline joins the lines
    assert shlex.split("\n".join(lines).replace("\\\n", "")) == shlex.split(command)
    assert all(len(line) <= 50 for line in lines), lines
    # an option stays beside its value
    assert any(line.strip().startswith("--scenario lpage") or " --scenario lpage" in line
               for line in lines)


def test_wrapped_toml_is_the_same_toml() -> None:
    text = cases.case_to_toml(_reproducer().case) + \
        "possible_long = [" + ", ".join(str(n) for n in range(60)) + "]\n"
    wrapped = [part for line in text.splitlines() for part in summary_text.wrap_toml(line, 60)]
    assert all(len(line) <= 60 for line in wrapped)
    assert tomllib.loads("\n".join(wrapped)) == tomllib.loads(text)


def test_fields_under_one_name_come_together() -> None:
    assert summary_text.field_list([
        "state.first_chunk.nr_pages", "state.first_chunk.free_bytes", "state.unit_size",
        "dump", "dump.format", "bootmem.fc_allocs", "state.groups", "state.groups[*]"]) == (
        "bootmem.fc_allocs, dump, dump.format, state.{first_chunk.{free_bytes, nr_pages}, "
        "groups[*], unit_size}")


# ------------------------------------------------------------ the terminal

def test_the_summary_reads_unexpected_first_and_keeps_the_table_for_verbose() -> None:
    shown, verbose = io.StringIO(), io.StringIO()
    run_report.show_summary(Console(file=shown, width=80), INFO, _summary(), [_reproducer()],
                            options_of=lambda name: f"--options-of {name}")
    run_report.show_summary(Console(file=verbose, width=80), INFO, _summary(), [_reproducer()],
                            verbose=True, options_of=lambda name: f"--options-of {name}")
    text = shown.getvalue()
    assert "differences by kind" not in text and "differences by kind" in verbose.getvalue()
    assert text.index("unexpected #1") < text.index("declared early-dynamic-size-20k") < \
        text.index("triaged modern-groups-by-first-cpu-only")
    assert "verdict: UNEXPECTED differences in 1 of 2 cases" in text
    flat = " ".join(text.split())
    assert f"commit {COMMIT}" in flat and SUBJECT in flat
    # the fields of a rule on one (wrapped) line; its smallest example, whole
    assert "fields: sizes.dyn_size, state.unit_offsets[*]" in text
    assert "sizes.dyn_size 12288 -> 20480 (kernel)" in text
    assert "a text of 300 characters" in text and "xxx" not in text
    # the reproducer of the unexpected one; a declared example's options with --verbose
    assert "reproducer, shrunk from run-s1-00002 in 11 boots:" in text
    assert "--options-of run-s1-00001" not in text
    assert "--options-of run-s1-00001" in verbose.getvalue()
    assert all(len(line) <= 80 or _one_word_too_long(line, 80) for line in text.splitlines())


# ------------------------------------------------------------ the email

def _assert_email_whole(mail: str, ids: list[str]) -> None:
    """No line over 72 columns (but a word that cannot be broken), none cut
    with "...", and every id whole on one line."""
    lines = mail.splitlines()
    assert all(len(line) <= 72 or _one_word_too_long(line, 72) for line in lines), \
        [line for line in lines if len(line) > 72]
    assert not [line for line in lines if line.rstrip().endswith(("...", "…"))]
    words = {word.strip(",;()") for line in lines for word in line.split()}
    for full in ids:
        assert full in words, full


def test_the_email_says_exactly_what_was_tested_and_cuts_nothing() -> None:
    mail = run_report.email_text(INFO, _summary(), [_reproducer()], "0.1.0")
    _assert_email_whole(mail, [COMMIT, *INFO.sides])
    flat = " ".join(mail.split())
    for said in (SUBJECT, "second-patch.txt: x", "cases: 2 = 300 generated (seed 1) + 37 named "
                 "from cases/ + 2 given", "NR_CPUS: 1, 2, 4, 8, 16, 64, 256, 1024, 4096",
                 "scenarios: embed, lpage, page, sparc64, x86; lpage runs as embed on new",
                 "cases/declared/fd1e8a1fe2b5.toml", LONG_DESCRIPTION):
        assert said in flat.replace("\\ ", "").replace("| ", ""), said
    assert mail.index("Unexpected differences:") < mail.index("Declared changes seen")
    # the quoted case file is the case file
    quoted = [line.split("| ", 1)[1] if "| " in line else "" for line in mail.splitlines()
              if line.startswith("      |")]
    assert tomllib.loads("\n".join(quoted)) == tomllib.loads(
        cases.case_to_toml(_reproducer().case))


# ------------------------------------------------------------ the main job

needs_apt = pytest.mark.skipif(shutil.which("apt-get") is None,
                               reason="debian: sources need Debian's apt-get")
# The README's main job, whole: 150, 300 and 500 cases of its seed give
# fewer kinds of findings (fields of its rules), so shorter summaries.
MAIN_JOB_CASES = "1000"


@needs_apt
def test_the_main_jobs_report_fits_in_40_lines(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)  # a run directory named as a user names it
    mail = tmp_path / "mail.txt"
    status = app.main(["run", "debian:6.1", "debian:6.12", "--cases", MAIN_JOB_CASES,
                       "--timeout-ms", "60000", "--out", "run", "--email", str(mail)])
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert status == 0, out
    # what the terminal shows: the report, and the notes on stderr (a
    # progress bar leaves nothing on a terminal: blank lines are not counted)
    shown = lines + [line for line in err.splitlines() if line.strip()]
    assert len(shown) <= 40, f"{len(shown)} lines:\n{out}{err}"
    assert all(len(line) <= 80 or _one_word_too_long(line, 80) for line in lines), out
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert {"summary", "sides", "allocator_paths", "seed", "cases", "verdicts", "differences",
            "reproducers", "tested"} <= set(report)
    shas = [i.split()[-1] for s in report["tested"]["sources"] for i in s["ids"]]
    assert len(shas) == 2 and all(re.fullmatch("[0-9a-f]{64}", sha) for sha in shas)
    # what was tested, then the verdict, then each rule: name, cases, fields, example
    assert lines[0].startswith("percpu-diff run: debian:6.1=6.1.")
    assert [line for line in lines if line.startswith("verdict: ")]
    rules = {d["rule"] for d in report["differences"]}
    for rule in rules:
        title = next(line for line in lines if line.split(":")[0].endswith(f" {rule}"))
        assert re.search(r": \d+ cases?; ", title), title
    assert sum(line.startswith("  fields: ") for line in lines) == len(rules)
    assert sum(line.startswith("  smallest case: ") for line in lines) == len(rules)
    assert "differences by kind" not in out
    _assert_email_whole(mail.read_text(), [*report["sides"], *shas])

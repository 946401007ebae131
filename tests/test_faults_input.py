"""Bad input, for real: every bad value issue 15 lists goes through the
command line and must be one line on stderr, exit status 2, before any work
starts (no run directory, no traceback); a good case still loads as it did.

The case files here are written to disk and named with --case, as a user
would; the patches are made with git in a throwaway repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from conftest import kernel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.campaign.generate import ALL_ORDER, arch_matrix, generate_mixed
from harness.cli import app
from harness.core import cases
from harness.core.case_kinds import (
    AutoSize,
    CpuList,
    Distance,
    Integer,
    NodeList,
    Size,
    Switch,
    Table,
    Text,
    Word,
)
from harness.core.errors import UserError

REPO = Path(__file__).resolve().parent.parent
UNIT_MAP = kernel("unit_map")
ALLOC_INFO = kernel("alloc_info")
# A run that would build two shims and boot cases if the bad value got past
# the command line.
RUN = ["run", "--dir", str(UNIT_MAP), "--dir", str(ALLOC_INFO), "--cases", "2",
       "--nr-cpus", "8", "--no-corpus", "--jobs", "1"]
SHOW = ["show", "--dir", str(UNIT_MAP)]
GOOD_CASE = 'name = "bad"\nscenario = "embed"\nnr_cpus = 8\npossible = [0, 2]\n'


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "240")


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    """Run the command in-process (an exception escaping main fails the
    test): exit 2, nothing on stdout, one line on stderr holding the needles."""
    status = app.main(argv)
    captured = capsys.readouterr()
    assert status == 2, captured
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("percpu-diff: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# --- case files ------------------------------------------------------------------------

BAD_CASE_FILES = {
    "possible-int": ("possible = 5", ["possible = 5 is a whole number", "expected a list of cpu"]),
    "possible-item-string": ('possible = [0, "x"]', ['item 2 ("x") is a string', "cpu numbers"]),
    "nr-cpus-string": ('nr_cpus = "abc"', ['nr_cpus = "abc" is a string', "1..8192"]),
    "nr-cpus-bool": ("nr_cpus = true", ["nr_cpus = true is a boolean", "1..8192"]),
    "nr-cpus-fraction": ("nr_cpus = 8.7", ["nr_cpus = 8.7 is a fraction", "whole number"]),
    "fail-bootmem-string": ('fail_bootmem = "x"', ['fail_bootmem = "x" is a string',
                                                    "whole number -1.."]),
    "topology-int": ("topology = 5", ["topology = 5 is a whole number", "a table [topology]"]),
    "offline-nodes-int": ("offline_nodes = 3", ["offline_nodes = 3", "list of node numbers"]),
    "distance-flat": ("[topology]\ndistance = [10, 20, 20, 10]",
                      ["[topology] distance = [10, 20, 20, 10] row 1 is a whole number",
                       "[[10, 20], [20, 10]]"]),
    "typo-in-topology": ("[topology]\ncpu_nodes = [0, 0]",
                         ["unknown key 'cpu_nodes' in [topology]", "cpu_node, distance"]),
    "topology-key-at-top": ("cpu_node = [0, 0]", ["unknown key 'cpu_node'",
                                                   "it belongs in [topology]"]),
    "static-size-huge": ("static_size = 99999999999999999999999",
                         ["static_size = 99999999999999999999999 is out of range", "0..16G"]),
    "memory-beyond-shim": ('bootmem_size = "2T"', ['bootmem_size = "2T" is out of range',
                                                   "0..1023G"]),
    "distance-beyond-int": ("[topology]\ndistance = [[10, 4294967316], [20, 10]]\n"
                            "cpu_node = [0, 1]",
                            ["row 1 item 2 (4294967316) is out of range", "0..2147483647"]),
    "name-newline": ('name = "a\\nb"', ['"a\\nb" has a control character']),
    "numa-string": ('numa = "yes"', ['numa = "yes" is a string', "true or false"]),
    "expect-not-text": ("[expect]\nunit_map = 5", ["[expect] = ", "a table of strings"]),
    "vmalloc-negative": ("vmalloc_size = -1", ["vmalloc_size = -1 is out of range"]),
}


@pytest.mark.parametrize("key", sorted(BAD_CASE_FILES))
def test_bad_case_file_is_one_line_before_the_run(
        key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line, needles = BAD_CASE_FILES[key]
    path = tmp_path / "bad.toml"
    # A later assignment of a key would be a TOML error: replace the good one.
    good = "".join(ln + "\n" for ln in GOOD_CASE.splitlines()
                   if ln.split(" = ")[0] != line.split(" = ")[0])
    path.write_text(good + line + "\n")
    out = tmp_path / "out"
    one_line_error(capsys, [*RUN, "--case", str(path), "--out", str(out)],
                   f"case file {path}", *needles)
    assert not out.exists()


def test_bad_case_file_in_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD_CASE + "[topology]\ncpu_nodes = [0, 0]\n")
    one_line_error(capsys, [*SHOW, "--case", str(path)], "unknown key 'cpu_nodes'")


def test_directory_as_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(capsys, [*SHOW, "--case", str(tmp_path)], f"case file {tmp_path} is a "
                   "directory")
    out = tmp_path / "out"
    one_line_error(capsys, [*RUN, "--case", str(tmp_path), "--out", str(out)], "is a directory")
    assert not out.exists()


# --- command-line values ----------------------------------------------------------------

BAD_OPTIONS = {
    "cpu-node-letters": (["--possible", "0,2", "--cpu-node", "a,b"],
                         ['--cpu-node a,b item 1 ("a") is not a whole number']),
    "possible-newline": (["--possible", "0\n1"], ['--possible "0\\n1"']),
    "possible-empty": (["--possible", ""], ['--possible "" is empty']),
    "distance-empty": (["--distance", ""], ['--distance "" row 1 is empty']),
    "cpu-node-empty": (["--cpu-node", ""], ['--cpu-node "" is empty']),
    "nr-cpus-letters": (["--nr-cpus", "abc"], ["--nr-cpus abc is not a whole number"]),
    "fail-bootmem-below": (["--fail-bootmem", "-7"], ["--fail-bootmem -7 is out of range"]),
    "timeout-zero": (["--timeout-ms", "0"], ["--timeout-ms 0 is out of range", ">= 1"]),
    "timeout-negative": (["--timeout-ms", "-5"], ["--timeout-ms -5 is out of range"]),
    "mem-zero": (["--mem-mb", "0"], ["--mem-mb 0 is out of range"]),
}


@pytest.mark.parametrize("key", sorted(BAD_OPTIONS))
def test_bad_show_option(key: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv, needles = BAD_OPTIONS[key]
    one_line_error(capsys, [*SHOW, *argv], *needles)


BAD_RUN_OPTIONS = {
    "cases-negative": (["--cases", "-5"], "--cases -5 is out of range"),
    "timeout-zero": (["--timeout-ms", "0"], "--timeout-ms 0 is out of range"),
    "jobs-zero": (["--jobs", "0"], "--jobs 0 is out of range"),
    "shrink-budget-negative": (["--shrink-budget", "-1"], "--shrink-budget -1 is out of range"),
    "shrink-seconds-negative": (["--shrink-seconds", "-3"],
                                "--shrink-seconds -3 is out of range"),
    "max-reproducers-negative": (["--max-reproducers", "-2"],
                                 "--max-reproducers -2 is out of range"),
    "nr-cpus-letters": (["--nr-cpus", "x"], "--nr-cpus x is not a whole number"),
}


@pytest.mark.parametrize("key", sorted(BAD_RUN_OPTIONS))
def test_bad_run_option_writes_nothing(
        key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv, needle = BAD_RUN_OPTIONS[key]
    out = tmp_path / "out"
    one_line_error(capsys, [*RUN, *argv, "--out", str(out)], needle)
    assert not out.exists()


@pytest.mark.parametrize(("argv", "needle"), [
    (["--count", "0"], "--count 0 is out of range"),
    (["--count", "-3"], "--count -3 is out of range"),
    (["--nr-cpus", "0"], "--nr-cpus 0 is out of range"),
    (["--nr-cpus", "-8"], "--nr-cpus -8 is out of range"),
], ids=["count-zero", "count-negative", "nr-cpus-zero", "nr-cpus-negative"])
def test_bad_agree_counts(argv: list[str], needle: str, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "agree.jsonl"
    one_line_error(capsys, ["agree", "--dir", str(UNIT_MAP), *argv, "--out", str(out)], needle)
    assert not out.exists()


def test_real_process_no_traceback(tmp_path: Path) -> None:
    """The installed entry point, as a user runs it: exit 2, one line, no traceback."""
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD_CASE.replace("nr_cpus = 8", 'nr_cpus = "abc"'))
    for argv in ([*SHOW, "--case", str(bad)], [*SHOW, "--possible", "0\n1"],
                 [*SHOW, "--case", str(tmp_path)], [*SHOW, "--cpu-node", "a,b"]):
        done = subprocess.run([sys.executable, "-m", "harness.cli.app", *argv], cwd=REPO,
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert len(done.stderr.splitlines()) == 1, done.stderr


# --- patches that change nothing the shim is built from ---------------------------------

def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_DATE": "2009-01-01T00:00:00", "GIT_COMMITTER_DATE": "2009-01-01T00:00:00"}
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                          cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def patched_repo(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A git copy of the unit_map fixture; a patch that touches only
    Documentation/, and a series of it after one that changes mm/percpu.c."""
    repo = tmp_path / "linux"
    (repo / "mm").mkdir(parents=True)
    (repo / "include" / "linux").mkdir(parents=True)
    for path in ("mm/percpu.c", "include/linux/percpu.h"):
        (repo / path).write_text((UNIT_MAP / path).read_text())
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    percpu = repo / "mm" / "percpu.c"
    percpu.write_text(percpu.read_text() + "/* a comment */\n")
    _git(repo, "commit", "-qam", "percpu: a comment")
    (repo / "Documentation").mkdir()
    (repo / "Documentation" / "note.txt").write_text("a note\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "doc: a note")
    idle = tmp_path / "doc.patch"
    idle.write_text(_git(repo, "format-patch", "--stdout", "HEAD~1..HEAD"))
    series = tmp_path / "series.mbox"
    series.write_text(_git(repo, "format-patch", "--stdout", "HEAD~2..HEAD"))
    return repo, idle, series


def test_patch_touching_nothing_compiled_is_refused(
        patched_repo: tuple[Path, Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo, idle, _ = patched_repo
    out = tmp_path / "out"
    one_line_error(capsys, ["run", "--tree", str(repo), "--base", "HEAD~2", "--patch", str(idle),
                            "--cases", "2", "--nr-cpus", "8", "--no-corpus", "--out", str(out)],
                   "touch only Documentation/note.txt", "nothing to compare")
    assert not out.exists()


def test_idle_patch_of_a_series_is_one_warning(
        patched_repo: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    repo, _, series = patched_repo
    status = app.main(["extract", "--tree", str(repo), "--base", "HEAD~2", "--patch",
                       str(series)])
    err = capsys.readouterr().err
    assert status == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1, err
    assert "series.mbox#2" in warnings[0] and "Documentation/note.txt" in warnings[0]
    assert "series.mbox#1" not in err


# --- every field, every wrong type: a line, never a traceback ---------------------------

ACCEPTED: dict[type, tuple[type, ...]] = {
    Text: (str,), Word: (str,), Integer: (int,), Size: (int, str), AutoSize: (int, str),
    CpuList: (list, str), NodeList: (list,), Distance: (list,), Switch: (bool,),
    Table: (dict,),
}
SCALARS = (st.booleans() | st.integers(-(2 ** 70), 2 ** 70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
           | st.datetimes())
TOML_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                           max_leaves=8)


def accepted(kind: object) -> tuple[type, ...]:
    return next(types for cls, types in ACCEPTED.items() if isinstance(kind, cls))


def placed(row: cases.CaseField, value: Any) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(GOOD_CASE)
    if isinstance(row.spec.kind, Table):
        data[row.spec.section] = value
    elif row.spec.section:
        data[row.spec.section] = {row.name: value}
    else:
        data[row.name] = value
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=st.sampled_from(cases.CASE_FIELDS), value=TOML_VALUES)
def test_any_value_of_any_field_is_a_case_or_one_line(row: cases.CaseField, value: Any) -> None:
    wrong_type = isinstance(value, bool) != isinstance(row.spec.kind, Switch) or \
        not isinstance(value, accepted(row.spec.kind))
    try:
        cases.case_from_mapping(placed(row, value), "fuzz", "case file fuzz.toml")
    except UserError as err:
        message = str(err)
        assert "\n" not in message and message.startswith("case file fuzz.toml: ")
        return
    assert not wrong_type, f"{row.name} = {value!r} was accepted"


# --- good cases load as they did ----------------------------------------------------------

def test_corpus_cases_load_and_round_trip(tmp_path: Path) -> None:
    files = sorted(p for p in (REPO / "cases").glob("*.toml") if p.name != "triage.toml")
    assert len(files) > 30
    for path in files:
        case = cases.load_case(path)
        again = tmp_path / path.name
        again.write_text(cases.case_to_toml(case))
        assert cases.load_case(again) == case


def test_generated_cases_round_trip_through_files(tmp_path: Path) -> None:
    for case in generate_mixed(300, 15, scenarios=ALL_ORDER) + arch_matrix()[::17]:
        path = tmp_path / f"{case.name}.toml"
        path.write_text(cases.case_to_toml(case))
        assert cases.load_case(path) == case

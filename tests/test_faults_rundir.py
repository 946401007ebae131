"""Faults of the run directory and the files a run writes, done for real:
two `percpu-diff run` processes at once on one --out, SIGKILL, real
timeouts, damaged run.json and results.jsonl, output paths that cannot be
written, case names no hand-made TOML or XML survives.

The runs boot the project's fixture kernels (not percpu.c, so every run
finds unexpected differences: exit 1 is a run that ran).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from conftest import kernel, run_cli

from harness.campaign import runner
from harness.core import files
from harness.core.cases import Case
from harness.core.verdict import Comparison, Verdict
from harness.judge import classify
from harness.report import run_report

ROOT = Path(__file__).resolve().parent.parent
OLD_NEW = ("--dir", str(kernel("unit_map")), "--dir", str(kernel("alloc_info")))
NEW_OLD = ("--dir", str(kernel("alloc_info")), "--dir", str(kernel("unit_map")))
CASES = 12
OPTIONS = ("--cases", str(CASES), "--nr-cpus", "8", "--no-corpus", "--jobs", "2",
           "--shrink-budget", "8", "--max-reproducers", "2", "--timeout-ms", "60000",
           # reports are compared whole: no time budget, which load could cut short
           "--shrink-seconds", "3600")


def run_args(sources: Sequence[str] = OLD_NEW, *more: str) -> list[str]:
    return ["run", *sources, *OPTIONS, *more]


def start(args: Sequence[str], **env: str) -> subprocess.Popen[str]:
    """percpu-diff in a process of its own (its own session, to kill it whole)."""
    return subprocess.Popen([sys.executable, "-m", "harness.cli.app", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200", **env},
                            start_new_session=True)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=900)
    return proc.returncode, out, err


def records(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def wait_for(what: Callable[[], bool], proc: subprocess.Popen[str], seconds: float = 600
             ) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert proc.poll() is None, f"ended first: {proc.communicate()}"
        assert time.monotonic() < deadline, "waited too long"
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


# ------------------------------------------------------------------ the lock

def test_two_runs_at_once_one_owns_the_directory(tmp_path: Path) -> None:
    out = tmp_path / "r"
    both = [start([*run_args(), "--out", str(out)]) for _ in range(2)]
    (status_a, _, err_a), (status_b, _, err_b) = (finish(p) for p in both)
    assert sorted((status_a, status_b)) == [1, 2], (err_a, err_b)
    refusal = err_a if status_a == 2 else err_b
    assert len(refusal.splitlines()) == 1, refusal
    assert "is in use by another run (pid " in refusal and "percpu-diff run" in refusal
    lines = records(out)
    assert len(lines) == CASES == len({r["case"] for r in lines})


def test_opposite_comparisons_cannot_mix_records(tmp_path: Path) -> None:
    out, alone = tmp_path / "r", tmp_path / "alone"
    procs = {"old-new": start([*run_args(OLD_NEW), "--out", str(out)]),
             "new-old": start([*run_args(NEW_OLD), "--out", str(out)])}
    results = {name: finish(proc) for name, proc in procs.items()}
    assert sorted(status for status, _, _ in results.values()) == [1, 2], results
    winner = next(name for name, (status, _, _) in results.items() if status == 1)
    loser = next(name for name in results if name != winner)
    # Refused by the lock while the winner runs, or, when a loaded machine
    # starts the loser only after the winner ended, by the winner's results.
    assert ("is in use by another run" in results[loser][2]
            or "already holds results" in results[loser][2]), results[loser]
    sources = {"old-new": OLD_NEW, "new-old": NEW_OLD}
    # The winner's directory holds its comparison only: resumed, it reports
    # what its comparison alone does.
    status, _, err = finish(start([*run_args(sources[winner]), "--out", str(out), "--resume"]))
    assert status == 1, err
    status, _, _ = finish(start([*run_args(sources[winner]), "--out", str(alone)]))
    assert status == 1
    assert (json.loads((out / "report.json").read_text())
            == json.loads((alone / "report.json").read_text()))
    status, _, err = finish(start([*run_args(sources[loser]), "--out", str(out), "--resume"]))
    assert status == 2 and len(err.splitlines()) == 1 and "other sources" in err, err


def test_a_killed_runs_lock_never_blocks(tmp_path: Path) -> None:
    out, whole = tmp_path / "r", tmp_path / "whole"
    proc = start([*run_args(), "--out", str(out)])
    wait_for(lambda: (out / "results.jsonl").is_file()
             and (out / "results.jsonl").stat().st_size > 0, proc)
    holder = json.loads((out / "run.lock").read_text())
    assert holder["pid"] == proc.pid and "percpu-diff run" in holder["command"]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    status, _, err = finish(start([*run_args(), "--out", str(out), "--resume"]))
    assert status == 1, err
    finish(start([*run_args(), "--out", str(whole)]))
    assert (json.loads((out / "report.json").read_text())
            == json.loads((whole / "report.json").read_text()))


# ------------------------------------------------------------- run identity

@pytest.mark.parametrize(("option", "value", "message"), [
    ("--timeout-ms", "1", "--timeout-ms differs (this run 1, that run 60000)"),
    ("--mem-mb", "100", "--mem-mb differs (this run 100, that run 2048)"),
    ("--seed", "9", "--seed differs (this run 9, that run 1)"),
])
def test_resume_with_another_result_changing_option_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str,
        message: str) -> None:
    out = tmp_path / "r"
    status, _, _ = run_cli(capsys, *run_args(), "--out", str(out), "--max-reproducers", "0")
    assert status == 1
    before = (out / "results.jsonl").read_bytes()
    status, _, err = run_cli(capsys, *run_args(), "--out", str(out), "--resume", option, value)
    assert status == 2 and len(err.splitlines()) == 1 and message in err, err
    assert (out / "results.jsonl").read_bytes() == before


def test_timed_out_cases_run_again_on_resume(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A timeout is not a result: --resume with the same limits runs it again."""
    out = tmp_path / "r"
    # A 64 MiB static area: the shim's own code writes its two images (128 MiB,
    # tens of ms of CPU) before any kernel code runs, so a 1 ms limit runs
    # out there - a timeout - however fast the machine (generated cases may
    # end within 1 ms).
    slow = tmp_path / "static-64m.toml"
    slow.write_text('name = "static-64m"\nscenario = "embed"\nnr_cpus = 8\n'
                    'possible = "0-1"\nstatic_size = 67108864\n')
    tiny = [*run_args(), "--case", str(slow), "--out", str(out), "--timeout-ms", "1",
            "--max-reproducers", "0"]
    status, _, _ = run_cli(capsys, *tiny)
    first = records(out)
    timed_out = [r["case"] for r in first if "timeout" in r["outcomes"].values()]  # type: ignore[union-attr]
    assert "static-64m" in timed_out and status in (1, 2), first
    status, _, err = run_cli(capsys, *tiny, "--resume")
    assert f"running again {len(timed_out)} cases" in err
    again = records(out)[len(first):]
    assert sorted(r["case"] for r in again) == sorted(timed_out), (status, err)  # type: ignore[type-var]


def test_a_busy_machines_timeout_is_replaced_on_resume(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """The record a busy machine wrote (a case that timed out) is run again
    on a quiet one, and the report is that of a run that never timed out."""
    out, whole = tmp_path / "r", tmp_path / "whole"
    run_cli(capsys, *run_args(), "--out", str(whole))
    run_cli(capsys, *run_args(), "--out", str(out))
    lines = records(out)
    lines[3] = {**lines[3], "verdict": "failed", "findings": [],
                "outcomes": {"old": "timeout", "new": "ok"}}
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    status, _, err = run_cli(capsys, *run_args(), "--out", str(out), "--resume")
    assert status == 1 and "running again 1 cases" in err
    assert (json.loads((out / "report.json").read_text())
            == json.loads((whole / "report.json").read_text()))


# ------------------------------------------------------------ bad run files

def test_out_that_is_a_file_is_one_line(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    out.write_text("not a directory\n")
    status, _, err = run_cli(capsys, *run_args(), "--out", str(out))
    assert status == 2 and len(err.splitlines()) == 1 and "is a file" in err, err


def test_a_truncated_run_json_is_one_line(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    run_cli(capsys, *run_args(), "--out", str(out), "--max-reproducers", "0")
    meta = (out / "run.json").read_text()
    (out / "run.json").write_text(meta[:len(meta) // 2])
    status, _, err = run_cli(capsys, *run_args(), "--out", str(out), "--resume")
    assert status == 2 and len(err.splitlines()) == 1 and "run.json is damaged" in err, err


@pytest.mark.parametrize("option", ["--json", "--junit", "--email"])
@pytest.mark.parametrize("where", ["missing parent", "directory", "file as parent"])
def test_unwritable_reports_are_refused_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, where: str) -> None:
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-dir").mkdir()
    path = {"missing parent": tmp_path / "nowhere" / "report",
            "directory": tmp_path / "a-dir",
            "file as parent": tmp_path / "a-file" / "report"}[where]
    out = tmp_path / "r"
    started = time.monotonic()
    status, _, err = run_cli(capsys, *run_args(), "--out", str(out), option, str(path))
    assert status == 2 and len(err.splitlines()) == 1 and option in err, err
    assert not out.exists()  # refused before the run began
    assert time.monotonic() - started < 5
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers


def test_a_report_that_fails_to_write_leaves_no_temporary(tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    with pytest.raises(UnicodeEncodeError):
        files.write_atomic(folder / "r.json", "\udc80")  # not encodable: the write fails
    assert list(folder.iterdir()) == []


# ----------------------------------------------------------- torn results

def test_resume_after_a_torn_line_loses_no_record(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    run_cli(capsys, *run_args(), "--out", str(out), "--max-reproducers", "0")
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    (out / "results.jsonl").write_text("".join(lines[:5]) + lines[5][:40])
    status, _, _ = run_cli(capsys, *run_args(), "--out", str(out), "--resume",
                           "--max-reproducers", "0")
    assert status == 1
    text = (out / "results.jsonl").read_text()
    assert text.endswith("\n")
    on_disk = [json.loads(line) for line in text.splitlines()]  # every line whole
    assert sorted(r["case"] for r in on_disk) == sorted(json.loads(line)["case"]
                                                       for line in lines)


# ---------------------------------------------- names no hand-made text survives

NASTY = 'say "hi" \\ back\\slash <&> \\"'


def test_repro_toml_of_a_quoted_name_reads_back(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    case_file = tmp_path / "nasty.toml"
    case_file.write_text(f'name = {json.dumps(NASTY)}\nscenario = "embed"\nnr_cpus = 8\n'
                         "possible = [0, 2, 4]\n")
    out = tmp_path / "r"
    status, _, _ = run_cli(capsys, "run", *OLD_NEW, "--cases", "0", "--no-corpus",
                           "--case", str(case_file), "--shrink-budget", "4",
                           "--max-reproducers", "1", "--timeout-ms", "60000", "--out", str(out))
    assert status == 1
    repro = out / "repro-1.toml"
    assert tomllib.loads(repro.read_text())["name"].startswith(NASTY)
    status, _, err = run_cli(capsys, "repro", *OLD_NEW, "--case", str(repro),
                             "--timeout-ms", "60000")
    assert status == 1, err  # the differences again, not a refused file


def test_junit_of_control_characters_is_valid_xml(tmp_path: Path) -> None:
    name = "ctl\x01\x1b[31m <&> \"q\" end"
    finding = classify.Finding(Comparison.KERNELS_OLD_VS_NEW, "messages[0]", "a\x02b",
                               "c\x0bd", Verdict.UNEXPECTED, None)
    record = runner.CaseRecord(name, "embed", 8, Verdict.UNEXPECTED,
                               {"old": "ok", "new": "ok"}, (finding,))
    failed = runner.CaseRecord("t\x7f\x00", "embed", 8, Verdict.FAILED,
                               {"old": "timeout\x03", "new": "ok"}, ())
    info = run_report.RunInfo(["old\x04", "new"], 1, 2, 0, 0, None, [8], ["embed"])
    summary, ordered = runner.summarize(_plan_of(record, failed),
                                        {r.case: r for r in (record, failed)})
    path = tmp_path / "r.xml"
    files.write_atomic(path, run_report.junit_xml(info, summary, ordered))
    suite = ET.parse(path).getroot()
    names = [c.get("name") for c in suite.iter("testcase")]
    assert names == ["ctl\\x01\\x1b[31m <&> \"q\" end", "t\x7f\\x00"]
    assert "a\\x02b" in (suite.find(".//failure").text or "")  # type: ignore[union-attr]
    assert suite.find(".//error") is not None


def _plan_of(*records: runner.CaseRecord) -> runner.Plan:
    return runner.Plan((), tuple(Case(r.case, "embed", 8, (0, 2, 4)) for r in records), (), ())


# ------------------------------------------------------------- scratch

def _toy_patch_tree(tmp_path: Path) -> tuple[Path, Path]:
    """A git tree of the unit_map fixture and a patch touching its percpu.c."""
    repo = tmp_path / "linux"
    shutil.copytree(kernel("unit_map"), repo)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    source = repo / "mm" / "percpu.c"
    source.write_text(source.read_text() + "\n/* a comment the patch adds */\n")
    subprocess.run([*git, "commit", "-qam", "comment"], check=True)
    patch = tmp_path / "comment.patch"
    patch.write_text(subprocess.run([*git, "format-patch", "--stdout", "HEAD~1..HEAD"],
                                    check=True, capture_output=True, text=True).stdout)
    return repo, patch


def test_scratch_of_a_killed_run_is_cleaned_at_start_up(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    repo, patch = _toy_patch_tree(tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    foreign = tmp / "percpu-diff-src-not-ours"  # no owner marker: never touched
    foreign.mkdir()
    out = tmp_path / "r"
    proc = start(["run", "--tree", str(repo), "--base", "HEAD~1", "--patch", str(patch),
                  *OPTIONS, "--out", str(out)], TMPDIR=str(tmp))
    wait_for(lambda: (out / "results.jsonl").is_file()
             and (out / "results.jsonl").stat().st_size > 0, proc)
    left = [p for p in tmp.glob("percpu-diff-src-*") if p != foreign]
    assert left
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert all(p.is_dir() for p in left)  # what SIGKILL leaves
    refused = ["dump", str(tmp_path / "no.log")]
    status, _, _ = finish(start(refused, TMPDIR=str(tmp)))  # any command cleans
    assert status == 2
    assert not any(p.exists() for p in left)
    assert foreign.is_dir()
    from harness.core import scratch  # new with the cleaning
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    live = scratch.make("src")  # this process's, alive: kept
    try:
        status, _, _ = finish(start(refused, TMPDIR=str(tmp)))
        assert live.is_dir() and foreign.is_dir()
    finally:
        shutil.rmtree(live)


def test_a_patch_from_stdin_is_kept_for_show_run(tmp_path: Path) -> None:
    """`--patch -` exists nowhere else: the run keeps it as stdin.patch, and
    show --run boots the run's case from that file, not from a '-' that
    would wait for input."""
    repo, patch = _toy_patch_tree(tmp_path)
    out = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli.app", "run", "--tree", str(repo),
                             "--base", "HEAD~1", "--patch", "-", *OPTIONS, "--out", str(out)],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    _, err = proc.communicate(patch.read_text(), timeout=900)
    assert proc.returncode in (0, 1), err  # the fixture kernel has unexpected findings
    assert (out / "stdin.patch").read_bytes() == patch.read_bytes()
    commands = [r["command"] for r in json.loads((out / "report.json").read_text())["reproducers"]]
    assert commands and all(f"--patch {(out / 'stdin.patch').absolute()}" in c
                            for c in commands), commands
    replay = json.loads((out / "run.json").read_text())["replay"]
    assert replay["sources"]["patches"] == [str((out / "stdin.patch").absolute())]
    case = records(out)[0]["case"]
    shown = subprocess.run([sys.executable, "-m", "harness.cli.app", "show", "--run", str(out),
                            str(case), "--json"], cwd=ROOT, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=900, check=False)
    assert shown.returncode == 0, shown.stderr
    assert [r["outcome"]["kind"] for r in json.loads(shown.stdout)] == ["ok", "ok"]

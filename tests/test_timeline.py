"""percpu-diff timeline and bisect on a git history of the fixture kernels:
the unit_map kernel, a commit that touches no percpu file, the alloc_info
kernel, another unrelated commit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import kernel

from harness.cli import app
from harness.core.errors import UserError
from harness.sources import snapshot

FILES = ("mm/percpu.c", "include/linux/percpu.h")
GIT = ("git", "-c", "user.name=Percpu Test", "-c", "user.email=test@example.invalid",
       "-c", "init.defaultBranch=main")


def git(repo: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(repo), *args], capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


def commit_fixture(repo: Path, fixture: str | None, message: str) -> str:
    if fixture is None:
        (repo / "README").write_text(message + "\n")
    else:
        for path in FILES:
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(kernel(fixture) / path, repo / path)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    repo = tmp_path_factory.mktemp("history")
    git(repo, "init", "-q")
    commits = [commit_fixture(repo, "unit_map", "the unit_map API"),
               commit_fixture(repo, None, "documentation only"),
               commit_fixture(repo, "alloc_info", "percpu: pack the units"),
               commit_fixture(repo, None, "more documentation")]
    return repo, commits


def test_a_range_is_its_start_and_every_percpu_commit(history: tuple[Path, list[str]]) -> None:
    repo, (a, _, c, d) = history
    assert snapshot.percpu_commits(repo, f"{a}..{d}") == [a, c]


@pytest.mark.parametrize("bad, message", [
    ("HEAD", "bad revision range 'HEAD': write it A..B"),
    ("..HEAD", "bad revision range"),
    ("nosuch..HEAD", "unknown revision 'nosuch'"),
])
def test_bad_ranges_are_one_line(history: tuple[Path, list[str]], bad: str, message: str
                                 ) -> None:
    with pytest.raises(UserError, match=message):
        snapshot.percpu_commits(history[0], bad)


def test_a_range_without_percpu_commits_says_so(history: tuple[Path, list[str]]) -> None:
    repo, (_, _, c, d) = history
    with pytest.raises(UserError, match=rf"no commit in {c}..{d} touches mm/percpu.c"):
        snapshot.percpu_commits(repo, f"{c}..{d}")


def run_timeline(repo: Path, rev_range: str, out: Path, *extra: str) -> int:
    return app.main(["timeline", "--tree", str(repo), "--range", rev_range, "--cases", "12",
                     "--no-corpus", "--nr-cpus", "8", "--scenario", "embed", "--scenario",
                     "page", "--out", str(out), *extra])


def test_the_timeline_names_the_step_each_field_first_changed(
        history: tuple[Path, list[str]], tmp_path: Path) -> None:
    repo, (a, _, c, d) = history
    status = run_timeline(repo, f"{a}..{d}", tmp_path / "tl")
    report = json.loads((tmp_path / "tl" / "timeline.json").read_text())
    assert status in (0, 1)
    assert [(s["step"], s["old"][-12:], s["new"][-12:]) for s in report["steps"]] == [
        (1, a[:12], c[:12])]
    assert report["steps"][0]["summary"]["cases"] == 12
    changes = report["first_changes"]
    assert changes and all(ch["step"] == 1 for ch in changes)
    for ch in changes:
        case_file = Path(ch["command"].rsplit(" ", 1)[1])
        assert case_file.is_file() and f"name = \"{ch['example']}\"" in case_file.read_text()
        assert ch["command"].startswith(f"percpu-diff repro tree:{repo}@{a} tree:{repo}@{c} ")
    # Resumed, the same timeline comes out.
    assert run_timeline(repo, f"{a}..{d}", tmp_path / "tl", "--resume") == status
    assert json.loads((tmp_path / "tl" / "timeline.json").read_text()) == report


def test_the_timeline_report_fits_a_terminal(history: tuple[Path, list[str]], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Sources are numbered once, so the step table fits 80 columns however
    long a tree's label is; each first change is a line of its own."""
    repo, (a, _, c, d) = history
    run_timeline(repo, f"{a}..{d}", tmp_path / "tl")
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["sources, in order:", f"   0  {repo.name}@{a[:12]}",
                       f"   1  {repo.name}@{c[:12]}"]
    steps = out[3:out.index("where each field of the real code first changed:")]
    assert [line.split()[:4] for line in steps if line.strip().startswith("1 ")] == [
        ["1", "0", "->", "1"]]
    assert max(map(len, steps)) <= 80
    assert " step 1:" in out


def test_a_timeline_of_one_source_is_refused(tmp_path: Path) -> None:
    assert app.main(["timeline", "--dir", str(kernel("unit_map")), "--out",
                     str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def bisect(repo: Path, *args: str) -> int:
    return app.main(["bisect", "--tree", str(repo), "--possible", "0,2,4", "--nr-cpus", "8",
                     *args])


def test_bisect_exit_statuses(history: tuple[Path, list[str]]) -> None:
    repo, (a, b, c, _) = history
    assert bisect(repo, "--good", a, "--rev", b) == 0
    assert bisect(repo, "--good", a, "--rev", c, "--field", "messages") == 1
    assert bisect(repo, "--good", a, "--rev", c, "--field", "state.unit_of_cpu[*]") == 0
    assert bisect(repo, "--good", "nosuch", "--rev", c) == 2
    assert bisect(repo, "--good", a, "--rev", c, "--field", "state.nope") == 2


def test_git_bisect_run_finds_the_commit(history: tuple[Path, list[str]],
                                         tmp_path: Path) -> None:
    repo, (a, _, c, d) = history
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True, timeout=60)
    tool = tmp_path / "percpu-diff"
    tool.write_text(f"#!/bin/sh\nexec {sys.executable} -m harness.cli.app \"$@\"\n")
    tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    git(clone, "bisect", "start", d, a)
    run = subprocess.run(
        [*GIT, "-C", str(clone), "bisect", "run", "percpu-diff", "bisect", "--good", a,
         "--possible", "0,2,4", "--nr-cpus", "8", "--field", "messages"],
        capture_output=True, text=True, env=env, timeout=600)
    assert f"{c} is the first bad commit" in run.stdout, run.stdout + run.stderr


def test_bisect_skips_a_revision_it_cannot_build(history: tuple[Path, list[str]],
                                                 tmp_path: Path) -> None:
    repo, (a, *_) = history
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True, timeout=60)
    broken = commit_fixture(clone, "unknown_api", "an API percpu-diff does not know")
    assert bisect(clone, "--good", a, "--rev", broken) == 125


def test_a_timeline_on_a_local_cluster_is_the_timeline_run_here(
        history: tuple[Path, list[str]], tmp_path: Path) -> None:
    """--scheduler local: the same timeline.json as worker processes here."""
    repo, (a, _, _, d) = history
    here = run_timeline(repo, f"{a}..{d}", tmp_path / "here", "--jobs", "2")
    there = run_timeline(repo, f"{a}..{d}", tmp_path / "there", "--jobs", "2",
                         "--scheduler", "local")
    assert here == there and here in (0, 1)
    report = json.loads((tmp_path / "here" / "timeline.json").read_text())
    assert report["steps"][0]["summary"]["cases"] == 12
    # The same but for where each example case was written (its --out).
    there_text = (tmp_path / "there" / "timeline.json").read_text()
    assert json.loads(there_text.replace(str(tmp_path / "there"), str(tmp_path / "here"))) \
        == report

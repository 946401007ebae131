"""Replaying a fix (harness/sources/fixes.py) on an invented repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.cli import app
from harness.core.errors import UserError
from harness.sources import fixes

HEADER = "/* an invented header */\n"
LINES = [f"line {n}\n" for n in range(1, 30)]


def _git(repo: Path, *args: str) -> str:
    env_args = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    out = subprocess.run(["git", "-C", str(repo), *env_args, *args], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def _commit(repo: Path, text: str, message: str) -> str:
    (repo / "mm" / "percpu.c").write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "mm").mkdir()
    (tmp_path / "include" / "linux").mkdir(parents=True)
    (tmp_path / "include" / "linux" / "percpu.h").write_text(HEADER)
    _git(tmp_path, "init", "-q")
    return tmp_path


def test_a_fix_merges_into_a_later_revision_and_the_tree_is_untouched(repo: Path) -> None:
    parent = _commit(repo, "".join(LINES), "base")
    fix = _commit(repo, "".join(LINES).replace("line 3\n", "line 3 fixed\n"), "the fix")
    _git(repo, "checkout", "-q", "-b", "later", parent)
    later = _commit(repo, "".join(LINES).replace("line 25\n", "line 25 moved on\n"), "later")
    status = _git(repo, "status", "--porcelain")
    base = fixes.tree_snapshot(repo, later)
    replayed = fixes.replay_fix(repo, base, fix)
    assert replayed.methods == {"mm/percpu.c": "3-way"}
    text = replayed.snapshot.files["mm/percpu.c"]
    assert "line 3 fixed\n" in text and "line 25 moved on\n" in text
    assert replayed.snapshot.label == f"{base.label}+{fix[:12]}"
    assert _git(repo, "status", "--porcelain") == status
    # On its own parent the replay is the fix commit itself.
    on_parent = fixes.replay_fix(repo, fixes.tree_snapshot(repo, parent), fix)
    assert on_parent.methods == {"mm/percpu.c": "as is"}
    assert on_parent.snapshot.label == fixes.tree_snapshot(repo, fix).label
    assert fixes.choose_base(repo, fix, (), None) == parent
    assert fixes.choose_base(repo, fix, (parent[:12], later[:12]), None) == parent
    with pytest.raises(UserError, match="no revision of the entry is an ancestor"):
        fixes.choose_base(repo, fix, (later[:12],), None)


def test_a_conflicting_fix_is_one_line(repo: Path) -> None:
    parent = _commit(repo, "".join(LINES), "base")
    fix = _commit(repo, "".join(LINES).replace("line 3\n", "line 3 fixed\n"), "the fix")
    _git(repo, "checkout", "-q", "-b", "other", parent)
    other = _commit(repo, "".join(LINES).replace("line 3\n", "line 3 otherwise\n"), "other")
    with pytest.raises(UserError, match=r"does not merge into mm/percpu\.c") as err:
        fixes.replay_fix(repo, fixes.tree_snapshot(repo, other), fix)
    assert "\n" not in str(err.value)


def test_triage_check_fixes_names_an_unknown_entry(repo: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    status = app.main(["triage", "--check-fixes", "--tree", str(repo), "--entry", "nope"])
    assert status == 2
    assert capsys.readouterr().err.strip() == \
        "percpu-diff: error: no triage entry is named 'nope'"

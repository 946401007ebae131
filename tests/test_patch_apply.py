"""Patches applied as kernel developers apply them: offsets as `git apply`,
--fuzz N as GNU patch, --3way from the index line's blob, mbox series as
git am / b4 take them, a patch on standard input, and --new A..B.

The fixtures (fixtures/patches/frob-*) are an invented toy pool, not kernel
code, stored as mm/percpu.c so that sources take them for the file the shim
is built from.  Every result is compared byte for byte with what the real
`git apply` or `patch` makes of the same input.
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli.requests import SourceOptions
from harness.core.errors import UserError
from harness.sources import applying, patches, snapshot
from harness.sources.applying import ApplyOptions, apply_series
from harness.sources.patches import parse_patch_series

FIXTURES = Path(__file__).parent / "fixtures" / "patches"
PERCPU_C = "mm/percpu.c"
PERCPU_H = "include/linux/percpu.h"
BOTH = "frob-both.patch"  # two hunks, made against frob-orig.c
TAKE = "frob: check the pool before taking from it"
LEFT = "frob: never report a negative amount left"

needs_tools = pytest.mark.skipif(
    shutil.which("git") is None or shutil.which("patch") is None,
    reason="git and GNU patch are needed to compare with")


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True, input=stdin).stdout


@pytest.fixture(autouse=True)
def hermetic_git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    for key in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{key}_NAME", "Toy Author")
        monkeypatch.setenv(f"{key}_EMAIL", "toy@example.invalid")
        monkeypatch.setenv(f"{key}_DATE", "2024-01-01T00:00:00+0000")


def by_tool(tmp_path: Path, base: str, patch: str, command: list[str]) -> str:
    """mm/percpu.c as `command` (git apply, patch) leaves it, run on a copy of base."""
    work = tmp_path / f"by-{command[0]}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "mm").mkdir(parents=True)
    (work / PERCPU_C).write_text(base)
    subprocess.run(command, cwd=work, input=patch, text=True, check=True, capture_output=True)
    return (work / PERCPU_C).read_text()


def apply_text(base: str, patch: str, options: ApplyOptions | None = None) -> applying.Applied:
    return apply_series({PERCPU_C: base}, parse_patch_series(patch.encode(), BOTH),
                        options or ApplyOptions())


# --- offsets and fuzz ----------------------------------------------------------


@needs_tools
def test_offset_as_git_apply(tmp_path: Path) -> None:
    base, patch = fixture("frob-shifted.c"), fixture(BOTH)

    applied = apply_text(base, patch)

    assert applied.files[PERCPU_C] == by_tool(tmp_path, base, patch, ["git", "apply", "-"])
    subject = "frob: check the pool first and never report a negative amount left"
    assert applied.notes == [f'patch {BOTH} ("{subject}"): mm/percpu.c hunk 1 applied at '
                             "offset 5 lines; mm/percpu.c hunk 2 applied at offset 5 lines"]


@needs_tools
def test_fuzz_1_as_patch_F1_and_refused_without_it(tmp_path: Path) -> None:
    base, patch = fixture("frob-fuzzed.c"), fixture(BOTH)

    with pytest.raises(UserError) as excinfo:
        apply_text(base, patch)
    assert str(excinfo.value).endswith(
        "does not apply: mm/percpu.c hunk 1 (@@ -20,9 +20,9 @@): its context matches with "
        "fuzz 1: try --fuzz 1")
    applied = apply_text(base, patch, ApplyOptions(fuzz=1))

    expected = by_tool(tmp_path, base, patch, ["patch", "-p1", "-F1", "--no-backup-if-mismatch"])
    assert applied.files[PERCPU_C] == expected
    assert applied.notes[0].endswith(
        "(--fuzz 1): mm/percpu.c hunk 1 applied at offset 5 lines with fuzz 1; "
        "mm/percpu.c hunk 2 applied at offset 5 lines")


def test_a_hunk_whose_context_is_gone_says_so() -> None:
    base = fixture("frob-orig.c").replace("frob_pool_used += n;", "frob_pool_used += n * 2;")

    with pytest.raises(UserError) as excinfo:
        apply_text(base, fixture(BOTH), ApplyOptions(fuzz=3))

    message = str(excinfo.value)
    assert "\n" not in message
    assert message.endswith("does not apply: mm/percpu.c hunk 1 (@@ -20,9 +20,9 @@): the "
                            "hunk's context is not in the base: rebase the patch or pick the "
                            "base it was made against")


# --- 3-way ----------------------------------------------------------------------


def make_repo(tmp_path: Path, head_text: str) -> Path:
    """A toy kernel whose history has frob-orig.c (the patch's pre-image blob)
    and whose HEAD has head_text, with a work tree that differs from HEAD."""
    repo = tmp_path / "linux"
    (repo / "mm").mkdir(parents=True)
    (repo / "include/linux").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / PERCPU_H).write_text(fixture("toy-base-percpu.h"))
    for message, text in (("frob: the toy pool", fixture("frob-orig.c")),
                          ("frob: the pool moved on", head_text)):
        (repo / PERCPU_C).write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "--allow-empty", "-m", message)
    (repo / PERCPU_C).write_text(head_text + "/* uncommitted work */\n")
    return repo


def repo_state(repo: Path) -> dict[str, bytes]:
    """Everything of the user's tree --3way must leave alone."""
    files = {str(p.relative_to(repo)): p.read_bytes() for p in repo.rglob("*")
             if p.is_file() and ".git/objects" not in str(p)}
    return {**files, "refs": git(repo, "for-each-ref").encode(),
            "status": git(repo, "status", "--porcelain").encode()}


def three_way_spec(repo: Path, patch_file: Path) -> snapshot.SourceSpec:
    return snapshot.SourceSpec("patch", repo, "HEAD", (patch_file,), three_way=True)


@needs_tools
def test_3way_merges_as_git_apply_3way_and_leaves_the_tree_alone(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, fixture("frob-fuzzed.c"))
    before = repo_state(repo)

    snap = snapshot.load_snapshot(three_way_spec(repo, FIXTURES / BOTH))

    assert repo_state(repo) == before
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "apply", "--3way", str(FIXTURES / BOTH))
    assert snap.read(PERCPU_C) == (clone / PERCPU_C).read_text()
    assert snap.applied[-1].endswith(": mm/percpu.c merged 3-way from blob 10eaa2f")


def test_3way_conflict_is_one_line(tmp_path: Path) -> None:
    head = fixture("frob-orig.c").replace("frob_pool_used += n;", "frob_pool_used += n * 2;")
    repo = make_repo(tmp_path, head)
    before = repo_state(repo)

    with pytest.raises(UserError) as excinfo:
        snapshot.load_snapshot(three_way_spec(repo, FIXTURES / BOTH))

    assert repo_state(repo) == before
    assert str(excinfo.value).endswith(
        "does not apply: mm/percpu.c hunk 1 (@@ -20,9 +20,9 @@), and the 3-way merge with its "
        "pre-image blob 10eaa2f conflicts: rebase the patch onto the base and resolve the "
        "conflict")


def test_without_3way_a_tree_source_suggests_it(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, fixture("frob-fuzzed.c"))
    spec = snapshot.SourceSpec("patch", repo, "HEAD", (FIXTURES / BOTH,))

    with pytest.raises(UserError) as excinfo:
        snapshot.load_snapshot(spec)

    assert str(excinfo.value).endswith(
        "mm/percpu.c hunk 1 (@@ -20,9 +20,9 @@): its context matches with fuzz 1 and the tree "
        "has its pre-image blob 10eaa2f: try --fuzz 1 or --3way")


# --- series -----------------------------------------------------------------------


@needs_tools
def test_mbox_series_skips_the_cover_and_orders_by_number(tmp_path: Path) -> None:
    mbox = fixture("frob-series.mbox")
    assert mbox.index("[PATCH 2/2]") < mbox.index("[PATCH 1/2]")

    series = parse_patch_series(mbox.encode(), "s.mbox")

    assert [(p.name, p.subject) for p in series] == [("s.mbox#1", TAKE), ("s.mbox#2", LEFT)]
    applied = apply_series({PERCPU_C: fixture("frob-shifted.c")}, series)

    # The two patches in order are the one-commit patch, which git applies.
    expected = by_tool(tmp_path, fixture("frob-shifted.c"), fixture(BOTH), ["git", "apply", "-"])
    assert applied.files[PERCPU_C] == expected


@pytest.mark.parametrize("tag", ["PATCH v2", "RFC PATCH", "RFC PATCH v3"])
def test_series_numbers_with_version_and_rfc_tags(tag: str) -> None:
    mbox = fixture("frob-series.mbox").replace("[PATCH ", f"[{tag} ")

    series = parse_patch_series(mbox.encode(), "s.mbox")

    assert [p.subject for p in series] == [TAKE, LEFT]


def test_stdin_patch_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path, fixture("frob-shifted.c"))
    data = fixture("frob-series.mbox").encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    monkeypatch.setattr(patches, "_stdin_data", [])

    snap = snapshot.load_snapshot(snapshot.SourceSpec("patch", repo, "HEAD", (Path("-"),)))

    assert snap.label.endswith("+stdin")
    assert snap.subjects == [TAKE, LEFT]
    assert patches.subject_of(Path("-")) == "*** SUBJECT HERE ***"
    expected = apply_series({PERCPU_C: fixture("frob-shifted.c")},
                            parse_patch_series(data, "s")).files[PERCPU_C]
    assert snap.read(PERCPU_C) == expected


# --- --new A..B -------------------------------------------------------------------


@pytest.fixture
def branches(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """orig -> take -> left (a branch), and orig -> shifted (upstream moved on)."""
    repo = make_repo(tmp_path, fixture("frob-orig.c"))
    git(repo, "checkout", "-q", "--", ".")
    revs = {"orig": git(repo, "rev-parse", "HEAD").strip()}
    for patch in parse_patch_series(fixture("frob-series.mbox").encode(), "s"):
        text = apply_series({PERCPU_C: (repo / PERCPU_C).read_text()}, [patch]).files[PERCPU_C]
        (repo / PERCPU_C).write_text(text or "")
        git(repo, "commit", "-q", "-am", patch.subject)
    revs["left"] = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "upstream", revs["orig"])
    (repo / PERCPU_C).write_text(fixture("frob-shifted.c"))
    git(repo, "commit", "-q", "-am", "upstream moved on")
    revs["shifted"] = git(repo, "rev-parse", "HEAD").strip()
    yield repo, revs


@needs_tools
def test_new_range_applies_its_commits_on_the_old_side(
        branches: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    repo, revs = branches
    options = SourceOptions(tree=repo, old=revs["shifted"], new=f"{revs['orig']}..{revs['left']}")

    old, new = options.specs()

    assert (old.kind, old.rev, new.kind, new.commits) == (
        "tree", revs["shifted"], "patch", f"{revs['orig']}..{revs['left']}")
    snap = snapshot.load_snapshot(new)
    assert snap.subjects == [TAKE, LEFT]
    # Each commit of the range goes by its id in the notes and refusals.
    commits = git(repo, "rev-list", "--reverse", f"{revs['orig']}..{revs['left']}").split()
    assert [note.split(" ")[1] for note in snap.applied] == [c[:12] for c in commits]
    expected = by_tool(tmp_path, fixture("frob-shifted.c"), fixture(BOTH), ["git", "apply", "-"])
    assert snap.read(PERCPU_C) == expected


def test_new_range_from_the_old_side_is_the_tree_at_its_end(
        branches: tuple[Path, dict[str, str]]) -> None:
    repo, revs = branches

    old, new = SourceOptions(tree=repo, new=f"{revs['orig']}..{revs['left']}").specs()

    assert (old.rev, new.kind, new.rev) == (revs["orig"], "tree", revs["left"])


def test_new_range_whose_start_is_not_an_ancestor_is_refused(
        branches: tuple[Path, dict[str, str]]) -> None:
    repo, revs = branches

    with pytest.raises(UserError) as excinfo:
        SourceOptions(tree=repo, new=f"{revs['shifted']}..{revs['left']}").specs()

    assert "\n" not in str(excinfo.value)
    assert str(excinfo.value).startswith(f"{revs['shifted']} is not an ancestor of {revs['left']}")


# --- the two upstream patches on the seed (a real 2009 tree) -------------------------

TREE = os.environ.get("PERCPU_DIFF_TREE")
SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_f7d4c1c3ef532e76.txt"
SEED_BASE, SEED_COMMIT = "fd1e8a1fe2b5^", "fd1e8a1fe2b5"
def upstream_patch(tmp_path: Path, commit: str) -> Path:
    """`git format-patch -1 commit` of the tree, made now (never committed here)."""
    assert TREE is not None
    target = tmp_path / f"{commit}.patch"
    target.write_bytes(subprocess.run(
        ["git", "--git-dir", TREE, "format-patch", "-1", "--stdout", commit],
        capture_output=True, check=True).stdout)
    return target


def seeded_percpu_c() -> str:
    """mm/percpu.c with the seed applied: the seed commit's own file (the
    seed patch rebuilds it byte for byte, tests/test_tree.py)."""
    assert TREE is not None
    return subprocess.run(["git", "--git-dir", TREE, "show", f"{SEED_COMMIT}:{PERCPU_C}"],
                          capture_output=True, text=True, check=True).stdout


def seed_spec(*more: Path, fuzz: int = 0) -> snapshot.SourceSpec:
    assert TREE is not None
    return snapshot.SourceSpec("patch", Path(TREE), SEED_BASE, (SEED, *more), fuzz=fuzz)


@pytest.mark.tree
@pytest.mark.skipif(not TREE, reason="PERCPU_DIFF_TREE not set: no kernel tree to read")
def test_upstream_patch_after_the_seed_applies_at_git_applys_offset(tmp_path: Path) -> None:
    patch = upstream_patch(tmp_path, "fb59e72e7e1")
    base = seeded_percpu_c()
    work = tmp_path / "by-git"
    (work / "mm").mkdir(parents=True)
    (work / PERCPU_C).write_text(base)
    said = subprocess.run(["git", "apply", "-v", str(patch)], cwd=work, capture_output=True,
                          text=True, check=True).stderr
    assert "Hunk #1 succeeded at 1338 (offset -9 lines)." in said

    snap = snapshot.load_snapshot(seed_spec(patch))

    assert snap.read(PERCPU_C) == (work / PERCPU_C).read_text()
    assert snap.applied[-1].endswith(": mm/percpu.c hunk 1 applied at offset -9 lines")
    assert snap.subjects[-1] == "percpu: make pcpu_build_alloc_info() clear static buffers"


@pytest.mark.tree
@pytest.mark.skipif(not TREE, reason="PERCPU_DIFF_TREE not set: no kernel tree to read")
def test_upstream_patch_needing_fuzz_applies_as_gnu_patch(tmp_path: Path) -> None:
    patch = upstream_patch(tmp_path, "ffe0d5a5754")
    base = seeded_percpu_c()
    # patch -F1 takes hunks 1 and 2 with fuzz 1 but not hunk 3, which
    # needs fuzz 2: percpu-diff refuses at --fuzz 1 alike, and says so.
    with pytest.raises(subprocess.CalledProcessError):
        by_tool(tmp_path, base, patch.read_text(),
                ["patch", "-p1", "-F1", "--dry-run", "--no-backup-if-mismatch"])
    with pytest.raises(UserError) as excinfo:
        snapshot.load_snapshot(seed_spec(patch, fuzz=1))
    assert str(excinfo.value).endswith(
        "does not apply: mm/percpu.c hunk 3 (@@ -1632,7 +1632,7 @@): its context matches with "
        "fuzz 2 and the tree has its pre-image blob 43d8cacfdaa: try --fuzz 2 or --3way")

    snap = snapshot.load_snapshot(seed_spec(patch, fuzz=2))

    expected = by_tool(tmp_path, base, patch.read_text(),
                       ["patch", "-p1", "-F2", "--no-backup-if-mismatch"])
    assert snap.read(PERCPU_C) == expected
    assert snap.applied[-1].endswith(
        "(--fuzz 2): mm/percpu.c hunk 1 applied at offset -13 lines with fuzz 1; mm/percpu.c "
        "hunk 2 applied at offset -16 lines with fuzz 1; mm/percpu.c hunk 3 applied at offset "
        "-18 lines with fuzz 2")


@pytest.mark.tree
@pytest.mark.skipif(not TREE, reason="PERCPU_DIFF_TREE not set: no kernel tree to read")
def test_show_and_run_with_the_upstream_patches(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import app

    assert TREE is not None
    first, second = upstream_patch(tmp_path, "fb59e72e7e1"), upstream_patch(tmp_path, "ffe0d5a5754")
    sources = ["--tree", TREE, "--base", SEED_BASE, "--patch", str(SEED), "--patch", str(first)]
    status = app.main(["show", *sources, "--scenario", "embed", "--possible", "0-3",
                       "--nr-cpus", "8", "--timeout-ms", "60000"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "mm/percpu.c hunk 1 applied at offset -9 lines" in captured.err
    status = app.main(["run", *sources, "--patch", str(second), "--fuzz", "2", "--cases", "20",
                       "--timeout-ms", "60000", "--out", str(tmp_path / "run")])
    captured = capsys.readouterr()
    assert status in (0, 1), captured.err  # 1: the seed's unexpected differences
    # After fb59e72e7e1, whose hunk took 9 lines out, the offsets are smaller.
    assert "hunk 3 applied at offset -14 lines with fuzz 2" in captured.err


@pytest.mark.tree
@pytest.mark.skipif(not TREE, reason="PERCPU_DIFF_TREE not set: no kernel tree to read")
def test_upstream_patch_merges_3way_as_git_apply_3way(tmp_path: Path) -> None:
    assert TREE is not None
    patch = upstream_patch(tmp_path, "ffe0d5a5754")
    repo = tmp_path / "by-git-3way"
    (repo / "mm").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / PERCPU_C).write_text(seeded_percpu_c())
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the seed")
    # The patch's pre-image, which git apply --3way looks up by its blob id.
    pre = subprocess.run(["git", "--git-dir", TREE, "show", f"ffe0d5a5754^:{PERCPU_C}"],
                         capture_output=True, text=True, check=True).stdout
    git(repo, "hash-object", "-w", "--stdin", stdin=pre)
    git(repo, "apply", "--3way", str(patch))

    snap = snapshot.load_snapshot(dataclasses.replace(seed_spec(patch), three_way=True))

    assert snap.read(PERCPU_C) == (repo / PERCPU_C).read_text()
    assert snap.applied[-1].endswith(": mm/percpu.c merged 3-way from blob 43d8cacfdaa")


# --- the command line -------------------------------------------------------------


def test_fuzz_and_3way_options_reach_the_patch_source_and_the_repro_words() -> None:
    from harness.cli import options
    from harness.cli.requests import RunRequest

    request = options.parse(["run", "--tree", "t", "--base", "b", "--patch", "-", "--fuzz", "1",
                             "--3way"])

    assert isinstance(request, RunRequest)
    old, new = request.sources.specs()
    assert (old.kind, old.fuzz, new.kind, new.fuzz, new.three_way, new.patches) == (
        "tree", 0, "patch", 1, True, (Path("-"),))
    assert request.sources.words() == ["--tree", "t", "--base", "b", "--patch", "-",
                                       "--fuzz", "1", "--3way"]


@pytest.mark.parametrize("flags", [["--fuzz", "1"], ["--3way"]])
def test_fuzz_and_3way_without_a_patch_are_refused(flags: list[str]) -> None:
    from harness.cli import options
    from harness.cli.requests import ShowRequest

    request = options.parse(["show", "--tree", "t", "--rev", "a", "--rev", "b", *flags])

    assert isinstance(request, ShowRequest)
    with pytest.raises(UserError) as excinfo:
        request.sources.specs()
    assert str(excinfo.value) == ("--fuzz and --3way are for patches: add --base REV --patch "
                                  "FILE, or --new A..B")


def test_a_negative_fuzz_is_refused() -> None:
    from harness.cli import options

    with pytest.raises(UserError) as excinfo:
        options.parse(["show", "--tree", "t", "--base", "b", "--patch", "p", "--fuzz", "-1"])
    assert str(excinfo.value).startswith("--fuzz -1 is out of range")


def test_a_hunk_at_line_1_must_match_the_start_as_in_git() -> None:
    # git apply: "error: patch failed: f.c:1"; patch takes it one line down.
    fd = parse_patch_series(b"--- a/f.c\n+++ b/f.c\n@@ -1,3 +1,3 @@\n x\n-y\n+Y\n z\n",
                            "p.patch")[0].files[0]

    with pytest.raises(UserError) as excinfo:
        applying.apply_file_diff("new top\nx\ny\nz\n", fd, patch_name="p.patch")

    assert str(excinfo.value) == ("patch p.patch does not apply: f.c hunk 1 (@@ -1,3 +1,3 @@): "
                                  "its context matches with fuzz 1: try --fuzz 1")
    assert applying.apply_file_diff("new top\nx\ny\nz\n", fd, fuzz=1)[0] == "new top\nx\nY\nz\n"

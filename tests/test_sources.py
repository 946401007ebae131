"""Tests for harness.sources: reading trees, directories and patched trees.

Every test builds its own tiny git "kernel" from the invented toy allocator
in fixtures/patches; nothing touches the network or a real kernel tree.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.core.errors import UserError
from harness.sources.snapshot import (
    REQUIRED_PATHS,
    PatchLoss,
    Snapshot,
    SourceSpec,
    load_snapshot,
    parse_source_arg,
)

FIXTURES = Path(__file__).parent / "fixtures" / "patches"
PERCPU_C, PERCPU_H = REQUIRED_PATHS
ARCH_FILE = "arch/toy/kernel/setup_percpu.c"
GIT_OPTIONS = (
    "-c",
    "user.name=Percpu Test",
    "-c",
    "user.email=test@example.invalid",
    "-c",
    "init.defaultBranch=main",
    "-c",
    "core.autocrlf=false",
)


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *GIT_OPTIONS, "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def write_files(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def commit_files(repo: Path, message: str, files: dict[str, str]) -> str:
    write_files(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@dataclass(frozen=True)
class ToyKernel:
    repo: Path
    base: str  # toy allocator as first written
    v1: str  # + "track the atom size" (3 hunks in percpu.c, 1 in percpu.h)
    v2: str  # + "halve the atom and reset it"
    patch_dir: Path  # outside the repo, so writing patches leaves the tree alone

    def format_patch(self, rev_range: str, name: str) -> Path:
        target = self.patch_dir / name
        target.write_text(git(self.repo, "format-patch", "--stdout", rev_range))
        return target


@pytest.fixture(autouse=True)
def hermetic_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No user or system git config, fixed dates, and scratch dirs under tmp_path."""
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_AUTHOR_DATE", "2009-02-20T12:00:00+0000")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2009-02-20T12:00:00+0000")
    scratch_root = tmp_path / "scratch"
    scratch_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_root))
    yield scratch_root


@pytest.fixture
def kernel(tmp_path: Path) -> ToyKernel:
    repo = tmp_path / "linux"
    repo.mkdir()
    git(repo, "init", "-q")
    base = commit_files(
        repo,
        "toy: base",
        {
            PERCPU_C: fixture_text("toy-base-percpu.c"),
            PERCPU_H: fixture_text("toy-base-percpu.h"),
            ARCH_FILE: "/* toy arch hook */\nint toy_arch_ready;\n",
        },
    )
    v1 = commit_files(
        repo,
        "toy: track the atom size",
        {PERCPU_C: fixture_text("toy-v1-percpu.c"), PERCPU_H: fixture_text("toy-v1-percpu.h")},
    )
    v2 = commit_files(
        repo, "toy: halve the atom and reset it", {PERCPU_C: fixture_text("toy-v2-percpu.c")}
    )
    patch_dir = tmp_path / "patches"
    patch_dir.mkdir()
    return ToyKernel(repo, base, v1, v2, patch_dir)


def error_message(excinfo: pytest.ExceptionInfo[UserError]) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


def patch_spec(kernel: ToyKernel, *patches: Path, base: str | None = None) -> SourceSpec:
    return SourceSpec("patch", kernel.repo, base or kernel.base, tuple(patches))


# --- parse_source_arg --------------------------------------------------------


def test_parse_tree_dir_and_patch_forms(tmp_path: Path) -> None:
    assert parse_source_arg("tree:/x/linux@v2.6.30") == SourceSpec(
        "tree", Path("/x/linux"), "v2.6.30"
    )
    assert parse_source_arg("dir:/x/linux-2.6.30") == SourceSpec("dir", Path("/x/linux-2.6.30"))
    assert parse_source_arg("patch:/x/linux@v2.6.29:/p/a.patch,b.mbox") == SourceSpec(
        "patch", Path("/x/linux"), "v2.6.29", (Path("/p/a.patch"), Path("b.mbox"))
    )


def test_parse_prefers_an_existing_directory_when_the_path_has_an_at(tmp_path: Path) -> None:
    odd = tmp_path / "linux@work"
    odd.mkdir()

    assert parse_source_arg(f"tree:{odd}@HEAD@{{1}}") == SourceSpec("tree", odd, "HEAD@{1}")
    assert parse_source_arg(f"patch:{odd}@main:a.patch") == SourceSpec(
        "patch", odd, "main", (Path("a.patch"),)
    )


def test_parse_bare_paths(kernel: ToyKernel, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    write_files(plain, {PERCPU_C: "int x;\n"})

    assert parse_source_arg(str(plain)) == SourceSpec("dir", plain)
    assert parse_source_arg(f"{kernel.repo}@v1") == SourceSpec("tree", kernel.repo, "v1")
    # A checked-out kernel is read as it is on disk...
    assert parse_source_arg(str(kernel.repo)) == SourceSpec("dir", kernel.repo)
    # ...but a repository without a checked-out mm/percpu.c needs a revision.
    (kernel.repo / PERCPU_C).unlink()
    with pytest.raises(UserError) as excinfo:
        parse_source_arg(str(kernel.repo))
    assert error_message(excinfo) == (
        f"{kernel.repo} is a git repository: add @REV to pick a revision, e.g. {kernel.repo}@HEAD"
    )


def test_parse_bare_clone_needs_a_revision(kernel: ToyKernel, tmp_path: Path) -> None:
    bare = tmp_path / "linux.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(kernel.repo), str(bare)], check=True)

    with pytest.raises(UserError) as excinfo:
        parse_source_arg(str(bare))

    assert "add @REV" in error_message(excinfo)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty source name"),
        ("tree:/x/linux", "names no revision: write tree:PATH@REV"),
        ("tree:@v1", "names no directory before '@'"),
        ("tree:/x/linux@", "names no revision after '@'"),
        ("dir:", "names no directory"),
        ("patch:/x/linux@v1", "names no patch file"),
        ("patch:/x/linux@v1:", "names no patch file"),
        ("patch:/x/linux@:a.patch", "names no base revision"),
        ("patch:/x/linux@v1:a.patch,,b.patch", "empty patch file name"),
        ("/no/such/linux", "not found: use tree:PATH@REV, dir:PATH, debian:X.Y[=VERSION] or patch"),
    ],
)
def test_parse_errors(text: str, fragment: str) -> None:
    with pytest.raises(UserError) as excinfo:
        parse_source_arg(text)

    assert fragment in error_message(excinfo)


def test_parse_directory_that_is_neither(tmp_path: Path) -> None:
    with pytest.raises(UserError) as excinfo:
        parse_source_arg(str(tmp_path))

    assert "neither a kernel source tree nor a git repository" in error_message(excinfo)


# --- tree sources --------------------------------------------------------------


def test_tree_reads_files_at_the_revision(kernel: ToyKernel) -> None:
    snap = load_snapshot(SourceSpec("tree", kernel.repo, "HEAD~2"), [*REQUIRED_PATHS, ARCH_FILE])

    assert snap.commit == kernel.base
    assert snap.label.endswith(f"@{kernel.base[:12]}")
    assert snap.files == {
        PERCPU_C: fixture_text("toy-base-percpu.c"),
        PERCPU_H: fixture_text("toy-base-percpu.h"),
        ARCH_FILE: "/* toy arch hook */\nint toy_arch_ready;\n",
    }
    assert snap.losses == [] and snap.patched_files == [] and snap.scratch_dir is None


def test_tree_reads_the_commit_not_the_work_tree(kernel: ToyKernel) -> None:
    (kernel.repo / PERCPU_C).write_text("/* uncommitted edit */\n")

    snap = load_snapshot(SourceSpec("tree", kernel.repo, "HEAD"))

    assert snap.read(PERCPU_C) == fixture_text("toy-v2-percpu.c")


def test_tree_from_a_bare_clone(kernel: ToyKernel, tmp_path: Path) -> None:
    bare = tmp_path / "linux.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(kernel.repo), str(bare)], check=True)

    snap = load_snapshot(SourceSpec("tree", bare, kernel.v1[:10]))

    assert snap.commit == kernel.v1
    assert snap.read(PERCPU_C) == fixture_text("toy-v1-percpu.c")


def test_optional_paths_absent_at_the_revision_are_left_out(kernel: ToyKernel) -> None:
    snap = load_snapshot(SourceSpec("tree", kernel.repo, "HEAD"), [ARCH_FILE, "arch/none/x.c"])

    assert set(snap.files) == {PERCPU_C, PERCPU_H, ARCH_FILE}
    assert not snap.has("arch/none/x.c")
    with pytest.raises(UserError) as excinfo:
        snap.read("arch/none/x.c")
    assert error_message(excinfo).startswith(f"arch/none/x.c is not in source {snap.label}: ")


def test_a_directory_at_a_requested_path_is_not_a_file(kernel: ToyKernel) -> None:
    snap = load_snapshot(SourceSpec("tree", kernel.repo, "HEAD"), ["arch/toy"])

    assert not snap.has("arch/toy")


def test_digest_tracks_content(kernel: ToyKernel, tmp_path: Path) -> None:
    at_v2 = load_snapshot(SourceSpec("tree", kernel.repo, kernel.v2))
    at_head = load_snapshot(SourceSpec("tree", kernel.repo, "HEAD"))
    at_base = load_snapshot(SourceSpec("tree", kernel.repo, kernel.base))

    assert at_v2.digest() == at_head.digest()
    assert at_v2.digest() != at_base.digest()
    plain = tmp_path / "plain"
    write_files(plain, at_v2.files)
    assert load_snapshot(SourceSpec("dir", plain)).digest() == at_v2.digest()


def test_unknown_revision(kernel: ToyKernel) -> None:
    with pytest.raises(UserError) as excinfo:
        load_snapshot(SourceSpec("tree", kernel.repo, "no-such-tag"))

    assert error_message(excinfo) == (
        f"unknown revision 'no-such-tag' in {kernel.repo}: check the name with "
        f"'git -C {kernel.repo} log --oneline -1 no-such-tag'"
    )


def test_revision_that_looks_like_an_option_is_refused(kernel: ToyKernel) -> None:
    with pytest.raises(UserError) as excinfo:
        load_snapshot(SourceSpec("tree", kernel.repo, "--output=/tmp/x"))

    assert "invalid revision" in error_message(excinfo)


def test_not_a_git_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    write_files(plain, {PERCPU_C: "int x;\n", PERCPU_H: "int y;\n"})

    with pytest.raises(UserError) as excinfo:
        load_snapshot(SourceSpec("tree", plain, "HEAD"))

    assert error_message(excinfo) == (
        f"{plain} is not a git repository (no .git, not a bare repository): pass the top of "
        f"a kernel git tree, or use dir:{plain} for a plain directory"
    )


def test_subdirectory_of_a_repository_is_not_taken_for_it(kernel: ToyKernel) -> None:
    with pytest.raises(UserError) as excinfo:
        load_snapshot(SourceSpec("tree", kernel.repo / "mm", "HEAD"))

    assert "is not a git repository" in error_message(excinfo)


def test_missing_tree_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError) as excinfo:
        load_snapshot(SourceSpec("tree", tmp_path / "nope", "HEAD"))

    assert "does not exist" in error_message(excinfo)


def test_tree_without_percpu_c_is_not_a_kernel(tmp_path: Path) -> None:
    repo = tmp_path / "notkernel"
    repo.mkdir()
    git(repo, "init", "-q")
    commit_files(repo, "only a header", {PERCPU_H: fixture_text("toy-base-percpu.h")})

    with pytest.raises(UserError) as excinfo:
        load_snapshot(SourceSpec("tree", repo, "HEAD"))

    message = error_message(excinfo)
    assert message.startswith(f"mm/percpu.c is missing from {repo} at HEAD (")
    assert message.endswith(
        ": a percpu-diff source must be a Linux kernel tree "
        "(with mm/percpu.c and include/linux/percpu.h)"
    )


def test_git_location_variables_in_the_environment_are_ignored(
    kernel: ToyKernel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))

    snap = load_snapshot(SourceSpec("tree", kernel.repo, "HEAD"))

    assert snap.commit == kernel.v2


# --- dir sources -----------------------------------------------------------------


def test_dir_reads_files_on_disk_without_touching_them(tmp_path: Path) -> None:
    root = tmp_path / "linux-2.6.30"
    files = {PERCPU_C: "int a;\r\nint b;", PERCPU_H: "#define X 1\n", ARCH_FILE: "int c;\n"}
    root.mkdir()
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(text.encode())
    before = tree_mtimes(root)

    snap = load_snapshot(SourceSpec("dir", root), [ARCH_FILE, "arch/none/x.c"])

    assert snap.files == files
    assert snap.label == str(root)
    assert snap.commit is None
    assert tree_mtimes(root) == before


def test_dir_without_percpu_c(tmp_path: Path) -> None:
    write_files(tmp_path / "half", {PERCPU_H: "int y;\n"})

    with pytest.raises(UserError) as excinfo:
        load_snapshot(SourceSpec("dir", tmp_path / "half"))

    assert error_message(excinfo) == (
        f"mm/percpu.c is missing from directory {tmp_path / 'half'}: a percpu-diff source must "
        "be a Linux kernel tree (with mm/percpu.c and include/linux/percpu.h)"
    )


def test_dir_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(UserError) as excinfo:
        load_snapshot(SourceSpec("dir", tmp_path / "nope"))

    assert "does not exist" in error_message(excinfo)


@pytest.mark.parametrize(
    "spec",
    [
        SourceSpec("dir", Path("/x"), rev="v1"),
        SourceSpec("tree", Path("/x")),
        SourceSpec("tree", Path("/x"), "v1", (Path("a.patch"),)),
        SourceSpec("patch", Path("/x"), "v1"),
    ],
)
def test_inconsistent_specs_are_refused(spec: SourceSpec) -> None:
    with pytest.raises(UserError) as excinfo:
        load_snapshot(spec)

    error_message(excinfo)


def test_requested_paths_must_stay_inside_the_tree(kernel: ToyKernel) -> None:
    with pytest.raises(ValueError):
        load_snapshot(SourceSpec("tree", kernel.repo, "HEAD"), ["../etc/passwd"])


# --- patch sources -----------------------------------------------------------------


def test_format_patch_applied_to_its_base(kernel: ToyKernel, hermetic_git: Path) -> None:
    patch = kernel.format_patch(f"{kernel.base}..{kernel.v1}", "0001-atom.patch")

    snap = load_snapshot(patch_spec(kernel, patch), [*REQUIRED_PATHS, ARCH_FILE])

    assert snap.label == f"{kernel.base[:12]}+0001-atom.patch"
    assert snap.commit == kernel.base
    assert snap.files == {
        PERCPU_C: fixture_text("toy-v1-percpu.c"),
        PERCPU_H: fixture_text("toy-v1-percpu.h"),
        ARCH_FILE: "/* toy arch hook */\nint toy_arch_ready;\n",
    }
    assert snap.patched_files == [PERCPU_H, PERCPU_C]
    assert snap.losses == []
    assert snap.scratch_dir is not None
    assert snap.scratch_dir.parent == hermetic_git
    assert snap.scratch_dir.name.startswith("percpu-diff-src-")
    for path, text in snap.files.items():
        assert (snap.scratch_dir / path).read_text() == text


def test_mbox_series_applies_in_order(kernel: ToyKernel) -> None:
    series = kernel.format_patch(f"{kernel.base}..{kernel.v2}", "series.mbox")

    snap = load_snapshot(patch_spec(kernel, series))

    assert snap.read(PERCPU_C) == fixture_text("toy-v2-percpu.c")
    assert snap.read(PERCPU_H) == fixture_text("toy-v1-percpu.h")
    assert snap.label == f"{kernel.base[:12]}+series.mbox"


def test_separate_patch_files_apply_in_the_order_given(kernel: ToyKernel) -> None:
    first = kernel.format_patch(f"{kernel.base}..{kernel.v1}", "0001.patch")
    second = kernel.format_patch(f"{kernel.v1}..{kernel.v2}", "0002.patch")

    snap = load_snapshot(patch_spec(kernel, first, second))
    assert snap.read(PERCPU_C) == fixture_text("toy-v2-percpu.c")
    assert snap.label == f"{kernel.base[:12]}+0001.patch+0002.patch"

    with pytest.raises(UserError) as excinfo:
        load_snapshot(patch_spec(kernel, second, first))
    assert error_message(excinfo).startswith(
        f'patch {second} ("toy: halve the atom and reset it") does not apply: mm/percpu.c hunk 1')


def test_patch_on_a_bare_clone(kernel: ToyKernel, tmp_path: Path) -> None:
    bare = tmp_path / "linux.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(kernel.repo), str(bare)], check=True)
    patch = kernel.format_patch(f"{kernel.base}..{kernel.v1}", "0001.patch")

    snap = load_snapshot(SourceSpec("patch", bare, kernel.base, (patch,)))

    assert snap.read(PERCPU_C) == fixture_text("toy-v1-percpu.c")


def test_truncated_patch_applies_the_intact_part(kernel: ToyKernel) -> None:
    whole = kernel.format_patch(f"{kernel.base}..{kernel.v1}", "whole.patch").read_text()
    # Cut mid-line inside the last hunk, leaving no trailing newline.
    cut = whole[: whole.rindex("\treturn off;\n") + len("\treturn o")]
    truncated = kernel.patch_dir / "cut.patch"
    truncated.write_text(cut)

    snap = load_snapshot(patch_spec(kernel, truncated))

    assert snap.losses == [PatchLoss(PERCPU_C, 3, "@@ -26,8 +28,8 @@", 3, 3)]
    assert snap.read(PERCPU_C) == fixture_text("toy-v1-percpu.c")
    assert snap.read(PERCPU_H) == fixture_text("toy-v1-percpu.h")
    assert [loss.describe() for loss in snap.losses] == [
        "mm/percpu.c hunk 3 (@@ -26,8 +28,8 @@): input ends inside the hunk; 3 of 8 old "
        "lines and 3 of 8 new lines missing; the intact 5 lines were applied"
    ]


def test_patch_creating_an_unrequested_file(kernel: ToyKernel) -> None:
    new_file = "mm/toy-extra.c"
    # It changes mm/percpu.c too: a patch that changes nothing the shim is
    # built from is refused (test_faults_input).
    extra = commit_files(kernel.repo, "toy: add an extra file", {
        new_file: "int extra;\n", PERCPU_C: fixture_text("toy-v2-percpu.c") + "/* extra */\n"})
    patch = kernel.format_patch(f"{kernel.v2}..{extra}", "extra.patch")

    snap = load_snapshot(patch_spec(kernel, patch, base=kernel.v2))

    assert snap.patched_files == [PERCPU_C, new_file]
    assert snap.read(new_file) == "int extra;\n"
    assert snap.scratch_dir is not None
    assert (snap.scratch_dir / new_file).read_text() == "int extra;\n"


def test_patch_can_create_the_kernel_files(kernel: ToyKernel) -> None:
    # Like the 2009 commit that introduced mm/percpu.c: absent at the base.
    git(kernel.repo, "rm", "-q", PERCPU_C)
    git(kernel.repo, "commit", "-q", "-m", "toy: remove percpu.c")
    removed = git(kernel.repo, "rev-parse", "HEAD").strip()
    readd = kernel.patch_dir / "readd.diff"
    readd.write_text(git(kernel.repo, "diff", removed, kernel.v2))

    snap = load_snapshot(patch_spec(kernel, readd, base=removed))

    assert snap.read(PERCPU_C) == fixture_text("toy-v2-percpu.c")


def bad_patch(kernel: ToyKernel, name: str, data: bytes | None = None) -> Path:
    target = kernel.patch_dir / name
    target.write_bytes((FIXTURES / name).read_bytes() if data is None else data)
    return target


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "does-not-apply.patch",
            "patch {path} does not apply: mm/percpu.c hunk 1 (@@ -26,8 +26,8 @@): the hunk's "
            "context is not in the base: rebase the patch or pick the base it was made against",
        ),
        (
            "escape-dotdot.patch",
            "patch path '../etc/passwd' in {path} escapes the source tree: patches must use "
            "paths inside the kernel tree",
        ),
        (
            "escape-absolute.patch",
            "patch path '/etc/passwd' in {path} escapes the source tree: patches must use "
            "paths inside the kernel tree",
        ),
        (
            "binary-nul.patch",
            "{path} is not a text patch (binary data at byte 375): pass a unified diff or git "
            "format-patch mbox",
        ),
        (
            "not-utf8.patch",
            "{path} is not a text patch (binary data at byte 81): pass a unified diff or git "
            "format-patch mbox",
        ),
        (
            "empty.patch",
            "{path} contains no diff: pass a unified diff (diff -u, git diff) or git "
            "format-patch output",
        ),
    ],
)
def test_bad_patches_are_refused_and_leave_nothing(
    kernel: ToyKernel, hermetic_git: Path, name: str, expected: str
) -> None:
    patch = bad_patch(kernel, name)

    with pytest.raises(UserError) as excinfo:
        load_snapshot(patch_spec(kernel, patch))

    assert error_message(excinfo) == expected.format(path=patch)
    assert list(hermetic_git.iterdir()) == []


def test_missing_patch_file(kernel: ToyKernel) -> None:
    with pytest.raises(UserError) as excinfo:
        load_snapshot(patch_spec(kernel, kernel.patch_dir / "nope.patch"))

    assert error_message(excinfo).startswith(f"patch file {kernel.patch_dir / 'nope.patch'} ")


def test_unknown_base_revision(kernel: ToyKernel) -> None:
    patch = kernel.format_patch(f"{kernel.base}..{kernel.v1}", "0001.patch")

    with pytest.raises(UserError) as excinfo:
        load_snapshot(patch_spec(kernel, patch, base="v9.9"))

    assert error_message(excinfo).startswith(f"unknown revision 'v9.9' in {kernel.repo}: ")


def test_failure_after_writing_removes_the_scratch_dir(
    kernel: ToyKernel, hermetic_git: Path
) -> None:
    # The patch applies and other files get written, then the kernel check fails.
    git(kernel.repo, "rm", "-q", PERCPU_C)
    git(kernel.repo, "commit", "-q", "-m", "toy: remove percpu.c")
    patch = kernel.format_patch(f"{kernel.v2}..HEAD", "remove.patch")

    with pytest.raises(UserError) as excinfo:
        load_snapshot(patch_spec(kernel, patch, base=kernel.v2))

    assert error_message(excinfo).startswith("mm/percpu.c is missing from ")
    assert list(hermetic_git.iterdir()) == []


def test_write_error_removes_the_scratch_dir(
    kernel: ToyKernel, hermetic_git: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    patch = kernel.format_patch(f"{kernel.base}..{kernel.v1}", "0001.patch")
    real_write_bytes = Path.write_bytes
    written: list[Path] = []

    def fail_second_write(self: Path, data: bytes) -> int:
        if written:
            raise OSError(28, "No space left on device")
        written.append(self)
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", fail_second_write)

    with pytest.raises(UserError) as excinfo:
        load_snapshot(patch_spec(kernel, patch))

    assert "No space left on device" in error_message(excinfo)
    assert written and not written[0].exists()
    assert list(hermetic_git.iterdir()) == []


# --- the user's tree is only read ----------------------------------------------------


def tree_mtimes(root: Path) -> dict[str, int]:
    return {
        str(path.relative_to(root)): path.stat().st_mtime_ns
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def tree_state(repo: Path) -> tuple[str, dict[str, int]]:
    # --no-optional-locks: our own check must not refresh the index either.
    status = git(repo, "--no-optional-locks", "status", "--porcelain", "--untracked-files=all")
    return status, tree_mtimes(repo)


def test_loading_never_modifies_the_users_tree(kernel: ToyKernel) -> None:
    (kernel.repo / PERCPU_C).write_text("/* work in progress */\n")
    (kernel.repo / "notes.txt").write_text("untracked\n")
    patch = kernel.format_patch(f"{kernel.base}..{kernel.v1}", "0001.patch")
    series = kernel.format_patch(f"{kernel.base}..{kernel.v2}", "series.mbox")
    status_before, mtimes_before = tree_state(kernel.repo)
    assert status_before  # the tree is dirty, and must stay exactly so
    assert ".git/index" in mtimes_before

    snaps: list[Snapshot] = [
        load_snapshot(SourceSpec("tree", kernel.repo, "HEAD"), [*REQUIRED_PATHS, ARCH_FILE]),
        load_snapshot(SourceSpec("tree", kernel.repo, kernel.base)),
        load_snapshot(patch_spec(kernel, patch)),
        load_snapshot(patch_spec(kernel, series)),
    ]
    with pytest.raises(UserError):
        load_snapshot(patch_spec(kernel, bad_patch(kernel, "does-not-apply.patch")))

    mtimes_after = tree_mtimes(kernel.repo)
    status_after, _ = tree_state(kernel.repo)
    assert mtimes_after == mtimes_before
    assert status_after == status_before
    assert (kernel.repo / PERCPU_C).read_text() == "/* work in progress */\n"
    assert all(snap.read(PERCPU_C) != "/* work in progress */\n" for snap in snaps)


def test_a_kernel_older_than_the_percpu_allocator_is_named_so(tmp_path: Path) -> None:
    write_files(tmp_path / "old", {PERCPU_H: "int y;\n", "mm/allocpercpu.c": "int z;\n"})
    with pytest.raises(UserError) as excinfo:
        load_snapshot(SourceSpec("dir", tmp_path / "old"))
    assert error_message(excinfo) == (
        f"mm/percpu.c is missing from directory {tmp_path / 'old'}: the kernel is older than "
        "the percpu first-chunk allocator (fbf59bc9d74, 2.6.30): name a revision from "
        "February 2009 on")

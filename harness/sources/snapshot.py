"""Kinds of kernel source percpu-diff reads, and loading a snapshot of one.

A source is named on the command line as one of:

    tree:PATH@REV
        A git work tree, or a bare repository, read at revision REV (any
        name git resolves to a commit: tag, branch, hash, HEAD~3).
    dir:PATH
        A plain directory holding a kernel source tree, read as it is on disk.
    debian:X.Y[=VERSION]
        The kernel tree of Debian's linux-source-X.Y package (debian:6.1,
        debian:6.12), apt's candidate version or the one pinned, fetched with
        apt and kept in a verified per-user cache (harness/debian.py).
    patch:PATH@BASE:FILE[,FILE...]
        The git tree PATH at revision BASE with the patch files applied in
        memory, in order.  Each FILE is a unified diff, a git format-patch
        file or an mbox series of them ('-': standard input).  The patched
        files are written to a fresh scratch directory
        (Snapshot.scratch_dir) for inspection.  On the command line,
        --fuzz N and --3way say how hunks are placed (patches.py), and
        --new A..B makes such a source of a range's commits (range_spec).
    PATH
        An existing directory: one containing mm/percpu.c is read as
        dir:PATH; a git repository needs a revision, PATH@REV.
    PATH@REV
        The same as tree:PATH@REV.

PATH may itself contain '@': the split is made at the first '@' that ends
the name of an existing directory.  REV and BASE cannot contain ':' (git
forbids it in ref names), and FILE names cannot contain ','.

Sources are only ever read.  Git trees are read with plumbing that does not
touch the work tree or index (rev-parse, cat-file), so a user's checkout is
safe to point at while they work in it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.core import scratch
from harness.core.errors import UserError
from harness.core.kernel_files import (
    ALLOCPERCPU_C,
    ARCH_FILES,
    PERCPU_C,
    PERCPU_H,
    PERCPU_INTERNAL_H,
    PERCPU_VM_C,
    VMALLOC_C,
    X86_KCONFIG,
)
from harness.sources import debian
from harness.sources.applying import ApplyOptions, apply_series, idle_patches, touched_paths
from harness.sources.patches import STDIN, Patch, PatchLoss, parse_patch_series, read_input

__all__ = [
    "REQUIRED_PATHS",
    "PatchLoss",
    "Snapshot",
    "SourceSpec",
    "is_ancestor",
    "load_snapshot",
    "parse_source_arg",
    "range_spec",
    "resolve_commit",
]

REQUIRED_PATHS = ("mm/percpu.c", "include/linux/percpu.h")
# Read when present: the modern generation's other mm/ files, the arch
# flows' files, and mm/vmalloc.c and arch/x86/Kconfig, whose contracts
# some stubs follow.
OPTIONAL_PATHS = (PERCPU_INTERNAL_H, PERCPU_VM_C, *ARCH_FILES.values(), VMALLOC_C, X86_KCONFIG)

SourceKind = Literal["tree", "patch", "dir", "debian"]

_SYNTAX = ("use tree:PATH@REV, dir:PATH, debian:X.Y[=VERSION] or "
           "patch:PATH@BASE:FILE[,FILE...]")
_KERNEL_TREE = (
    "a percpu-diff source must be a Linux kernel tree (with " + " and ".join(REQUIRED_PATHS) + ")"
)
# Variables that would point git at some other repository or index than
# the one we name explicitly (git's own list of "local repo" variables).
_GIT_LOCATION_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_SHALLOW_FILE",
    "GIT_GRAFT_FILE",
    "GIT_REPLACE_REF_BASE",
    "GIT_NO_REPLACE_OBJECTS",
)


@dataclass(frozen=True)
class SourceSpec:
    kind: SourceKind
    path: Path  # git work tree or bare git dir (tree, patch), or a plain directory (dir)
    rev: str | None = None  # revision for tree; base revision for patch
    patches: tuple[Path, ...] = ()  # for kind "patch": patch files or mbox series, in order
    package: debian.DebianSpec | None = None  # for kind "debian"
    # For kind "patch": GNU patch's fuzz (0: exact, as git apply), and
    # whether a hunk that does not apply is 3-way merged (git apply --3way).
    fuzz: int = 0
    three_way: bool = False
    # For kind "patch": a commit range A..B whose commits are applied on
    # rev in order, after the patch files (git format-patch A..B).
    commits: str | None = None


@dataclass
class Snapshot:
    label: str  # "<tree dir name>@<12-hex>", "<12-hex>+<patchname>[+...]", or the directory path
    commit: str | None  # full commit hash for tree and patch bases, None for dir
    files: dict[str, str]  # path -> text, for every requested path the source has
    losses: list[PatchLoss] = field(default_factory=list)
    patched_files: list[str] = field(default_factory=list)
    # Patch sources: the subject of each patch applied, in order, and one
    # note per patch that applied at an offset, with fuzz or by a 3-way merge.
    subjects: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    # Patch sources only: where the patched files were written.  The caller
    # owns it and removes it when done with the snapshot.
    scratch_dir: Path | None = None

    def read(self, path: str) -> str:
        try:
            return self.files[path]
        except KeyError:
            raise UserError(
                f"{path} is not in source {self.label}: pick a source whose kernel version has it"
            ) from None

    def has(self, path: str) -> bool:
        return path in self.files

    def digest(self) -> str:
        """sha256 over the files, sorted by path; equal digests mean identical sources."""
        sha = hashlib.sha256()
        for path, text in sorted(self.files.items()):
            data = _encode(text)
            # Length-prefix each part so no two different file sets hash alike.
            sha.update(f"{len(path.encode())}:{path}:{len(data)}:".encode())
            sha.update(data)
        return sha.hexdigest()


# --- command-line syntax ----------------------------------------------------


def parse_source_arg(text: str) -> SourceSpec:
    """Parse a source named on the command line (syntax in the module docstring)."""
    if not text.strip():
        raise UserError(f"empty source name: {_SYNTAX}")
    kind, colon, rest = text.partition(":")
    if colon and kind == "dir":
        if not rest:
            raise UserError(f"source '{text}' names no directory: write dir:PATH")
        return SourceSpec("dir", Path(rest).expanduser())
    if colon and kind == "tree":
        path, rev = _split_at_rev(rest, text, "tree:PATH@REV")
        return SourceSpec("tree", path, rev)
    if colon and kind == "patch":
        return _parse_patch_arg(rest, text)
    if colon and kind == "debian":
        return SourceSpec("debian", Path(), package=debian.parse_debian_arg(rest))
    return _parse_bare_arg(text)


def _parse_patch_arg(rest: str, text: str) -> SourceSpec:
    form = "patch:PATH@BASE:FILE[,FILE...]"
    path, base_and_files = _split_at_rev(rest, text, form)
    base, colon, names = base_and_files.partition(":")
    if not base:
        raise UserError(f"source '{text}' names no base revision: write {form}")
    if not colon or not names:
        raise UserError(f"source '{text}' names no patch file: write {form}")
    files = names.split(",")
    if not all(files):
        raise UserError(f"source '{text}' has an empty patch file name: write {form}")
    return SourceSpec("patch", path, base, tuple(Path(name).expanduser() for name in files))


def _split_at_rev(rest: str, text: str, form: str) -> tuple[Path, str]:
    ats = [i for i, ch in enumerate(rest) if ch == "@"]
    if not ats:
        raise UserError(f"source '{text}' names no revision: write {form}")
    # Prefer a split that names an existing directory, so PATH may contain '@'.
    at = next((i for i in ats if i and Path(rest[:i]).expanduser().is_dir()), ats[0])
    path, rev = rest[:at], rest[at + 1 :]
    if not path:
        raise UserError(f"source '{text}' names no directory before '@': write {form}")
    if not rev:
        raise UserError(f"source '{text}' names no revision after '@': write {form}")
    return Path(path).expanduser(), rev


def _parse_bare_arg(text: str) -> SourceSpec:
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / REQUIRED_PATHS[0]).is_file():
            return SourceSpec("dir", path)
        if _looks_like_git(path):
            raise UserError(
                f"{text} is a git repository: add @REV to pick a revision, e.g. {text}@HEAD"
            )
        raise UserError(
            f"{text} is neither a kernel source tree nor a git repository: pass a directory "
            f"containing {REQUIRED_PATHS[0]}, or {_SYNTAX}"
        )
    if "@" in text:
        tree, rev = _split_at_rev(text, text, "PATH@REV")
        if tree.is_dir():
            return SourceSpec("tree", tree, rev)
    raise UserError(f"source '{text}' not found: {_SYNTAX}")


# --- loading ----------------------------------------------------------------


def load_snapshot(spec: SourceSpec, paths: Sequence[str] = OPTIONAL_PATHS) -> Snapshot:
    """Read the requested paths that exist (and always REQUIRED_PATHS) from the source."""
    wanted = _wanted_paths(paths)
    _check_spec(spec)
    if spec.kind == "debian":
        assert spec.package is not None
        return _load_debian(spec.package, wanted)
    if spec.kind == "dir":
        return _load_dir(spec.path, wanted)
    if spec.kind == "tree":
        assert spec.rev is not None
        return _load_tree(spec.path, spec.rev, wanted)
    assert spec.rev is not None
    return _load_patched(spec, wanted)


def _wanted_paths(paths: Sequence[str]) -> list[str]:
    # Requested paths come from code, not users: a bad one is a harness bug.
    for path in paths:
        parts = path.split("/")
        if not path or path.startswith("/") or ".." in parts or "\n" in path or "\0" in path:
            raise ValueError(f"requested path {path!r} is not a plain path inside the tree")
    return list(dict.fromkeys([*REQUIRED_PATHS, *paths]))


def _check_spec(spec: SourceSpec) -> None:
    if spec.kind not in ("tree", "dir", "patch", "debian"):
        raise UserError(f"unknown source kind {spec.kind!r}: {_SYNTAX}")
    if spec.kind == "debian":
        if spec.package is None:
            raise UserError(f"debian source names no package: {_SYNTAX}")
        return
    if spec.kind == "dir" and (spec.rev is not None or spec.patches):
        raise UserError(f"dir source {spec.path} takes no revision or patches: {_SYNTAX}")
    if spec.kind != "dir" and not spec.rev:
        raise UserError(f"{spec.kind} source {spec.path} names no revision: {_SYNTAX}")
    if spec.kind == "tree" and spec.patches:
        raise UserError(f"tree source {spec.path} takes no patches: {_SYNTAX}")
    if spec.kind == "patch" and not spec.patches and not spec.commits:
        raise UserError(f"patch source {spec.path} names no patch file: {_SYNTAX}")


def _require_kernel_files(files: dict[str, str], where: str,
                          older: Callable[[], bool] = lambda: False) -> None:
    """Both required files, or one line on why not.  `older` says whether the
    source holds mm/allocpercpu.c, asked only when mm/percpu.c is missing."""
    if PERCPU_C not in files and older():
        # A kernel, but from before the percpu allocator of fbf59bc9d74.
        raise UserError(f"{PERCPU_C} is missing from {where}: the kernel is older than the "
                        "percpu first-chunk allocator (fbf59bc9d74, 2.6.30): name a revision "
                        "from February 2009 on")
    for path in REQUIRED_PATHS:
        if path not in files:
            raise UserError(f"{path} is missing from {where}: {_KERNEL_TREE}")


def _load_dir(root: Path, wanted: list[str]) -> Snapshot:
    if not root.is_dir():
        raise UserError(
            f"source directory {root} does not exist: pass the top of a kernel source tree"
        )
    files: dict[str, str] = {}
    for path in wanted:
        target = root / path
        if target.is_file():
            files[path] = _decode(_read_bytes(target))
    _require_kernel_files(files, f"directory {root}", (root / ALLOCPERCPU_C).is_file)
    return Snapshot(label=str(root), commit=None, files=files)


def _load_debian(spec: debian.DebianSpec, wanted: list[str]) -> Snapshot:
    fetched = debian.fetch(spec, wanted, progress=_note)
    label = f"debian:{spec.series}={fetched.version}"
    _require_kernel_files(fetched.files, f"{fetched.package} {fetched.version}")
    return Snapshot(label=label, commit=None, files=dict(fetched.files))


def _note(message: str) -> None:
    # Fetching takes seconds the first time: say what is happening, on
    # stderr, so JSON on stdout stays clean.
    print(f"percpu-diff: {message}", file=sys.stderr, flush=True)


def _load_tree(root: Path, rev: str, wanted: list[str]) -> Snapshot:
    repo = _GitRepo.open(root)
    commit = repo.resolve(rev)
    label = f"{_tree_name(root)}@{commit[:12]}"
    files = repo.read_files(commit, wanted)
    _require_kernel_files(files, f"{root} at {rev} ({label})",
                          lambda: bool(repo.read_files(commit, [ALLOCPERCPU_C])))
    return Snapshot(label=label, commit=commit, files=files)


def _load_patched(spec: SourceSpec, wanted: list[str]) -> Snapshot:
    assert spec.rev is not None
    repo = _GitRepo.open(spec.path)
    commit = repo.resolve(spec.rev)
    patches = [patch for pf in spec.patches for patch in _read_patch(pf)]
    if spec.commits is not None:
        # Each commit of the range goes by its own id.
        patches += [dataclasses.replace(patch, name=(patch.commit or patch.name)[:12])
                    for patch in parse_patch_series(repo.format_patch(spec.commits), spec.commits)]
    for warning in idle_patches(patches, wanted):
        _note(f"warning: {warning}")
    touched = touched_paths(patches)
    # Touched paths are read even when not requested, so that a patch that
    # applies nowhere we look is still caught.
    needed = list(dict.fromkeys([*wanted, *touched]))
    base = repo.read_files(commit, needed)
    names = [("stdin" if pf == STDIN else pf.name) for pf in spec.patches]
    label = commit[:12] + "".join(f"+{name}" for name in [*names, *filter(None, [spec.commits])])
    where = f"{spec.path} at {spec.rev} with the patches applied ({label})"
    options = ApplyOptions(spec.fuzz, spec.three_way, repo.read_blob)
    scratch = _make_scratch_dir()
    try:
        applied = apply_series({path: base.get(path) for path in needed}, patches, options)
        present = {path: text for path, text in applied.files.items() if text is not None}
        _write_tree(scratch, present)
        # Read back what was written, so files are exactly what can be inspected.
        files = {path: _decode(_read_bytes(scratch / path)) for path in present}
        _require_kernel_files(files, where)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return Snapshot(label=label, commit=commit, files=files, losses=applied.losses,
                    patched_files=touched, scratch_dir=scratch,
                    subjects=[patch.subject for patch in patches], applied=applied.notes)


def _read_patch(patch_file: Path) -> list[Patch]:
    if patch_file == STDIN:
        return parse_patch_series(read_input(STDIN), "stdin")
    if not patch_file.is_file():
        raise UserError(
            f"patch file {patch_file} not found: check the FILE part of patch:PATH@BASE:FILE"
        )
    return parse_patch_series(_read_bytes(patch_file), str(patch_file))


def _make_scratch_dir() -> Path:
    # Marked with its owner, so that one left by a killed run is cleaned at start-up.
    return scratch.make("src")


def _write_tree(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_encode(text))
        except OSError as err:
            raise UserError(
                f"cannot write the patched {path} to {root} ({err.strerror}): "
                "free some space or set TMPDIR to a writable directory"
            ) from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise UserError(f"cannot read {path} ({err.strerror}): check its permissions") from None


# Kernel sources are UTF-8 in practice, but a stray Latin-1 byte in a comment
# must not stop us, and must survive a round trip unchanged.
def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


# --- git ----------------------------------------------------------------------


def _looks_like_git(path: Path) -> bool:
    return (path / ".git").exists() or _is_bare_layout(path)


def _is_bare_layout(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def _git_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _GIT_LOCATION_VARS}
    env["GIT_OPTIONAL_LOCKS"] = "0"  # never refresh the user's index as a side effect
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def _run_git(args: Sequence[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", *args],
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            capture_output=True,
            env=_git_env(),
            check=False,
        )
    except FileNotFoundError:
        raise UserError(
            "git is not installed or not on PATH: install git to read kernel trees"
        ) from None


def _first_line(data: bytes) -> str:
    lines = data.decode("utf-8", "replace").strip().splitlines()
    return lines[0] if lines else "no message"


@dataclass(frozen=True)
class _GitRepo:
    path: Path  # as the user named it, for messages
    git_dir: Path

    @classmethod
    def open(cls, path: Path) -> _GitRepo:
        if not path.is_dir():
            raise UserError(
                f"{path} does not exist or is not a directory: pass the top of a kernel git tree"
            )
        # Look only at PATH itself: letting git search upwards would quietly
        # read some enclosing repository instead.
        if (path / ".git").exists():
            args = ["-C", str(path), "rev-parse", "--absolute-git-dir"]
        elif _is_bare_layout(path):
            args = ["--git-dir", str(path), "rev-parse", "--absolute-git-dir"]
        else:
            raise UserError(
                f"{path} is not a git repository (no .git, not a bare repository): pass the "
                f"top of a kernel git tree, or use dir:{path} for a plain directory"
            )
        result = _run_git(args)
        if result.returncode != 0:
            raise UserError(
                f"git cannot open {path} ({_first_line(result.stderr)}): pass the top of a "
                "kernel git tree"
            )
        return cls(path, Path(result.stdout.decode().strip()))

    def _git(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return _run_git(["--git-dir", str(self.git_dir), *args], stdin)

    def resolve(self, rev: str) -> str:
        """Full hash of the commit rev names."""
        # A leading '-' would be taken as an option by git.
        if rev.startswith("-") or any(ch in rev for ch in "\n\0"):
            raise UserError(f"invalid revision {rev!r}: name a commit, tag or branch")
        result = self._git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        commit = result.stdout.decode().strip()
        if result.returncode != 0 or not commit:
            raise UserError(
                f"unknown revision '{rev}' in {self.path}: check the name with "
                f"'git -C {self.path} log --oneline -1 {rev}'"
            )
        return commit

    def read_files(self, commit: str, paths: Sequence[str]) -> dict[str, str]:
        """Text of each path that is a file at commit; absent paths are left out."""
        request = "".join(f"{commit}:{path}\n" for path in paths).encode()
        result = self._git("cat-file", "--batch", stdin=request)
        if result.returncode != 0:
            raise UserError(
                f"git cannot read files of {commit[:12]} in {self.path} "
                f"({_first_line(result.stderr)}): check the repository with "
                f"'git -C {self.path} fsck'"
            )
        return _parse_batch_output(result.stdout, paths)


    def read_blob(self, blob: str) -> str | None:
        """The text of the blob an (abbreviated) id names; None if the tree lacks it."""
        if not all(ch in "0123456789abcdef" for ch in blob) or not 4 <= len(blob) <= 64:
            return None
        found = self._git("rev-parse", "--verify", "--quiet", f"{blob}^{{blob}}")
        if found.returncode != 0:
            return None
        result = self._git("cat-file", "blob", found.stdout.decode().strip())
        return _decode(result.stdout) if result.returncode == 0 else None

    def commit_range(self, commits: str) -> tuple[str, str]:
        """The full hashes of A and B in `A..B`; a range whose start is not an
        ancestor of its end is refused."""
        start, dots, end = commits.partition("..")
        if not dots or not start or not end or end.startswith("."):
            raise UserError(f"bad commit range '{commits}': write it A..B, e.g. v6.1..my-branch")
        first, last = self.resolve(start), self.resolve(end)
        if self._git("merge-base", "--is-ancestor", first, last).returncode != 0:
            raise UserError(f"{start} is not an ancestor of {end} in {self.path}: name a range "
                            "A..B of B's own history, e.g. its base branch..B")
        return first, last

    def format_patch(self, commits: str) -> bytes:
        """The commits of A..B as one mbox, oldest first (git format-patch --stdout)."""
        first, last = self.commit_range(commits)
        result = self._git("format-patch", "--stdout", "--no-renames",
                           f"{first}..{last}")
        if result.returncode != 0:
            raise UserError(f"git cannot format {commits} in {self.path} "
                            f"({_first_line(result.stderr)}): check the range with "
                            f"'git -C {self.path} log --oneline {commits}'")
        if not result.stdout.strip():
            raise UserError(f"{commits} has no commit with changes in {self.path}: "
                            "name a range that holds the commits to test")
        return result.stdout


def _parse_batch_output(out: bytes, paths: Sequence[str]) -> dict[str, str]:
    """Split `git cat-file --batch` output: "<oid> <type> <size>\\n<data>\\n" per object."""
    files: dict[str, str] = {}
    pos = 0
    for path in paths:
        end = out.index(b"\n", pos)
        header = out[pos:end].decode("utf-8", "surrogateescape")
        pos = end + 1
        if header.endswith((" missing", " ambiguous")):
            continue
        _oid, kind, size_text = header.rsplit(" ", 2)
        size = int(size_text)
        if kind == "blob":  # a directory or submodule at that path is not a file
            files[path] = _decode(out[pos : pos + size])
        pos += size + 1
    return files


def _tree_name(path: Path) -> str:
    """A short name for a tree in labels: its directory, or its parent's for a .git dir."""
    resolved = path.absolute()
    if resolved.name in (".git", "repo") and resolved.parent.name:
        return resolved.parent.name
    return resolved.name or str(resolved)


# --- revision ranges ----------------------------------------------------------

PERCPU_PATHS = (PERCPU_C, PERCPU_H, PERCPU_INTERNAL_H, PERCPU_VM_C)


def percpu_commits(tree: Path, rev_range: str) -> list[str]:
    """A..B as a timeline: A, then every commit after it up to B that
    touches the percpu files, oldest first (full hashes)."""
    start, dots, end = rev_range.partition("..")
    if not dots or not start or not end or end.startswith("."):
        raise UserError(f"bad revision range '{rev_range}': write it A..B, e.g. "
                        "v2.6.32..v2.6.33")
    repo = _GitRepo.open(tree)
    first, last = repo.resolve(start), repo.resolve(end)
    listed = repo._git("rev-list", "--reverse", f"{first}..{last}", "--", *PERCPU_PATHS)
    if listed.returncode != 0:
        raise UserError(f"git cannot list {rev_range} in {tree} ({_first_line(listed.stderr)}): "
                        "check that A is an ancestor of B")
    commits = listed.stdout.decode().split()
    if not commits:
        raise UserError(f"no commit in {rev_range} touches {', '.join(PERCPU_PATHS)}: widen the "
                        "range, or compare the two ends with percpu-diff run")
    return [first, *commits]


def resolve_commit(tree: Path, rev: str) -> str:
    """Full hash of the commit `rev` names in the tree (read only)."""
    return _GitRepo.open(tree).resolve(rev)


def is_ancestor(tree: Path, ancestor: str, commit: str) -> bool:
    """Whether `ancestor` is an ancestor of `commit` in the tree (read only)."""
    return _GitRepo.open(tree)._git("merge-base", "--is-ancestor", ancestor,
                                    commit).returncode == 0


def source_arg(spec: SourceSpec, label: str) -> str:
    """The source as a SOURCE argument that names it again (for a command to paste)."""
    if spec.kind == "tree":
        return f"tree:{spec.path}@{spec.rev}"
    if spec.kind == "dir":
        return f"dir:{spec.path}"
    if spec.kind == "patch" and spec.patches:
        return f"patch:{spec.path}@{spec.rev}:{','.join(str(p) for p in spec.patches)}"
    return label  # debian: the label is debian:X.Y=VERSION, pinned


def range_spec(tree: Path, old: str, commits: str, fuzz: int = 0,
               three_way: bool = False) -> SourceSpec:
    """The new side of `--old OLD --new A..B`: the tree at B when A is OLD
    (the branch as it stands), else OLD with each commit of A..B applied in
    order, as `git cherry-pick A..B` onto OLD would make it."""
    repo = _GitRepo.open(tree)
    first, _ = repo.commit_range(commits)
    if repo.resolve(old) == first:
        return SourceSpec("tree", tree, commits.partition("..")[2])
    return SourceSpec("patch", tree, old, fuzz=fuzz, three_way=three_way, commits=commits)

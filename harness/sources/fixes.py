"""Replaying an upstream fix on a revision it was not made against.

The fix check of the triage entries (harness/campaign/fixcheck.py) needs
the entry's revision with the fix of its bug on top.  The fix is read from
the tree as the change from its parent to itself, over the files a snapshot
reads, and merged three ways into the revision's files: where a file of the
revision equals the fix's parent the fix applies as is; elsewhere
`git merge-file` merges it, on scratch copies of the three texts.  Nothing
is written to the tree, its index or its work tree (a bare git dir is only
read); nothing of the fix is kept beyond the snapshot in memory.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.core import scratch
from harness.core.errors import UserError
from harness.core.kernel_files import PERCPU_C
from harness.sources.snapshot import (
    OPTIONAL_PATHS,
    REQUIRED_PATHS,
    Snapshot,
    SourceSpec,
    is_ancestor,
    load_snapshot,
    resolve_commit,
)

SNAPSHOT_PATHS = (*REQUIRED_PATHS, *OPTIONAL_PATHS)


@dataclass(frozen=True)
class Replayed:
    """A revision with a fix merged in, and how each touched file took it."""

    snapshot: Snapshot
    # path -> "as is" (the revision had the fix's parent's text), "3-way", or
    # for a file other than mm/percpu.c that conflicts, "conflict: kept the revision's"
    methods: dict[str, str]

    @property
    def method(self) -> str:
        return "3-way" if "3-way" in self.methods.values() else "as is"


def tree_snapshot(tree: Path, rev: str) -> Snapshot:
    return load_snapshot(SourceSpec("tree", tree, rev), SNAPSHOT_PATHS)


def replay_fix(tree: Path, base: Snapshot, fix: str) -> Replayed:
    """`base` with the change of commit `fix` (from its first parent) merged in."""
    parent, fixed = tree_snapshot(tree, f"{fix}^"), tree_snapshot(tree, fix)
    files, methods = dict(base.files), {}
    for path in sorted(set(parent.files) | set(fixed.files)):
        before, after = parent.files.get(path), fixed.files.get(path)
        if before == after:
            continue
        ours = base.files.get(path)
        if ours == before:
            merged, methods[path] = after, "as is"
        elif ours is None or before is None or after is None:
            raise UserError(f"{fix[:12]} adds or removes {path}, which {base.label} has "
                            "differently: replay it on a revision closer to the fix")
        else:
            merged, methods[path] = _merge3(ours, before, after), "3-way"
            if merged is None and path != PERCPU_C:
                # Another arch's half of a fix, made against code this
                # revision does not have yet: its flow keeps the revision's.
                merged, methods[path] = ours, "conflict: kept the revision's"
            elif merged is None:
                raise UserError(f"{fix[:12]} does not merge into {PERCPU_C} of {base.label}: "
                                "give the entry a fix_base closer to the fix")
        if after is None:
            files.pop(path, None)
        elif merged is not None:
            files[path] = merged
    if not methods:
        raise UserError(f"{fix[:12]} changes none of the files percpu-diff reads: name the "
                        "commit that fixes the kernel code")
    if files == fixed.files:
        # The revision was the fix's parent, as far as percpu-diff reads it:
        # the result is the fix commit, and triage entries see it as such.
        return Replayed(fixed, methods)
    # Otherwise it stays the revision (entries naming it still apply), with the fix.
    label = f"{base.label}+{fix[:12]}"
    return Replayed(Snapshot(label=label, commit=base.commit, files=files), methods)


def _merge3(ours: str, base: str, theirs: str) -> str | None:
    """git merge-file on scratch copies; None where it conflicts."""
    with scratch.directory("fix") as work:
        names = []
        for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            (work / name).write_text(text)
            names.append(str(work / name))
        result = subprocess.run(["git", "merge-file", "-p", *names], capture_output=True,
                                check=False)
    if result.returncode < 0 or result.returncode > 127:
        raise UserError(f"git merge-file failed: {result.stderr.decode().strip()}")
    return result.stdout.decode() if result.returncode == 0 else None


def choose_base(tree: Path, fix: str, revisions: tuple[str, ...], fix_base: str | None) -> str:
    """The revision a fix is replayed on: fix_base, else the fix's parent
    when the entry covers it, else the entry's newest revision the fix
    descends from."""
    if fix_base:
        return fix_base
    parent = resolve_commit(tree, f"{fix}^")
    if not revisions or any(parent.startswith(rev) for rev in revisions):
        return parent
    for rev in reversed(revisions):
        if is_ancestor(tree, rev, fix):
            return rev
    raise UserError(f"no revision of the entry is an ancestor of {fix[:12]}: give it a "
                    "fix_base")

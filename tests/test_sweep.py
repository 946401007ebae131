"""The sweep over many kernels: every tree in the file PERCPU_DIFF_TREES
names (one per line: PATH, or PATH@REV for a revision other than HEAD;
blank lines and # comments allowed) builds, boots every scenario its code
has, and agrees with the model of its generation over generated cases:
no unexpected difference, no failed case.  Plain at NR_CPUS 8, 64 and
4096, and sanitized at each.  PERCPU_DIFF_SWEEP_CASES sets the cases per
scenario (default 50).

Skipped, visibly, without PERCPU_DIFF_TREES:

    PERCPU_DIFF_TREES=~/trees.txt .venv/bin/tox -e tree
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import pytest
from sweep import bad_scenarios, judged, verdicts

from harness.compile import shims
from harness.core import cases, kernel_files
from harness.judge import triage
from harness.sources import snapshot

TREES = os.environ.get("PERCPU_DIFF_TREES")
COUNT = int(os.environ.get("PERCPU_DIFF_SWEEP_CASES", "50"))

pytestmark = [
    pytest.mark.tree,
    pytest.mark.skipif(not TREES, reason="PERCPU_DIFF_TREES not set: no list of kernel trees"),
]


def listed_trees() -> list[tuple[Path, str]]:
    if not TREES:
        return []
    out = []
    for line in Path(TREES).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            path, _, rev = line.partition("@")
            out.append((Path(path).expanduser(), rev or "HEAD"))
    return out


def _tree_id(value: object) -> str:
    """A tree by its directory, or its parent's for a repo/ or .git dir."""
    if isinstance(value, Path):
        return value.parent.name if value.name in ("repo", ".git") else value.name
    return str(value)


@pytest.mark.parametrize(("nr_cpus", "sanitize"), [(8, False), (64, False), (4096, False),
                                                   (8, True), (64, True), (4096, True)],
                         ids=["8", "64", "4096", "8-sanitized", "64-sanitized",
                              "4096-sanitized"])
@pytest.mark.parametrize(("tree", "rev"), listed_trees(), ids=lambda v: _tree_id(v))
def test_every_tree_builds_boots_and_agrees(tree: Path, rev: str, nr_cpus: int,
                                            sanitize: bool) -> None:
    counts = verdicts(snapshot.SourceSpec("tree", tree, rev), COUNT, nr_cpus, sanitize)
    assert counts, f"{tree}@{rev}: no scenario built"
    bad = bad_scenarios(counts)
    assert bad == {}, f"{tree}@{rev} at NR_CPUS={nr_cpus}: {bad}"


# --- a fix no stored tree holds, replayed: bitmap-first-chunk-populated-overrun-crash ---

# The allocation of pcpu_alloc_first_chunk() in 4.14 - 5.8 and its fix,
# b3b33d3c43bb ("percpu: fix first chunk size calculation for populated
# bitmap"): the populated bitmap's size multiplied by sizeof(unsigned long).
SHORT_BITMAP = re.compile(r"(BITS_TO_LONGS\(region_size >> PAGE_SHIFT\))(,)")
OVERRUN_CASE = Path(__file__).resolve().parents[1] / "cases" / "bitmap-populated-overrun-crash.toml"


def short_bitmap_trees() -> list[tuple[Path, str]]:
    return [(tree, rev) for tree, rev in listed_trees()
            if SHORT_BITMAP.search(snapshot.load_snapshot(
                snapshot.SourceSpec("tree", tree, rev)).read(kernel_files.PERCPU_C))]


@pytest.mark.parametrize(("tree", "rev"), short_bitmap_trees(), ids=lambda v: _tree_id(v))
def test_the_populated_bitmap_fix_clears_the_overrun_crash(tree: Path, rev: str,
                                                           tmp_path: Path) -> None:
    snap = snapshot.load_snapshot(snapshot.SourceSpec("tree", tree, rev))
    old = snap.read(kernel_files.PERCPU_C)
    new = SHORT_BITMAP.sub(r"\1 * sizeof(unsigned long)\2", old, count=1)
    patch = tmp_path / "fix.patch"
    patch.write_text("".join(difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True),
        f"a/{kernel_files.PERCPU_C}", f"b/{kernel_files.PERCPU_C}")))
    case = cases.load_case(OVERRUN_CASE)
    outcomes = []
    for side in (snap, snapshot.load_snapshot(snapshot.SourceSpec("patch", tree, rev,
                                                                  patches=(patch,)))):
        outcomes.append(judged(shims.render(side), side.label, case, triage.load_triage()))
    assert outcomes == [("crash", {"bitmap-first-chunk-populated-overrun-crash"}),
                        ("ok", set())], tree

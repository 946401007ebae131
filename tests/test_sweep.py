"""The sweep over many kernels: every tree in the file PERCPU_DIFF_TREES
names (one per line: PATH, or PATH@REV for a revision other than HEAD;
blank lines and # comments allowed) builds, boots every scenario its code
has, and agrees with the model of its generation over generated cases:
no unexpected difference, no failed case.  Plain at NR_CPUS 8, 64 and
4096, sanitized at 64.  PERCPU_DIFF_SWEEP_CASES sets the cases per
scenario (default 50).

Skipped, visibly, without PERCPU_DIFF_TREES:

    PERCPU_DIFF_TREES=~/trees.txt .venv/bin/tox -e tree
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sweep import bad_scenarios, verdicts

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
                                                   (64, True)],
                         ids=["8", "64", "4096", "64-sanitized"])
@pytest.mark.parametrize(("tree", "rev"), listed_trees(), ids=lambda v: _tree_id(v))
def test_every_tree_builds_boots_and_agrees(tree: Path, rev: str, nr_cpus: int,
                                            sanitize: bool) -> None:
    counts = verdicts(snapshot.SourceSpec("tree", tree, rev), COUNT, nr_cpus, sanitize)
    assert counts, f"{tree}@{rev}: no scenario built"
    bad = bad_scenarios(counts)
    assert bad == {}, f"{tree}@{rev} at NR_CPUS={nr_cpus}: {bad}"

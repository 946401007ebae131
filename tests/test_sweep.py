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
from collections import Counter
from pathlib import Path

import pytest

from harness.campaign import agree, generate
from harness.compile import shims
from harness.core.verdict import Verdict
from harness.judge import triage
from harness.run import server
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


def verdicts(tree: Path, rev: str, nr_cpus: int, sanitize: bool) -> dict[str, Counter[str]]:
    """Each scenario's verdict counts and kernel outcomes on one tree."""
    snap = snapshot.load_snapshot(snapshot.SourceSpec("tree", tree, rev))
    rendered = shims.render(snap)
    shim = shims.build(rendered, shims.BuildConfig(nr_cpus=nr_cpus, sanitize=sanitize))
    entries = triage.load_triage()
    counts: dict[str, Counter[str]] = {}
    for scenario in rendered.extraction.scenarios:
        todo = list(generate.generate(COUNT, 1, scenario, nr_cpus))
        found: Counter[str] = Counter()
        for judged in agree.agree(shim, rendered.api.generation, snap.label, todo, entries,
                                  server.Limits(timeout_ms=60000)):
            found[judged.verdict] += 1
            if judged.verdict in (Verdict.UNEXPECTED, Verdict.FAILED):
                # The cases that show it, by name, for the failure message.
                found[f"{judged.verdict}: {judged.case.name}"] += 1
        counts[scenario] = found
    return counts


@pytest.mark.parametrize(("nr_cpus", "sanitize"), [(8, False), (64, False), (4096, False),
                                                   (64, True)],
                         ids=["8", "64", "4096", "64-sanitized"])
@pytest.mark.parametrize(("tree", "rev"), listed_trees(), ids=lambda v: _tree_id(v))
def test_every_tree_builds_boots_and_agrees(tree: Path, rev: str, nr_cpus: int,
                                            sanitize: bool) -> None:
    counts = verdicts(tree, rev, nr_cpus, sanitize)
    assert counts, f"{tree}@{rev}: no scenario built"
    bad = {scenario: dict(c) for scenario, c in counts.items()
           if c[Verdict.UNEXPECTED] or c[Verdict.FAILED]}
    assert bad == {}, f"{tree}@{rev} at NR_CPUS={nr_cpus}: {bad}"

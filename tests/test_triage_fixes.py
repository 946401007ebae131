"""The fix check: every triage entry with a replayable upstream fix lapses
with its bug.  Tree tests: they read the 2009-2011 history from
PERCPU_DIFF_TREE (columbia+linux-2.6-racepro) and skip visibly without it.

Run with -s (or -rP) to see the figures: one line per entry, cases the
entry explains before and after its fix.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.campaign import fixcheck
from harness.judge import triage
from harness.run import server
from harness.sources import fixes, snapshot

TREE = os.environ.get("PERCPU_DIFF_TREE")
SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_f7d4c1c3ef532e76.txt"
# Cases per scenario the entry names, besides its example.
COUNT = int(os.environ.get("PERCPU_DIFF_FIX_CASES", "80"))
# The measurement: `run --cases N` old -> seed + the two upstream fixes.
RUN_CASES = int(os.environ.get("PERCPU_DIFF_FIX_RUN_CASES", "1000"))
LIMITS = server.Limits(timeout_ms=60000)
ENTRIES = triage.load_triage()

pytestmark = [
    pytest.mark.tree,
    pytest.mark.skipif(not TREE, reason="PERCPU_DIFF_TREE not set: no kernel tree to read"),
]


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.checkable], ids=lambda e: e.id)
def test_the_fix_leaves_the_entry_nothing_to_explain(entry: triage.TriageEntry) -> None:
    assert TREE is not None
    outcome = fixcheck.check_entry(Path(TREE), entry, ENTRIES, COUNT, 1, LIMITS)
    print(outcome.line())
    assert outcome.before.explained > 0, "the entry explains nothing on its own revision"
    assert outcome.after.explained == 0, outcome.line()
    assert outcome.new_unexplained == [], outcome.line()
    assert outcome.after.failed == 0, outcome.line()


def test_the_replay_leaves_the_tree_alone() -> None:
    """Replaying reads the bare git dir and writes nothing into it."""
    assert TREE is not None
    tree = Path(TREE)
    before = sorted(p.name for p in tree.iterdir())
    base = fixes.tree_snapshot(tree, "fd1e8a1fe2b5")
    replayed = fixes.replay_fix(tree, base, "ffe0d5a5754")
    assert replayed.methods == {"mm/percpu.c": "3-way"}
    assert replayed.snapshot.label.endswith("+ffe0d5a5754")
    assert "UINT_MAX" in replayed.snapshot.files["mm/percpu.c"]
    assert sorted(p.name for p in tree.iterdir()) == before


def test_seed_with_both_upstream_fixes_leaves_build_info_reused_nothing() -> None:
    """Issue 14: fd1e8a1fe2b5^ -> seed + ffe0d5a5754 + fb59e72e7e1 (3-way
    onto the seed), `run --cases N`: new-build-info-reused explains no case,
    now that the shim's bootmem zeroes what it returns (34 of 5000 while it
    did not; 4 of the first 1000 with the seed alone, 0 with the fixes)."""
    assert TREE is not None
    tree = Path(TREE)
    old = fixes.tree_snapshot(tree, "fd1e8a1fe2b5^")
    seeded = snapshot.load_snapshot(snapshot.SourceSpec("patch", tree, "fd1e8a1fe2b5^", (SEED,)),
                                    fixes.SNAPSHOT_PATHS)
    try:
        new = seeded
        for fix in ("ffe0d5a5754", "fb59e72e7e1"):
            new = fixes.replay_fix(tree, new, fix).snapshot
        total, counts = fixcheck.run_counts(old, new, RUN_CASES, 1, ENTRIES, LIMITS)
    finally:
        if seeded.scratch_dir:
            shutil.rmtree(seeded.scratch_dir, ignore_errors=True)
    print(f"{new.label}: {total} cases, new-build-info-reused explains "
          f"{counts['new-build-info-reused']}; entries {dict(counts)}")
    assert counts["new-build-info-reused"] == 0

"""Tests against real 2009 kernel code, read from PERCPU_DIFF_TREE.

They skip, visibly, when PERCPU_DIFF_TREE is not set: point it at a kernel
git tree (work tree or bare git dir) holding commit fd1e8a1fe2b5 and run
`tox -e tree`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cli import app
from harness.compile import shims
from harness.core import cases
from harness.run import server
from harness.sources import snapshot

TREE = os.environ.get("PERCPU_DIFF_TREE")
SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_f7d4c1c3ef532e76.txt"
OLD, NEW = "fd1e8a1fe2b5^", "fd1e8a1fe2b5"

pytestmark = [
    pytest.mark.tree,
    pytest.mark.skipif(not TREE, reason="PERCPU_DIFF_TREE not set: no kernel tree to read"),
]


def tree_snapshot(rev: str) -> snapshot.Snapshot:
    assert TREE is not None
    return snapshot.load_snapshot(snapshot.SourceSpec("tree", Path(TREE), rev))


def possible_for(nr_cpus: int) -> list[tuple[int, ...]]:
    """Dense, sparse and no-cpu0 masks that fit NR_CPUS."""
    masks = [tuple(range(nr_cpus)), tuple(range(0, nr_cpus, 2)), tuple(range(1, nr_cpus))]
    if nr_cpus > 64:
        masks = [tuple(range(64)), (*range(0, 64, 3), 1000, nr_cpus - 1), (5, nr_cpus - 1)]
    return [m for m in masks if m]


@pytest.mark.parametrize("sanitize", [False, True], ids=["plain", "sanitized"])
@pytest.mark.parametrize("nr_cpus", [4, 8, 64, 4096])
@pytest.mark.parametrize("rev", [OLD, NEW])
def test_every_scenario_runs(rev: str, nr_cpus: int, sanitize: bool) -> None:
    rendered = shims.render(tree_snapshot(rev))
    assert rendered.api.generation == ("unit_map" if rev == OLD else "alloc_info")
    assert set(rendered.extraction.scenarios) == {"embed", "page", "lpage"}
    shim = shims.build(rendered, shims.BuildConfig(nr_cpus=nr_cpus, sanitize=sanitize))
    batch = []
    for scenario in cases.GENERIC_SCENARIOS:
        for i, possible in enumerate(possible_for(nr_cpus)):
            atom = 2 << 20 if scenario == "lpage" else 4096
            batch.append(cases.Case(f"{scenario}-{i}", scenario, nr_cpus, possible,
                                    atom_size=atom))
    results = list(server.run_cases(shim, batch, server.Limits(timeout_ms=20000)))
    assert len(results) == len(batch)
    for case, result in zip(batch, results, strict=True):
        kinds = result["outcome"]["kind"]
        assert kinds == "ok", (case, result["outcome"])
        state = result["state"]
        unit_map = state["unit_map"]
        units = [unit_map[cpu] for cpu in case.possible]
        assert len(set(units)) == len(units), "two cpus share a unit"
        assert result["static_copies"]["bad_cpus"] == []
        assert result["bootmem"]["bad_free_count"] == 0
        if rev == NEW:
            # The seed's claim: possible cpus are packed into units 0, 1, 2, ...
            if case.scenario != "lpage":
                assert units == list(range(len(case.possible)))
        elif case.scenario != "lpage":
            assert units == list(case.possible), "unit_map generation maps cpu n to unit n"


def test_seed_patch_rebuilds_the_commit_byte_for_byte() -> None:
    assert TREE is not None
    patched = snapshot.load_snapshot(
        snapshot.SourceSpec("patch", Path(TREE), OLD, (SEED,)),
        paths=(*snapshot.REQUIRED_PATHS,),
    )
    # The file ends inside hunk 19 of mm/percpu.c, on its last line, which
    # lacks only its newline: the hunk applies whole, and what followed it
    # in the original patch (if anything) is reported lost.
    assert [(loss.file, loss.hunk, loss.old_missing, loss.new_missing)
            for loss in patched.losses] == [("mm/percpu.c", 19, 0, 0)]
    real = tree_snapshot(NEW)
    a = shims.render(patched).extraction.functions()
    b = shims.render(real).extraction.functions()
    assert set(a) == set(b)
    different = [name for name in a if a[name].text != b[name].text]
    assert different == []
    shim = shims.build(shims.render(patched), shims.BuildConfig(nr_cpus=8))
    result = server.run_one(shim, cases.Case("seed", "embed", 8, (0, 2, 4)))
    assert result["outcome"]["kind"] == "ok"


def test_show_sparse_cpus_on_both_revisions(capsys: pytest.CaptureFixture[str]) -> None:
    assert TREE is not None
    status = app.main(["show", "--tree", TREE, "--rev", OLD, "--rev", NEW,
                       "--possible", "0,2,4", "--nr-cpus", "8"])
    out = capsys.readouterr().out
    assert status == 0
    assert "pcpu-alloc: [0] 0 [0] 2 [0] 4" in out


@pytest.mark.parametrize("sanitize", [False, True], ids=["plain", "sanitized"])
@pytest.mark.parametrize("rev", [OLD, NEW])
def test_every_arch_knob_combination_boots(rev: str, sanitize: bool) -> None:
    """The x86 and sparc64 flows of both revisions over the whole knob matrix:
    every boot ends in a kernel outcome, and without a failing allocation the
    old revision always boots."""
    from itertools import groupby

    from harness.campaign import generate, runner
    from harness.core import attempts

    snap = tree_snapshot(rev)
    matrix = generate.arch_matrix()
    booted = 0
    key = runner.shim_key
    for (nr_cpus, page_shift, name, numa), group in groupby(sorted(matrix, key=key), key=key):
        batch = list(group)
        shim = shims.build(shims.render(snap, arch=name),
                           shims.config_for(nr_cpus, page_shift, sanitize, name, numa))
        for case, result in zip(batch, server.run_cases(shim, batch), strict=True):
            kind = result["outcome"]["kind"]
            assert kind in ("ok", "bug", "panic", "crash", "sanitizer"), (case.name, kind)
            if rev == OLD and case.fail_bootmem < 0:
                assert kind == "ok", (case.name, result["outcome"])
            if kind == "ok":
                assert result["arch"]["readback_bad_cpus"] == [], case.name
                assert result["static_copies"]["bad_cpus"] == [], case.name
                offsets = [o for o in result["arch"]["unit_offsets"] if o is not None]
                assert len(set(offsets)) == len(case.possible), case.name
            if case.scenario == "x86" and kind in ("ok", "bug", "panic"):
                assert attempts.path(result), case.name
            booted += 1
    assert booted == len(matrix) == 672

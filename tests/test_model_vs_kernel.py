"""The models against the real code: captured results in CI, live with a tree.

tests/test_data/kernel_results holds what the real 2009 code computed for
every named case in cases/ and for generated cases (re-captured with
tests/capture_kernel_results.py).  Every difference between a model and
those results must be explained by an entry of cases/triage.toml, and the
named cases must show exactly the entries their [expect] table names.
With PERCPU_DIFF_TREE set, the same checks run on freshly built shims.
"""

from __future__ import annotations

import gzip
import json
import os
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import py_impl
from harness.campaign import agree, generate, runner
from harness.compile import shims
from harness.core import cases
from harness.judge import compare, triage
from harness.run import server
from harness.sources import snapshot

HERE = Path(__file__).resolve().parent
CAPTURED = HERE / "test_data" / "kernel_results"
CASES = HERE.parent / "cases"
REVISIONS = {"unit_map": "fd1e8a1fe2b5^", "alloc_info": "fd1e8a1fe2b5"}
ENTRIES = triage.load_triage()


def captured(generation: str) -> list[dict[str, Any]]:
    with gzip.open(CAPTURED / f"{generation}.jsonl.gz", "rt") as lines:
        return [json.loads(line) for line in lines]


def expected_ids(case: cases.Case, generation: str) -> set[str]:
    return {v.strip() for v in case.expect[generation].split(",")} - {"agree"}


def verdict_ids(labelled: list[triage.Labelled]) -> set[str]:
    return {item.entry.id if item.entry else f"UNEXPLAINED {item.difference.describe()}"
            for item in labelled}


@pytest.mark.parametrize("generation", list(REVISIONS))
def test_model_agrees_with_captured_kernel_results(generation: str) -> None:
    records = captured(generation)
    assert len(records) > 200
    seen: Counter[str] = Counter()
    for record in records:
        case = cases.case_from_mapping(tomllib.loads(record["case"]), "captured")
        model = py_impl.run_model(generation, case)
        differences = compare.compare_fields(record["kernel"], compare.fields(model))
        subject = triage.Subject(case, record["kernel"], model)  # its fields carry attempts
        labelled = triage.label(differences, subject, generation,
                                f"linux@{record['source']}", ENTRIES)
        ids = verdict_ids(labelled)
        assert not [i for i in ids if i.startswith("UNEXPLAINED")], (case.name, ids)
        if record["named"]:
            assert ids == expected_ids(case, generation), case.name
        seen.update(ids)
    # The captured set exercises the generation's triage entries, not just agreement.
    # (from plain builds: entries for what only a sanitizer reports stay unseen, and
    # so do those of later revisions of the generation than the captured one)
    sources = {f"linux@{record['source']}" for record in records}
    assert set(seen) == {e.id for e in ENTRIES
                         if generation in e.generations and e.kernel != "sanitizer"
                         and (not e.revisions
                              or any(rev in src for rev in e.revisions for src in sources))}


def test_captured_results_cover_every_named_case() -> None:
    named = {p.stem for p in CASES.glob("*.toml") if p.name != "triage.toml"}
    for generation in REVISIONS:
        got = {tomllib.loads(r["case"])["name"] for r in captured(generation) if r["named"]}
        assert got == named, f"re-run tests/capture_kernel_results.py ({generation})"


def tree_shim(rev: str, nr_cpus: int, like: cases.Case | None = None
              ) -> tuple[shims.Shim, str, str]:
    """The shim of `rev` for NR_CPUS, or for the build a case needs."""
    tree = os.environ.get("PERCPU_DIFF_TREE")
    if not tree:
        pytest.skip("PERCPU_DIFF_TREE is not set: live model-vs-kernel checks need a kernel "
                    "tree with the 2009 history")
    snap = snapshot.load_snapshot(snapshot.SourceSpec("tree", Path(tree), rev))
    arch = like.arch if like else "generic"
    rendered = shims.render(snap, arch=arch)
    config = shims.config_for(nr_cpus, like.page_shift if like else 12, False, arch,
                              like.numa if like else False)
    return shims.build(rendered, config), rendered.api.generation, snap.label


@pytest.mark.tree
@pytest.mark.parametrize("generation", list(REVISIONS))
def test_named_cases_live(generation: str) -> None:
    named = [cases.load_case(p) for p in sorted(CASES.glob("*.toml"))
             if p.name != "triage.toml"]
    for key in sorted({runner.shim_key(c) for c in named}):
        batch = [c for c in named if runner.shim_key(c) == key]
        shim, detected, label = tree_shim(REVISIONS[generation], key[0], batch[0])
        assert detected == generation
        for verdict in agree.agree(shim, generation, label, batch, ENTRIES):
            assert verdict_ids(list(verdict.labelled)) == \
                expected_ids(verdict.case, generation), verdict.case.name


@pytest.mark.tree
@pytest.mark.parametrize("scenario", cases.GENERIC_SCENARIOS)
@pytest.mark.parametrize("generation", list(REVISIONS))
def test_generated_cases_live(generation: str, scenario: str) -> None:
    shim, _, label = tree_shim(REVISIONS[generation], 64)
    batch = generate.generate(300, 11, scenario, 64)
    summary = agree.Summary()
    for verdict in agree.agree(shim, generation, label, batch, ENTRIES, server.Limits()):
        summary.add(verdict)
        assert verdict.verdict != "unexpected", verdict.to_json()
    assert summary.cases == 300

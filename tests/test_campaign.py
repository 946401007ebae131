"""Differential runs: old/new comparison, classification, reports, resume.

The classification tests feed model results in as stand-ins for what the
kernel computed (the models are the only "real code" CI has); the CLI tests
run the real pipeline on the project's fixture kernels, which are not
percpu.c, so every run finds unexpected differences to report.
"""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from conftest import kernel, run_cli

import py_impl
from harness.campaign import agree, runner
from harness.core import cases as cases_mod
from harness.core.cases import Case
from harness.core.errors import UserError
from harness.judge import classify, compare, triage

ROOT = Path(__file__).resolve().parent.parent
SEED_DECLARED = ROOT / "cases" / "declared" / "fd1e8a1fe2b5.toml"
DECLARED = classify.load_declared(SEED_DECLARED)
ENTRIES = triage.load_triage()


def sides(case: Case) -> dict[str, dict[str, Any]]:
    return {"old": py_impl.run_model("unit_map", case),
            "new": py_impl.run_model("alloc_info", case)}


def classified(case: Case, results: dict[str, dict[str, Any]],
               triaged: dict[str, classify.SideTriage] | None = None) -> list[classify.Finding]:
    return [classify.classify_change(change, "kernel", case, results, triaged or {}, DECLARED)
            for change in compare.compare_sides(results["old"], results["new"])]


def test_sparse_packing_is_declared_and_nothing_else_changes() -> None:
    case = Case("sparse", "embed", 8, (0, 2, 4))
    findings = classified(case, sides(case))
    assert {(f.field, f.label, f.rule) for f in findings} == {
        ("dump.format", "declared", "dump-generalized"),
        ("state.chunk_size", "declared", "sparse-cpu-packing"),
        ("state.nr_units", "declared", "sparse-cpu-packing"),
        ("state.unit_of_cpu[2]", "declared", "sparse-cpu-packing"),
        ("state.unit_of_cpu[4]", "declared", "sparse-cpu-packing"),
    }


def test_packing_to_anything_but_the_rank_is_unexpected() -> None:
    case = Case("sparse", "page", 8, (0, 2, 4))
    results = sides(case)
    results["new"]["state"]["unit_map"] = [2, None, 0, None, 1]  # packed, but rotated
    labels = {f.field: f.label for f in classified(case, results)}
    assert labels["state.unit_of_cpu[0]"] == "unexpected"
    assert labels["state.unit_of_cpu[2]"] == "unexpected"
    assert labels["state.unit_of_cpu[4]"] == "unexpected"
    assert labels["state.nr_units"] == "declared"


def test_lpage_padding_units_joining_the_chunk_is_not_declared() -> None:
    case = Case("lp", "lpage", 8, (0, 2, 4), cpu_node=(0, 0, 1),
                distance=((10, 20), (20, 10)), atom_size=2 << 20)
    findings = {f.field: f for f in classified(case, sides(case))}
    assert findings["state.nr_units"].label == "unexpected"
    assert (findings["state.nr_units"].left, findings["state.nr_units"].right) == (3, 4)
    assert findings["dump.format"].label == "declared"
    assert findings["dump.groups[2]"].rule == "dump-generalized"
    assert "dump.slots" not in str(findings)  # the same units, in both dumps


def test_a_change_explained_by_one_sides_triage_is_triaged() -> None:
    case = Case("sparse", "embed", 8, (0, 2, 4))
    results = sides(case)
    kernel_old = copy.deepcopy(results["old"])
    kernel_old["state"]["last_unit_cpu"] = 4294967295
    verdict = agree.judge(case, kernel_old, "unit_map", "linux@033e48fb8295", ENTRIES)
    triaged = {"old": classify.side_triage(list(verdict.labelled)),
               "new": classify.SideTriage({})}
    findings = {f.field: f for f in classified(case, {**results, "old": kernel_old}, triaged)}
    assert findings["state.last_unit_cpu"].label == "triaged"
    assert findings["state.last_unit_cpu"].rule == "old-identity-last-unit-cpu"


def test_finding_signatures_ignore_indices() -> None:
    f = classify.Finding("kernel", "state.unit_of_cpu[12]", 12, 3, "unexpected", None)
    assert f.signature == "kernel:state.unit_of_cpu[*]"


@pytest.mark.parametrize(("body", "message"), [
    ('[[change]]\nid = "x"\n[change.fields]\n"return" = { old = "1", new = "2" }\n', "claim"),
    ('[[change]]\nid = "x"\nclaim = "c"\n', "no fields"),
    ('[[change]]\nid = "x"\nclaim = "c"\ncolour = 1\n', "unknown key"),
    ('[[change]]\nid = "x"\nclaim = "c"\n[change.fields]\n'
     '"return" = { old = "moon", new = "1" }\n', "unknown name 'moon'"),
    ('[[change]]\nid = "x"\nclaim = "c"\n[change.fields]\n'
     '"return" = { old = "__import__(\'os\')", new = "1" }\n', "bad expression"),
    ('[[change]]\nid = "x"\nclaim = "c"\n[change.fields]\n'
     '"return" = { old = "cpu.x", new = "1" }\n', "bad expression"),
    ('[[change]]\nid = "x"\nclaim = "c"\n[change.fields]\n"return" = "1"\n', "needs"),
    ('[[change]]\nid = "x"\nclaim = "c"\n[change.fields]\n"state.nr_unit" = { new = "1" }\n',
     "no result has a field 'state.nr_unit': did you mean 'state.nr_units'"),
])
def test_bad_declared_changes_are_refused(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "d.toml"
    path.write_text(body)
    with pytest.raises(UserError, match=message):
        classify.load_declared(path)


def test_the_seed_declared_file_is_found_by_commit_and_by_subject() -> None:
    folder = SEED_DECLARED.parent
    assert classify.find_declared(folder, "linux@fd1e8a1fe2b5", set()) == SEED_DECLARED
    subject = "percpu: introduce pcpu_alloc_info and pcpu_group_info"
    assert classify.find_declared(folder, "x+seed.txt", {subject}) == SEED_DECLARED
    assert classify.find_declared(folder, "linux@123456789abc", {"other"}) is None


# ------------------------------------------------------------------- the CLI

FIXTURES = ("--dir", str(kernel("unit_map")), "--dir", str(kernel("alloc_info")))
RUN = ("run", *FIXTURES, "--cases", "12", "--nr-cpus", "8", "--no-corpus", "--jobs", "2",
       "--shrink-budget", "8", "--max-reproducers", "2",
       # reports are compared whole: no time budget, which load could cut short
       "--shrink-seconds", "3600")


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def test_run_reports_for_people_and_machines(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, *RUN, "--out", str(tmp_path / "r"),
                             "--json", str(tmp_path / "r.json"),
                             "--junit", str(tmp_path / "r.xml"),
                             "--email", str(tmp_path / "mail.txt"))
    report = json.loads((tmp_path / "r.json").read_text())
    summary = report["summary"]
    assert set(summary) == {"cases", "agree", "declared", "triaged", "unexpected", "inconclusive",
                            "failed"}
    assert all(isinstance(v, int) for v in summary.values())
    assert summary["cases"] == 12 == sum(v for k, v in summary.items() if k != "cases")
    # the fixtures are not percpu.c: their differences are nobody's known bug
    assert summary["unexpected"] > 0 and status == 1
    assert report["reproducers"] and report["reproducers"][0]["command"].startswith(
        "percpu-diff repro --dir")
    assert "percpu-diff run" in out
    suite = ET.parse(tmp_path / "r.xml").getroot()
    assert suite.get("tests") == "12"
    assert len(suite.findall(".//testcase")) == 12
    assert len(suite.findall(".//failure")) == summary["unexpected"]
    mail = (tmp_path / "mail.txt").read_text()
    assert all(len(line) < 80 for line in mail.splitlines())
    assert "Unexpected differences:" in mail and "percpu-diff repro" in mail
    assert (tmp_path / "r" / "repro-1.toml").is_file()


def test_same_seed_same_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a", "b"):
        run_cli(capsys, *RUN, "--out", str(tmp_path / name), "--jobs", "1" if name == "a"
                else "2")
    a = json.loads((tmp_path / "a" / "report.json").read_text())
    b = json.loads((tmp_path / "b" / "report.json").read_text())
    assert a == b


def test_an_interrupted_run_resumes_to_the_same_report(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    run_cli(capsys, *RUN, "--out", str(whole))
    run_cli(capsys, *RUN, "--out", str(cut))
    # What a kill leaves: some finished lines and half of the next one.
    lines = (cut / "results.jsonl").read_text().splitlines(keepends=True)
    (cut / "results.jsonl").write_text("".join(lines[:5]) + lines[5][:40])
    (cut / "report.json").unlink()
    status, _, _ = run_cli(capsys, *RUN, "--out", str(cut), "--resume")
    assert status == 1
    assert (json.loads((cut / "report.json").read_text())
            == json.loads((whole / "report.json").read_text()))


def test_run_directory_misuse_is_a_one_line_error(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "r")
    run_cli(capsys, *RUN, "--out", out)
    status, _, err = run_cli(capsys, *RUN, "--out", out)
    assert status == 2 and "already holds results" in err and len(err.splitlines()) == 1
    status, _, err = run_cli(capsys, *RUN, "--out", out, "--seed", "9", "--resume")
    assert status == 2 and "different run" in err
    status, _, err = run_cli(capsys, *RUN, "--out", str(tmp_path / "none"), "--resume")
    assert status == 2 and "nothing to resume" in err


def test_bad_run_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run_cli(capsys, "run", *FIXTURES, "--cases", "2", "--nr-cpus", "0",
                             "--out", str(tmp_path / "x"))
    assert status == 2 and "--nr-cpus 0 is out of range" in err
    status, _, err = run_cli(capsys, "run", "--tree", str(tmp_path), "--old", "a",
                             "--out", str(tmp_path / "y"))
    assert status == 2 and "--old and --new go together" in err


def test_repro_shows_both_sides(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "repro", *FIXTURES, "--possible", "0,2,4", "--nr-cpus", "8")
    assert status == 1
    assert "differences" in out and "unexpected" in out
    status, out, _ = run_cli(capsys, "repro", *FIXTURES, "--possible", "0,2,4", "--nr-cpus",
                             "8", "--json")
    shown = json.loads(out)
    assert len(shown["results"]) == 4 and shown["record"]["verdict"] == "unexpected"


def test_a_failure_injected_case_is_only_checked_against_its_models() -> None:
    case = Case("f", "embed", 8, (0, 2, 4), fail_bootmem=0)
    results = sides(case)
    plan = runner.Plan(tuple(
        runner.Side(name, f"x@{name}", gen, None)  # type: ignore[arg-type]
        for name, gen in (("old", "unit_map"), ("new", "alloc_info"))), (case,),
        tuple(DECLARED), tuple(ENTRIES))
    record = runner.evaluate(case, results, plan)
    assert record.verdict == "agree"
    assert not [f for f in record.findings if f.comparison in ("kernel", "model")]


# --------------------------------------------------------- the named corpus

CORPUS = sorted(p for p in (ROOT / "cases").glob("*.toml") if p.name != "triage.toml")


def worst(findings: list[classify.Finding], comparison: str) -> str:
    labels = {f.label for f in findings if f.comparison == comparison}
    return next((c for c in ("unexpected", "triaged", "declared") if c in labels), "agree")


def test_the_corpus_is_big_enough_and_covers_the_edge_shapes() -> None:
    corpus = [cases_mod.load_case(p) for p in CORPUS]
    assert len(corpus) >= 20
    # (the corpus is the seed's, 2009's: arch_numa exists on the modern generation only)
    assert {c.scenario for c in corpus} == set(cases_mod.SCENARIOS) - {"arch_numa"}
    assert any(0 not in c.possible for c in corpus)                      # no cpu0
    assert any(len(c.possible) == 1 for c in corpus)                     # single cpu
    assert any(len(c.possible) == c.nr_cpus for c in corpus)             # full mask
    assert any(c.possible[-1] + 1 > 2 * len(c.possible) for c in corpus)  # sparse
    assert {2, 4096} <= {c.nr_cpus for c in corpus}
    assert any(c.distance and len(c.distance) == 16 for c in corpus)     # 16 nodes
    assert any(c.distance and any(c.distance[i][j] != c.distance[j][i]
                                  for i in range(len(c.distance)) for j in range(i))
               for c in corpus)                                          # asymmetric
    assert {4096, 2 << 20, 4 << 20} <= {c.atom_size for c in corpus}
    assert any(c.reserved_size == 0 for c in corpus)
    assert any(c.static_size > 2 << 20 for c in corpus)                  # bigger than a unit


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_corpus_old_to_new_models(path: Path) -> None:
    """The model side of every named case in CI: old model -> new model."""
    case = cases_mod.load_case(path)
    models = sides(case)
    findings = [classify.classify_change(ch, "model", case, models, {}, DECLARED)
                for ch in compare.compare_sides(models["old"], models["new"])]
    if case.fail_fc_alloc >= 0 or case.fail_bootmem >= 0:
        findings = []  # failure schedules differ between the APIs: not compared
    assert worst(findings, "model") == case.expect["seed_models"]


@pytest.mark.tree
def test_corpus_old_to_new_kernels() -> None:
    """The shim side of every named case, on the seed's two revisions."""
    import os

    from harness.compile import shims
    from harness.sources import snapshot

    tree = os.environ.get("PERCPU_DIFF_TREE")
    if not tree:
        pytest.skip("PERCPU_DIFF_TREE is not set: the corpus's kernel side needs a tree")
    plan_sides = []
    for name, rev in (("old", "fd1e8a1fe2b5^"), ("new", "fd1e8a1fe2b5")):
        snap = snapshot.load_snapshot(snapshot.SourceSpec("tree", Path(tree), rev))
        rendered = shims.render(snap)
        plan_sides.append(runner.Side(name, snap.label, rendered.api.generation, rendered,
                                        snap))
    for path in CORPUS:
        case = cases_mod.load_case(path)
        plan = runner.Plan(tuple(plan_sides), (case,), tuple(DECLARED), tuple(ENTRIES))
        record = runner.boot(plan, case)
        assert worst(list(record.findings), "kernel") == case.expect["seed_kernels"], path.stem
        for side, generation in (("old", "unit_map"), ("new", "alloc_info")):
            ids = {f.rule for f in record.findings if f.comparison == side}
            want = {v.strip() for v in case.expect[generation].split(",")} - {"agree"}
            assert ids == want, (path.stem, side)

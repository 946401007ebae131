"""The setup_static generation: pcpu_setup_static(), February 2009.

Hermetic: an invented fixture kernel of its shape (tests/fixtures/kernels/
setup_static), detection by the generation's own setup function, the glue
that hands the pages over in one array, the model against the fixture.
The tree test builds and checks every revision of the generation in
PERCPU_DIFF_TREE's history.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import CaseFactory, ShimFactory, dir_snapshot, kernel

import py_impl
from harness.campaign import agree, generate
from harness.compile import shims
from harness.core import cases, generation, kernel_files
from harness.core.errors import UserError
from harness.core.generations import setup_static
from harness.extract import closure, detect
from harness.judge import triage
from harness.run import server
from harness.sources import snapshot

FIXTURE = kernel("setup_static")
ENTRIES = triage.load_triage()
NAME = generation.GenerationName("setup_static")


def test_it_is_detected_by_its_own_setup_function() -> None:
    snap = dir_snapshot(FIXTURE)
    api = detect.detect(*closure.parse_files(snap.read(kernel_files.PERCPU_C),
                                             snap.read(kernel_files.PERCPU_H)))
    assert api.spec is setup_static.SPEC
    assert api.setup.name == "pcpu_setup_static"
    # the oldest generation: "a result naming none" is read in its words
    assert generation.all_specs()[0] is setup_static.SPEC
    assert not setup_static.SPEC.detects("size_t", ("pcpu_get_page_fn_t", "size_t", "size_t",
                                                    "size_t", "void *",
                                                    "pcpu_populate_pte_fn_t"))


def test_the_setup_function_is_wrapped_under_its_own_name() -> None:
    rendered = shims.render(dir_snapshot(FIXTURE))
    assert "size_t pcpu_setup_static(pcpu_populate_pte_fn_t populate_cb" in rendered.tu_text
    assert "shim_real_pcpu_setup_static(" in rendered.tu_text
    assert ("pcpu_setup_static(shim_fc_populate_pte, shim_glue_packed_pages(), "
            "c->static_size)") in rendered.tu_text
    assert rendered.extraction.scenarios == ("page",)


def test_a_build_error_names_the_setup_function_as_written() -> None:
    log = ("mm/percpu.c: In function 'shim_real_pcpu_setup_static':\n"
           "mm/percpu.c:9:3: error: implicit declaration of function 'order_base_2'\n")
    assert shims.unresolved_symbols(log) == {"order_base_2": ["pcpu_setup_static"]}


def test_the_page_scenario_boots(make_shim: ShimFactory, make_case: CaseFactory) -> None:
    result = server.run_one(make_shim(FIXTURE), make_case("page", scenario="page",
                                                          static_size=17 * 4096))
    assert result["outcome"] == {"kind": "ok"}
    assert result["generation"] == "setup_static"
    # 17 pages round up to 32, a power of two
    assert result["return"] == 32 * 4096
    assert result["setup_args"] == {"populate_pte_fn": True, "static_size": 17 * 4096}
    assert result["state"]["chunk_size"] == 5 * 32 * 4096
    assert result["static_copies"]["bad_cpus"] == []
    assert result["bootmem"]["fc_allocs"] == 3 * 17
    assert result["constants"] == {"PCPU_MIN_UNIT_PAGES_SHIFT": 4, "unit_power_of_two": 1,
                                   "chunk_slot_lists": 0}


def test_other_scenarios_are_not_there(make_shim: ShimFactory, make_case: CaseFactory) -> None:
    result = server.run_one(make_shim(FIXTURE), make_case("embed", scenario="embed"))
    assert result["outcome"]["kind"] == "unsupported"
    with pytest.raises(UserError, match="has no scenario 'embed'"):
        py_impl.run_model(NAME, make_case("embed", scenario="embed"))


def test_the_model_agrees_with_the_fixture(make_shim: ShimFactory) -> None:
    shim = make_shim(FIXTURE, nr_cpus=64)
    for verdict in agree.agree(shim, NAME, "fixture", generate.generate(80, 5, "page", 64),
                               ENTRIES):
        assert verdict.verdict == "agree", verdict.to_json()


def test_the_model_follows_the_end_of_power_of_two_units() -> None:
    case = cases.Case("x", "page", 8, (0, 1), static_size=17 * 4096)
    later = py_impl.run_model(NAME, case, {"PCPU_MIN_UNIT_PAGES": 16, "unit_power_of_two": 0})
    assert later["return"] == 17 * 4096
    first = py_impl.run_model(NAME, case, {"PCPU_MIN_UNIT_PAGES_SHIFT": 4,
                                           "unit_power_of_two": 1})
    assert first["return"] == 32 * 4096
    # the slot for empty chunks came with arbitrary unit sizes
    even = py_impl.run_model(NAME, cases.Case("y", "page", 8, (0, 1), static_size=4096),
                             {"PCPU_MIN_UNIT_PAGES": 16, "unit_power_of_two": 0})
    assert even["state"]["nr_slots"] == \
        py_impl.run_model(NAME, cases.Case("y", "page", 8, (0, 1), static_size=4096),
                          {"PCPU_MIN_UNIT_PAGES_SHIFT": 4,
                           "unit_power_of_two": 1})["state"]["nr_slots"] + 1


TREE = os.environ.get("PERCPU_DIFF_TREE")


@pytest.mark.tree
@pytest.mark.skipif(not TREE, reason="PERCPU_DIFF_TREE not set: no kernel tree to read")
def test_every_revision_of_the_generation_builds_boots_and_agrees() -> None:
    assert TREE is not None
    git = ["git", "--git-dir", TREE] if (Path(TREE) / "HEAD").is_file() else ["git", "-C", TREE]
    revs = subprocess.run([*git, "log", "--format=%h", "--", kernel_files.PERCPU_C],
                          check=True, capture_output=True, text=True).stdout.split()
    seen = 0
    for rev in revs:
        snap = snapshot.load_snapshot(snapshot.SourceSpec("tree", Path(TREE), rev))
        if "pcpu_setup_static" not in snap.read(kernel_files.PERCPU_C):
            continue
        seen += 1
        rendered = shims.render(snap)
        assert rendered.api.generation == "setup_static", rev
        shim = shims.build(rendered, shims.BuildConfig(nr_cpus=64))
        batch = list(generate.generate(60, 7, "page", 64))
        verdicts = list(agree.agree(shim, NAME, snap.label, batch, ENTRIES))
        assert all(v.verdict != "unexpected" for v in verdicts), rev
        assert sum(v.kernel["outcome"]["kind"] == "ok" for v in verdicts) == len(batch), rev
        named = [cases.load_case(p) for p in sorted(Path(__file__).parents[1].glob(
            "cases/*.toml")) if p.name != "triage.toml"]
        for case in (c for c in named if "setup_static" in c.expect):
            case_shim = shims.build(rendered, shims.config_for(case.nr_cpus, case.page_shift,
                                                               False))
            verdict = agree.judge(case, server.run_one(case_shim, case), NAME, snap.label,
                                  ENTRIES)
            want = {v.strip() for v in case.expect["setup_static"].split(",")} - {"agree"}
            assert {item.entry.id if item.entry else item.difference.describe()
                    for item in verdict.labelled} == want, (rev, case.name)
    assert seen == 5

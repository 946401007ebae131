"""The modern generation's real code: Debian's linux-source-6.1, fetched with
apt, extracted, compiled into the shim and booted.

Every assertion checks the kernel's results against each other or against
what the case asks for (the dump against the alloc_info it prints, unit
offsets against the groups, the mapped pages against the units), never
against numbers copied from a run.  Skipped, visibly, where apt is missing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.campaign import agree, generate, runner
from harness.cli import app
from harness.compile import shims
from harness.core import cases, dumpfmt
from harness.core.result import BootResult
from harness.extract import closure, detect
from harness.judge import triage
from harness.run import server
from harness.sources import snapshot

pytestmark = pytest.mark.skipif(shutil.which("apt-get") is None,
                                reason="debian: sources need Debian's apt-get")

NR_CPUS = 16


@pytest.fixture(scope="module")
def rendered() -> shims.Rendered:
    snap = snapshot.load_snapshot(snapshot.parse_source_arg("debian:6.1"))
    assert snap.label.startswith("debian:6.1=6.1.")
    return shims.render(snap)


@pytest.fixture(scope="module")
def shim(rendered: shims.Rendered) -> shims.Shim:
    return shims.build(rendered, shims.BuildConfig(nr_cpus=NR_CPUS))


@pytest.fixture(scope="module")
def numa_shim(rendered: shims.Rendered) -> shims.Shim:
    return shims.build(rendered, shims.BuildConfig(nr_cpus=NR_CPUS, numa=True))


def boot(shim: shims.Shim, **fields: Any) -> dict[str, Any]:
    return server.run_one(shim, cases.Case(name="t", nr_cpus=NR_CPUS, **fields).validate())


def test_debian_6_1_is_the_modern_generation(rendered: shims.Rendered) -> None:
    assert rendered.api.generation == "modern"
    assert rendered.extraction.scenarios == ("embed", "page")
    # The chunk comes from mm/percpu-internal.h, rendered as that header.
    assert {f.name for f in rendered.api.fields("pcpu_chunk")} >= {"free_bytes", "nr_pages"}
    assert rendered.internal_text is not None and "struct pcpu_chunk" in rendered.internal_text
    # percpu-vm.c's __pcpu_map_pages is inlined before the page allocator uses it.
    tu = rendered.tu_text
    assert tu.index('"mm/percpu-vm.c"') < tu.index("pcpu_page_first_chunk(size_t")
    assert '#include "percpu-vm.c"' not in tu


def test_modern_detection_needs_void_setup(rendered: shims.Rendered) -> None:
    assert rendered.api.setup.return_type == "void"
    assert detect.detect(*closure.parse_files(
        "int pcpu_setup_first_chunk(const struct pcpu_alloc_info *ai, void *base) { }\n"
        "struct pcpu_alloc_info { int nr_groups; };\nstruct pcpu_group_info { int x; };\n",
        "")).generation == "alloc_info"


def check_consistent(result: dict[str, Any], possible: tuple[int, ...]) -> None:
    """The layout the kernel printed, handed over and kept, all agree."""
    assert result["outcome"]["kind"] == "ok", result["log"]
    assert result["return"] == 0
    ai = result["setup_args"]["alloc_info"]
    table = dumpfmt.parse("\n".join(line[3:] for line in result["log"].splitlines()
                                 if line.startswith("<7>pcpu-alloc:")))
    assert [table.static_size, table.reserved_size, table.dyn_size, table.unit_size] == \
        [ai["static_size"], ai["reserved_size"], ai["dyn_size"], ai["unit_size"]]
    state = result["state"]
    offsets: dict[int, int] = {}
    for group in ai["groups"]:
        for i, cpu in enumerate(group["cpu_map"]):
            if cpu != NR_CPUS:
                offsets[cpu] = group["base_offset"] + i * ai["unit_size"]
    assert sorted(offsets) == list(possible)
    assert {cpu: state["unit_offsets"][cpu] for cpu in possible} == offsets
    assert state["group_offsets"] == [g["base_offset"] for g in ai["groups"]]
    assert result["static_copies"]["bad_cpus"] == []
    assert result["static_copies"]["checked"] == len(possible)
    # The dynamic chunk serves exactly what is left after static and reserved.
    assert state["first_chunk"]["free_bytes"] >= ai["dyn_size"] - 4


def test_embed_groups_cpus_by_node(numa_shim: shims.Shim) -> None:
    possible = (0, 1, 2, 3, 8, 9)
    result = boot(numa_shim, scenario="embed", possible=possible, numa=True,
                  cpu_node=(0, 0, 0, 0, 1, 1),
                  distance=((10, 20), (20, 10)), static_size=40960, atom_size=2 << 20)
    check_consistent(result, possible)
    groups = result["setup_args"]["alloc_info"]["groups"]
    assert [sorted(c for c in g["cpu_map"] if c != NR_CPUS) for g in groups] == \
        [[0, 1, 2, 3], [8, 9]]
    # One memblock block per group, on the group's node.
    assert result["bootmem"]["fc_allocs"] == 2
    assert all(b > 0 for b in result["bootmem"]["fc_alloc_bytes_by_node"][:2])


def test_page_maps_every_unit(shim: shims.Shim) -> None:
    possible = (0, 2, 5)
    result = boot(shim, scenario="page", possible=possible, static_size=45000)
    check_consistent(result, possible)
    ai = result["setup_args"]["alloc_info"]
    assert result["bootmem"]["maps"] == len(possible)
    assert result["bootmem"]["vm_areas"][0]["size"] == len(possible) * ai["unit_size"]
    # One page per fc allocation, every page of every unit.
    assert result["bootmem"]["fc_allocs"] == len(possible) * ai["unit_size"] // 4096
    assert result["bootmem"]["ptes_populated"] >= 1
    assert result["state"]["base_addr"].startswith("vmalloc:")


def test_setup_bug_prints_the_possible_mask(shim: shims.Shim) -> None:
    # An SMP kernel without static percpu data is refused with a BUG that
    # prints cpu_possible_mask with the kernel's %*pb.
    possible = (1, 4, 5)
    result = boot(shim, scenario="embed", possible=possible, static_size=0)
    if result["outcome"]["kind"] != "bug":
        pytest.fail(f"expected a BUG for static_size 0: {result['log']}")
    assert "failed to initialize, !ai->static_size" in result["log"]
    mask = sum(1 << cpu for cpu in possible)
    assert f"cpu_possible_mask={mask:x}\n" in result["log"].replace("<0>", "")


def test_failed_memblock_allocation_is_enomem(shim: shims.Shim) -> None:
    # The first memblock call is pcpu_alloc_alloc_info()'s: embed gives up.
    result = boot(shim, scenario="embed", possible=(0, 1), static_size=40960,
                  fail_bootmem=0)
    assert result["outcome"]["kind"] == "ok"
    assert result["return"] == -12


def test_lpage_cases_run_on_embed_in_modern(rendered: shims.Rendered) -> None:
    side = runner.Side("new", "debian:6.1", "modern", rendered)
    lpage = cases.Case(name="l", scenario="lpage", atom_size=2 << 20)
    assert side.runs("lpage") and not side.runs("x86")
    assert side.case_for(lpage).scenario == "embed"
    assert side.case_for(cases.Case(name="p", scenario="page")).scenario == "page"


def test_main_job_compares_debian_6_1_with_6_12(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The README's main job, small: no source named, real code of both
    Debian kernels, every case classified, results streamed to disk."""
    report_path = tmp_path / "report.json"
    status = app.main(["run", "--cases", "24", "--nr-cpus", "8", "--seed", "3",
                       "--out", str(tmp_path / "run"), "--json", str(report_path)])
    assert status in (0, 1), capsys.readouterr().err
    report = json.loads(report_path.read_text())
    summary = report["summary"]
    assert [s.split("=")[0] for s in report["sides"]] == ["debian:6.1", "debian:6.12"]
    assert summary["failed"] == 0
    assert summary["cases"] == sum(summary[k] for k in
                                   ("agree", "declared", "triaged", "unexpected", "failed"))
    lines = (tmp_path / "run" / "results.jsonl").read_text().splitlines()
    assert len(lines) == summary["cases"] >= 24
    # 6.1 and 6.12 set the first chunk up alike but for the early dynamic
    # size 6.12 raised (cases/declared/debian-6.1-to-6.12.toml).
    kernel_changes = [d for d in report["differences"] if d["comparison"] == "kernel"]
    assert {(d["label"], d["rule"]) for d in kernel_changes} <= \
        {("declared", "early-dynamic-size-20k")}


CASES_DIR = Path(__file__).resolve().parent.parent / "cases"
ENTRIES = triage.load_triage()


@pytest.fixture(scope="module", params=["debian:6.1", "debian:6.12"])
def debian_side(request: pytest.FixtureRequest) -> runner.Side:
    snap = snapshot.load_snapshot(snapshot.parse_source_arg(request.param))
    rendered = shims.render(snap)
    return runner.Side("new", snap.label, rendered.api.generation, rendered, snap)


def verdicts(side: runner.Side, batch: list[cases.Case]) -> list[agree.Judged]:
    out: list[agree.Judged] = []
    for key in sorted({runner.shim_key(c) for c in batch}):
        group = [c for c in batch if runner.shim_key(c) == key]
        nr_cpus, page_shift, arch_name, numa = key
        shim = shims.build(side.rendering(arch_name),
                           shims.config_for(nr_cpus, page_shift, False, arch_name, numa))
        out += agree.agree(shim, side.generation, side.label, group, ENTRIES)
    return out


def ids(verdict: agree.Judged) -> set[str]:
    return {item.entry.id if item.entry else f"UNEXPLAINED {item.difference.describe()}"
            for item in verdict.labelled}


def test_named_cases_match_their_modern_expectation(debian_side: runner.Side) -> None:
    named = [cases.load_case(p) for p in sorted(CASES_DIR.glob("*.toml"))
             if p.name != "triage.toml"]
    runnable = [debian_side.case_for(c) for c in named if debian_side.runs(c.scenario)]
    assert len(runnable) >= 25
    for verdict in verdicts(debian_side, runnable):
        expected = {v.strip() for v in verdict.case.expect["modern"].split(",")} - {"agree"}
        assert ids(verdict) == expected, verdict.case.name


@pytest.mark.parametrize("scenario", ["embed", "page"])
def test_model_explains_every_generated_case(debian_side: runner.Side, scenario: str) -> None:
    batch = [c for nr_cpus in (8, 64) for c in generate.generate(60, 11, scenario, nr_cpus)]
    seen = [ids(v) for v in verdicts(debian_side, batch)]
    assert len(seen) == 120
    unexplained = [i for s in seen for i in s if i.startswith("UNEXPLAINED")]
    assert unexplained == []


def test_real_modern_code_writes_the_shape(shim: shims.Shim, numa_shim: shims.Shim) -> None:
    from test_result_shape import unknown_paths

    results: list[BootResult] = []
    for scenario in ("embed", "page"):
        todo = list(generate.generate(30, 3, scenario, NR_CPUS))
        for c in todo:
            results.append(server.run_one(numa_shim if c.numa else shim, c))
    assert unknown_paths(results) == set()

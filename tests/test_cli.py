"""Tests for the percpu-diff command line, run in-process on the fixture kernels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import kernel, run_cli

from harness.campaign import reproduce
from harness.cli import options, requests
from harness.core import cases

UNIT_MAP = kernel("unit_map")
ALLOC_INFO = kernel("alloc_info")
SHOW = ["show", "--possible", "0,2,4", "--nr-cpus", "8"]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich sizes its output from COLUMNS: make room for long fixture paths."""
    monkeypatch.setenv("COLUMNS", "240")


def assert_one_line_error(status: int, out: str, err: str, *needles: str) -> None:
    assert status == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("percpu-diff: error: ")
    for needle in needles:
        assert needle in lines[0]


# --- show ----------------------------------------------------------------------------


def test_show_prints_the_layout(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, *SHOW, "--dir", str(UNIT_MAP))
    assert status == 0, err
    assert err == ""
    assert "case cli: scenario embed, NR_CPUS=8, possible 0,2,4" in out
    assert "unit layout" in out
    assert "state left by pcpu_setup_first_chunk()" in out
    assert "outcome: ok, returned 131072" in out
    assert "bad frees 0" in out
    assert str(UNIT_MAP) in out


def test_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(
        capsys, *SHOW, "--dir", str(ALLOC_INFO), "--json", "--scenario", "page"
    )
    assert status == 0
    result = json.loads(out)
    assert result["outcome"] == {"kind": "ok"}
    assert result["generation"] == "alloc_info"
    assert result["possible"] == [0, 2, 4]
    assert result["source"] == str(ALLOC_INFO)
    assert result["setup_args"]["base_addr"] == "vmalloc:0x0"
    assert result["state"]["nr_units"] == 3


def test_show_two_sources_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, *SHOW, "--dir", str(UNIT_MAP), "--dir", str(ALLOC_INFO))
    assert status == 0, err
    assert out.count("outcome: ok, returned 131072") == 2
    assert str(UNIT_MAP) in out and str(ALLOC_INFO) in out
    # Only the alloc_info fixture prints an allocation dump.
    assert "(no allocation dump printed)" in out
    assert "pcpu-alloc: [0] @0 0 2 4" in out

    status, out, _ = run_cli(
        capsys, *SHOW, "--dir", str(UNIT_MAP), "--dir", str(ALLOC_INFO), "--json"
    )
    assert status == 0
    results = json.loads(out)
    assert [r["generation"] for r in results] == ["unit_map", "alloc_info"]
    assert results[0]["state"]["unit_map"][:5] == results[1]["state"]["unit_map"][:5]


def test_show_with_a_case_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / "lpage.toml"
    case.write_text(
        'name = "two-nodes"\nscenario = "lpage"\nnr_cpus = 8\npossible = "0,2,4"\n'
        'atom_size = "2M"\n\n[topology]\ncpu_node = [0, 1, 0]\n'
        "distance = [[10, 20], [20, 10]]\n"
    )
    status, out, _ = run_cli(
        capsys, "show", "--dir", str(ALLOC_INFO), "--case", str(case), "--json"
    )
    assert status == 0
    result = json.loads(out)
    assert result["case"] == "two-nodes"
    groups = result["build"]["alloc_info"]["groups"]
    assert [g["cpu_map"][:2] for g in groups] == [[0, 4], [2, 8]]


# --- extract and build ------------------------------------------------------------------


def test_extract_lists_items(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "extract", "--dir", str(UNIT_MAP), "--scenario", "embed")
    assert status == 0
    assert out.splitlines()[0] == f"{UNIT_MAP}: generation unit_map, scenarios embed"
    listed = {line.split()[1] for line in out.splitlines()[1:]}
    assert {"pcpu_setup_first_chunk", "fx_scratch", "pcpu_embed_first_chunk"} <= listed
    assert "pcpu_page_first_chunk" not in listed


def test_extract_compares_two_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(UNIT_MAP, copy)
    status, out, _ = run_cli(capsys, "extract", "--dir", str(UNIT_MAP), "--dir", str(copy))
    assert status == 0
    assert "0 of" not in out
    assert "byte-identical" in out

    source = copy / "mm" / "percpu.c"
    text = source.read_text()
    source.write_text(text.replace("return roundup_pow_of_two(", "return 2 * roundup_pow_of_two("))
    status, out, _ = run_cli(capsys, "extract", "--dir", str(UNIT_MAP), "--dir", str(copy))
    assert status == 1
    different = [line.split()[1] for line in out.splitlines() if "DIFFERENT" in line]
    assert different == ["fx_unit_size"]


def test_build_reports_cached_shims(capsys: pytest.CaptureFixture[str]) -> None:
    run_cli(capsys, "build", "--dir", str(UNIT_MAP), "--nr-cpus", "8")
    status, out, _ = run_cli(capsys, "build", "--dir", str(UNIT_MAP), "--nr-cpus", "8")
    assert status == 0
    assert out.startswith(f"{UNIT_MAP} unit_map NR_CPUS=8 plain cached ")


# --- bad input: exit status 2, one line ----------------------------------------------------


def test_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-kernel"
    result = run_cli(capsys, *SHOW, "--dir", str(missing))
    assert_one_line_error(*result, str(missing), "does not exist")


def test_directory_without_percpu_c(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "include" / "linux").mkdir(parents=True)
    (tmp_path / "include" / "linux" / "percpu.h").write_text("/* nothing */\n")
    result = run_cli(capsys, *SHOW, "--dir", str(tmp_path))
    assert_one_line_error(*result, "mm/percpu.c is missing")


def test_bad_cpu_list(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "show", "--dir", str(UNIT_MAP), "--possible", "0,two")
    assert_one_line_error(*result, '--possible 0,two has "two", which is not a cpu')


def test_backwards_cpu_range(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "show", "--dir", str(UNIT_MAP), "--possible", "4-2")
    assert_one_line_error(*result, "runs backwards")


def test_possible_cpu_beyond_nr_cpus(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "show", "--dir", str(UNIT_MAP), "--possible", "0,8", "--nr-cpus", "8")
    assert_one_line_error(*result, "0..7", "NR_CPUS=8")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name = [unclosed\n", "is not valid TOML"),
        ('name = "x"\nflavour = "vanilla"\n', "unknown key 'flavour'"),
        ('name = "x"\nscenario = "huge"\n', "scenario 'huge' unknown"),
        ('name = "x"\nstatic_size = "lots"\n', "is not a size"),
    ],
    ids=["syntax", "unknown-key", "bad-scenario", "bad-size"],
)
def test_bad_case_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, needle: str
) -> None:
    case = tmp_path / "bad.toml"
    case.write_text(text)
    result = run_cli(capsys, "show", "--dir", str(UNIT_MAP), "--case", str(case))
    assert_one_line_error(*result, needle)


def test_missing_case_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "show", "--dir", str(UNIT_MAP), "--case", str(tmp_path / "x.toml"))
    assert_one_line_error(*result, "does not exist")


def test_rev_without_tree(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "show", "--rev", "v2.6.31")
    assert_one_line_error(*result, "--rev needs --tree")


def test_no_source(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, *SHOW)
    assert_one_line_error(*result, "no source given")


def test_unknown_api_generation(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, *SHOW, "--dir", str(kernel("unknown_api")))
    assert_one_line_error(*result, "pcpu_setup_first_chunk(int, int)")


def test_unresolved_symbol(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, *SHOW, "--dir", str(kernel("unresolved")))
    assert_one_line_error(*result, "frobnicate_percpu", "pcpu_embed_first_chunk")


DUMPS = Path(__file__).resolve().parent / "test_data" / "dumps"


def test_dump_reads_a_boot_log(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "dump", str(DUMPS / "lpage_old_sparse.txt"), "--json")
    assert status == 0
    table = json.loads(out)
    assert table["format"] == "lpage" and table["unit_size"] == 1048576
    assert [u["unit"] for u in table["units"]] == list(range(len(table["units"])))


def test_dump_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "dump", str(DUMPS / "alloc_lpage_12groups.txt"))
    assert status == 0
    assert out.startswith("alloc dump: static")


def test_dump_of_a_log_without_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "dmesg.txt"
    log.write_text("Linux version 2.6.31\nPERCPU: Embedded 12 pages/cpu\n")
    assert_one_line_error(*run_cli(capsys, "dump", str(log)), "no pcpu-alloc: or pcpu-lpage:")
    assert_one_line_error(*run_cli(capsys, "dump", str(tmp_path / "nope")), "cannot read")


def test_show_model_against_a_fixture_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    """The fixture kernel is no percpu.c: the model disagrees, and nothing explains it."""
    status, out, _ = run_cli(capsys, "show", "--dir", str(kernel("unit_map")), "--possible",
                             "0,2,4", "--nr-cpus", "8", "--model", "auto", "--json")
    assert status == 0
    shown = json.loads(out)
    assert [r["source"].split("@")[0] for r in shown["results"]][1] == "model:unit_map"
    assert shown["differences"][0] and all(d["triage"] is None
                                           for d in shown["differences"][0])


def test_agree_needs_exactly_one_source(capsys: pytest.CaptureFixture[str]) -> None:
    d = str(kernel("unit_map"))
    assert_one_line_error(*run_cli(capsys, "agree", "--dir", d, "--dir", d), "one source")


def test_agree_streams_disagreements_and_fails(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "verdicts.jsonl"
    status, out, _ = run_cli(capsys, "agree", "--dir", str(kernel("unit_map")), "--scenario",
                             "embed", "--count", "20", "--nr-cpus", "8", "--out", str(out_file),
                             "--json")
    summary = json.loads(out)["scenarios"]["embed"]
    assert summary["cases"] == 20
    verdicts = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert len(verdicts) == 20 - summary["verdicts"].get("agree", 0)
    # The fixture is not mm/percpu.c: its differences are nobody's known bug.
    assert summary["verdicts"].get("unexpected", 0) > 0 and status == 1
    assert all(v["verdict"] in ("unexpected", "failed", "triaged") for v in verdicts)


def test_agree_boots_a_dropped_scenario_on_its_successor(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The alloc_info fixture without its large page allocator: a revision
    # after "percpu: kill lpage first chunk allocator".
    tree = tmp_path / "no-lpage"
    shutil.copytree(kernel("alloc_info"), tree)
    c_file = tree / "mm" / "percpu.c"
    text = c_file.read_text()
    start = text.index("#ifdef CONFIG_NEED_PER_CPU_LPAGE_FIRST_CHUNK")
    end = text.index("#endif /* fixture: lpage scenario */")
    c_file.write_text(text[:start] + text[end + len("#endif /* fixture: lpage scenario */"):])
    status, out, err = run_cli(capsys, "agree", "--dir", str(tree), "--scenario", "lpage",
                               "--count", "10", "--nr-cpus", "8", "--json")
    assert "lpage runs on embed, its successor" in " ".join(err.split())
    assert json.loads(out)["scenarios"]["lpage"]["cases"] == 10
    assert status in (0, 1)


# --- requests ------------------------------------------------------------------------


def test_each_command_gets_its_request() -> None:
    """The Namespace never leaves options.py: each command is handed its request."""
    want = {
        ("show", "--dir", "d", "--no-pse"): requests.ShowRequest,
        ("agree", "--dir", "d"): requests.AgreeRequest,
        ("dump", "-"): requests.DumpRequest,
        ("run", "--nr-cpus", "8", "--no-corpus"): requests.RunRequest,
        ("repro", "--tree", "t", "--base", "b", "--patch", "p"): requests.ReproRequest,
        ("extract", "--dir", "d"): requests.ExtractRequest,
        ("build", "--dir", "d", "--page-size", "8K"): requests.BuildRequest,
    }
    made = {argv[0]: options.parse(list(argv)) for argv in want}
    for argv, kind in want.items():
        assert type(made[argv[0]]) is kind
    show = made["show"]
    assert isinstance(show, requests.ShowRequest)
    # A flag turns its field from the default.
    assert show.case.given == {"pse": True}
    assert show.case.case().pse is False
    run = made["run"]
    assert isinstance(run, requests.RunRequest)
    assert (run.nr_cpus, run.corpus, run.sources.given()) == ((8,), False, False)
    build = made["build"]
    assert isinstance(build, requests.BuildRequest)
    assert build.build.config(64, build.page_size).page_shift == 13


def test_repro_command_quotes_the_sources_and_the_matrix() -> None:
    request = options.parse(["run", "--tree", "/k t", "--base", "v1^", "--patch", "a.patch"])
    assert isinstance(request, requests.RunRequest)
    case = cases.Case(name="c", scenario="lpage", nr_cpus=8, possible=(0, 2, 3),
                      cpu_node=(0, 1, 1), distance=((10, 20), (20, 10)), atom_size=2 << 20)
    assert reproduce.repro_command(request.sources.words(), case) == (
        "percpu-diff repro --tree '/k t' --base 'v1^' --patch a.patch --scenario lpage "
        "--nr-cpus 8 --possible 0,2-3 --cpu-node 0,1,1 --distance '10,20;20,10' "
        "--static-size 40960 --reserved-size 8192 --dyn-size auto --atom-size 2097152")


def test_show_refuses_a_scenario_the_source_cannot_boot_as_run_does(
        capsys: pytest.CaptureFixture[str]) -> None:
    # The unit_map fixture has no arch files: one line, status 2, as run says it.
    status, out, err = run_cli(capsys, "show", "--dir", str(UNIT_MAP), "--scenario", "x86",
                               "--possible", "0,2,4", "--nr-cpus", "8")
    assert status == 2 and out == ""
    assert err.strip().splitlines() == [
        f"percpu-diff: error: scenario x86 needs arch/x86/kernel/setup_percpu.c and a "
        f"generation that builds it on every side, and {UNIT_MAP} (unit_map) cannot boot it: "
        "use other "
        "sources, or drop --scenario x86"]
    run_status, _, run_err = run_cli(capsys, "run", "--dir", str(UNIT_MAP), "--scenario",
                                     "x86", "--cases", "1")
    assert run_status == 2 and run_err.strip() == err.strip()

"""show, run and repro on one case: a run keeps every case it ran (cases.jsonl.gz
and run.json's replay), `show --run DIR CASE` and `repro --run DIR CASE` boot it
on the run's own sides; the three commands take a scenario by one rule; show
prints the kernel's own lines; a build failure names its first compiler error
by the tree's file:line.

The runs boot the project's fixture kernels (invented code, not percpu.c)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import kernel
from conftest import run_cli as cli

from harness.campaign import kept_cases
from harness.cli import app
from harness.compile import shims
from harness.core import cases
from harness.core.errors import UserError
from harness.report import console

OPTIONS = ("--nr-cpus", "8", "--no-corpus", "--jobs", "1", "--shrink-seconds", "0",
           "--max-reproducers", "1", "--timeout-ms", "60000")


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines as long as they are: rich wraps at the terminal's width."""
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A run of 8 generated cases, old unit_map vs new alloc_info, given by
    relative --dir paths from the fixtures' directory."""
    out = tmp_path_factory.mktemp("run") / "out"
    here = os.getcwd()
    os.chdir(kernel("unit_map").parent)
    try:
        status = app.main(["run", "--dir", "unit_map", "--dir", "alloc_info", "--cases", "8",
                           *OPTIONS, "--out", str(out)])
    finally:
        os.chdir(here)
    assert status == 1  # the fixtures differ: a run that ran
    yield out


def records(out: Path) -> dict[str, dict[str, object]]:
    lines = (out / "results.jsonl").read_text().splitlines()
    return {r["case"]: r for r in map(json.loads, lines)}


def kept(out: Path) -> list[tuple[str, str]]:
    rows = gzip.decompress((out / kept_cases.CASES_FILE).read_bytes()).splitlines()
    return [(name, text) for name, text in map(json.loads, rows)]


def test_a_run_keeps_every_case_whole(run_dir: Path) -> None:
    rows = kept(run_dir)
    assert [name for name, _ in rows] == sorted(records(run_dir))
    meta = json.loads((run_dir / "run.json").read_text())
    assert kept_cases.digest(text for _, text in rows) == meta["identity"]["cases"]
    # the replay: the sources as given, where they were given, the build
    assert meta["replay"]["sources"]["dirs"] == ["unit_map", "alloc_info"]
    assert meta["replay"]["cwd"] == str(kernel("unit_map").parent)
    assert meta["replay"]["build"]["timeout_ms"] == 60000
    name, text = rows[3]
    assert kept_cases.open_run(run_dir).case(name) == \
        cases.case_from_mapping(tomllib.loads(text), name)
    # well under a kilobyte a case, compressed
    assert (run_dir / kept_cases.CASES_FILE).stat().st_size < 300 * len(rows)


def test_repro_run_judges_the_case_as_the_run_did(
        run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name, record = next((n, r) for n, r in records(run_dir).items() if r["scenario"] == "embed")
    status, out, _ = cli(capsys, "repro", "--run", str(run_dir), name, "--json")
    shown = json.loads(out)
    assert status == (1 if record["verdict"] == "unexpected" else 0)
    assert shown["record"] == record
    assert shown["case_toml"] == dict(kept(run_dir))[name]
    # the reproducer on the run's own source words, as the run's reproducers are
    assert shown["command"].startswith(
        "percpu-diff repro --dir unit_map --dir alloc_info --scenario embed --nr-cpus 8 ")
    status, out, _ = cli(capsys, "repro", "--run", str(run_dir), name)
    assert f"case {name}: scenario embed, NR_CPUS=8" in out
    assert f"verdict: {record['verdict']}; reproduce with: percpu-diff repro --dir unit_map" \
        in out


def test_show_run_boots_the_case_on_the_run_sides(
        run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name, record = next(iter(records(run_dir).items()))
    case = kept_cases.open_run(run_dir).case(name)
    status, out, err = cli(capsys, "show", "--run", str(run_dir), name, "--json")
    assert status == 0 and "changed since the run" not in err
    results = json.loads(out)
    assert [r["source"] for r in results] == ["unit_map", "alloc_info"]
    assert {side: r["outcome"]["kind"] for side, r in zip(("old", "new"), results, strict=True)} \
        == record["outcomes"]
    status, out, _ = cli(capsys, "show", "--run", str(run_dir), name)
    assert out.startswith(f"case {name}: scenario {record['scenario']}, "
                          f"NR_CPUS={record['nr_cpus']}, possible ")
    # the kernels' own lines, beside the dump
    assert "PERCPU: fixture" in out
    # a case option given now is laid over the run's case
    status, out, _ = cli(capsys, "show", "--run", str(run_dir), name, "--nr-cpus", "16",
                         "--json")
    assert status == 0 and case.nr_cpus == 8


def test_show_run_refuses_in_one_line(run_dir: Path, capsys: pytest.CaptureFixture[str],
                                      tmp_path: Path) -> None:
    status, _, err = cli(capsys, "show", "--run", str(run_dir), "run-s1-0003")
    assert status == 2 and len(err.splitlines()) == 1
    assert "ran no case named 'run-s1-0003' (8 cases): try run-s1-00003" in err
    status, _, err = cli(capsys, "repro", "--run", str(tmp_path), "run-s1-00003")
    assert status == 2 and len(err.splitlines()) == 1
    assert f"holds no run (run.json is not there): give --run the --out of a run " \
           f"(ls {tmp_path})" in err
    status, _, err = cli(capsys, "show", "--run", str(run_dir), "--dir", "x", "run-s1-00003")
    assert status == 2 and "drop the source options" in err
    status, _, err = cli(capsys, "show", "--run", str(run_dir))
    assert status == 2 and "takes the name of one of its cases" in err


def test_a_damaged_or_older_run_dir_is_named(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / kept_cases.CASES_FILE).unlink()
    with pytest.raises(UserError, match=r"keeps no cases.*older percpu-diff"):
        kept_cases.open_run(copy).case("run-s1-00001")
    rows = kept(run_dir)
    lines = "".join(json.dumps(list(row)) + "\n" for row in rows[:-1])
    (copy / kept_cases.CASES_FILE).write_bytes(gzip.compress(lines.encode()))
    with pytest.raises(UserError, match=r"does not hold the cases run\.json was written for"):
        kept_cases.open_run(copy).case("run-s1-00001")


def test_resume_writes_the_cases_an_older_run_lacks(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ["run", "--dir", str(kernel("unit_map")), "--cases", "3", *OPTIONS,
            "--out", str(out)]
    assert cli(capsys, *args)[0] == 1
    before = (out / kept_cases.CASES_FILE).read_bytes()
    (out / kept_cases.CASES_FILE).unlink()
    assert cli(capsys, *args, "--resume")[0] == 1
    assert (out / kept_cases.CASES_FILE).read_bytes() == before


def without_lpage(tmp_path: Path) -> Path:
    """alloc_info with its lpage allocator gone: its generation boots lpage
    cases on embed, lpage's successor."""
    root = tmp_path / "no_lpage"
    shutil.copytree(kernel("alloc_info"), root)
    for path in (root / "mm" / "percpu.c", root / "include" / "linux" / "percpu.h"):
        path.write_text(path.read_text().replace("pcpu_lpage_first_chunk", "fx_gone_first"))
    return root


def test_show_run_repro_take_a_scenario_alike(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(without_lpage(tmp_path))
    case = ("--scenario", "lpage", "--possible", "0-1", "--nr-cpus", "8")
    note = f"{root}: lpage runs on embed, its successor in the alloc_info generation"
    status, out, _ = cli(capsys, "run", "--dir", root, "--scenario", "lpage", "--cases", "2",
                         *OPTIONS, "--out", str(tmp_path / "out"))
    # run says it once, in its summary's header
    assert "scenarios: lpage; lpage runs as embed on " in " ".join(out.split()), out
    for command in ("show", "repro"):
        status, _, err = cli(capsys, command, "--dir", root, *case)
        assert note in err, command
    # a scenario a source cannot boot: the same one line from all three
    refusals = set()
    for command, more in (("run", (*OPTIONS, "--out", str(tmp_path / "x86"))),
                          ("show", ("--possible", "0-1")), ("repro", ("--possible", "0-1"))):
        status, _, err = cli(capsys, command, "--dir", str(kernel("unit_map")),
                             "--scenario", "x86", *more)
        assert status == 2 and len(err.strip().splitlines()) == 1, (command, err)
        refusals.add(err.split("error: ", 1)[1])
    assert len(refusals) == 1 and "scenario x86 needs arch/x86/kernel/setup_percpu.c" \
        in refusals.pop()


def test_boot_lines_keep_the_dump_whole_and_cut_the_rest() -> None:
    log = "<6>percpu: Embedded 19 pages/cpu s40960 r8192 d28672 u77824\n" + \
        "".join(f"<7>pcpu-alloc: [0] {n}\n" for n in range(100)) + \
        "".join(f"<6>chatter {n}\n" for n in range(100))
    text = console.boot_lines(log).splitlines()
    assert text[0] == "percpu: Embedded 19 pages/cpu s40960 r8192 d28672 u77824"
    assert text[1:101] == [f"pcpu-alloc: [0] {n}" for n in range(100)]
    assert text[101:] == [f"chatter {n}" for n in range(console.BOOT_LINES_SHOWN - 1)] + [
        f"... {101 - console.BOOT_LINES_SHOWN} more lines the kernel printed "
        "(--json has the whole log)"]


def broken(tmp_path: Path, old: str, new: str) -> Path:
    root = tmp_path / "broken"
    shutil.copytree(kernel("unit_map"), root)
    source = root / "mm" / "percpu.c"
    source.write_text(source.read_text().replace(old, new, 1))
    return root


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_a_missing_header_is_named_where_the_tree_includes_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], shim_cache: Path) -> None:
    root = broken(tmp_path, "#include <asm/sections.h>",
                  "#include <asm/sections.h>\n#include  <asm/fx-no-such.h>")
    line = line_of(root / "mm" / "percpu.c", "fx-no-such")
    status, _, err = cli(capsys, "show", "--dir", str(root), "--possible", "0-1")
    assert status == 2
    assert (f"1 compiler error, first: mm/percpu.c:{line}:11: fatal error: asm/fx-no-such.h: "
            "No such file or directory (full log: ") in err
    assert ".build-" not in err and "shim_tu.c" not in err


def test_a_missing_header_after_pr_fmt_is_named_by_its_own_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], shim_cache: Path) -> None:
    # The unit's includes follow the pr_fmt item's #line, so gcc names them
    # by a line of mm/percpu.c that is not theirs (a blank one, on 6.6).
    root = broken(tmp_path, "#include <linux/bootmem.h>",
                  '#define pr_fmt(fmt) "fx: " fmt\n#include <linux/bootmem.h>')
    source = root / "mm" / "percpu.c"
    source.write_text(source.read_text() + "\n\n#include <asm/fx-late.h>\n")
    line = line_of(source, "fx-late")
    status, _, err = cli(capsys, "show", "--dir", str(root), "--possible", "0-1")
    assert status == 2
    assert (f"first: mm/percpu.c:{line}:10: fatal error: asm/fx-late.h: No such file or "
            "directory") in err


def test_an_error_in_a_function_is_named_by_its_tree_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], shim_cache: Path) -> None:
    root = broken(tmp_path, "chunk->base_addr = base;", "chunk->base_addr = base +;")
    line = line_of(root / "mm" / "percpu.c", "base +;")
    status, _, err = cli(capsys, "show", "--dir", str(root), "--possible", "0-1")
    assert status == 2
    assert f"compiler error, first: mm/percpu.c:{line}:" in err
    assert "error: expected expression before ';' token" in err


def test_scratch_paths_are_named_as_the_tree_and_project_name_them(tmp_path: Path) -> None:
    work = tmp_path / ".build-x"
    stub = shims.STUB_INCLUDE / "linux" / "mm.h"
    assert shims.tree_named(f"{work}/include/linux/percpu.h:3:1: error: x", None, work) == \
        "include/linux/percpu.h:3:1: error: x"
    assert shims.tree_named(f"{stub}:9:2: error: y", None, work) == \
        "kernel_shim/include/linux/mm.h:9:2: error: y"
    assert shims.tree_named(f"{work}/shim_tu.c:40:2: error: z", None, work) == \
        "shim_tu.c:40:2: error: z"
    assert shims.tree_named("collect2: error: ld returned 1 exit status", None, work) == \
        "collect2: error: ld returned 1 exit status"

"""--coverage: gcov's counts of the kernel code, in the kernel file's line
numbers, merged over every forked child, and a patch's lines no case reached.

Runs the real pipeline on the invented fixture kernel alloc_info, in a git
tree of its own with a patch that adds a branch no case can take.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import dir_snapshot, kernel

from harness.campaign import coverage
from harness.cli import app
from harness.compile import shims

PERCPU_C = "mm/percpu.c"
# In the fixture's pcpu_setup_first_chunk(): a line every boot runs, and the
# loop after which the patch adds its branch (new side lines 191-192).
RUN_LINE = "size_t used = info->static_size + info->reserved_size + info->dyn_size;"
AFTER = "\t\tcpu_unit[c] = -1;\n"
ADDED = "\tif (nr_cpu_ids > NR_CPUS)\n\t\tpcpu_nr_units = 0;\n"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def patched_tree(tmp_path: Path) -> tuple[Path, Path]:
    """A git tree of the fixture kernel, and a patch adding a branch no case takes."""
    repo = tmp_path / "linux"
    shutil.copytree(kernel("alloc_info"), repo)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base")
    source = repo / PERCPU_C
    text = source.read_text()
    assert text.count(AFTER) == 1
    source.write_text(text.replace(AFTER, AFTER + ADDED))
    patch = tmp_path / "branch.patch"
    patch.write_text(git(repo, "diff"))
    git(repo, "checkout", "-q", "--", ".")
    return repo, patch


def new_line_of(repo: Path, wanted: str) -> int:
    text = (repo / PERCPU_C).read_text().replace(AFTER, AFTER + ADDED)
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.strip() == wanted)


def run_coverage(repo: Path, patch: Path, out: Path,
                 capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    status = app.main(["run", "--tree", str(repo), "--base", "HEAD", "--patch", str(patch),
                       "--scenario", "embed", "--cases", "6", "--nr-cpus", "8", "--no-corpus",
                       "--jobs", "2", "--max-reproducers", "0", "--coverage",
                       "--out", str(out), "--timeout-ms", "60000"])
    assert status in (0, 1)
    printed = capsys.readouterr().out
    return json.loads((out / "report.json").read_text())["coverage"], printed


def setup_of(report: dict[str, Any]) -> dict[str, Any]:
    return next(f for f in report["functions"]
                if f["function"] == "pcpu_setup_first_chunk" and f["file"] == PERCPU_C)


def test_coverage_counts_lines_and_branches_in_the_kernel_files_numbers(
        patched_tree: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    repo, patch = patched_tree
    report, printed = run_coverage(repo, patch, tmp_path / "run", capsys)
    new = report["new"]
    fn = setup_of(new)
    guard = new_line_of(repo, "if (nr_cpu_ids > NR_CPUS)")
    behind = new_line_of(repo, "pcpu_nr_units = 0;")
    ran = new_line_of(repo, RUN_LINE)
    # every child's counters were dumped and merged: the boots' lines ran
    assert fn["lines_hit"] > 0 and ran not in fn["unreached_lines"]
    assert fn["line"] < ran < behind
    # the line behind the branch no case takes, and that branch's arm
    assert behind in fn["unreached_lines"] and guard not in fn["unreached_lines"]
    assert any(line == guard for line, _ in fn["untaken_branches"])
    assert new["lines_hit"] < new["lines"] and new["branches_taken"] < new["branches"]
    # the patch's added line no case reached, named with its text
    assert new["unreached_changed_lines"] == [
        {"file": PERCPU_C, "line": behind, "text": "pcpu_nr_units = 0;"}]
    assert new["changed_lines"]["reached"] == 1
    assert f"unreached {PERCPU_C}:{behind}: pcpu_nr_units = 0;" in printed
    assert "pcpu_setup_first_chunk" in printed and "functions" in printed
    # the old side is the base: counted too, with no changed lines of its own
    assert "unreached_changed_lines" not in report["old"]
    assert setup_of(report["old"])["lines_hit"] > 0


def test_coverage_shims_are_cached_apart_from_plain_ones() -> None:
    rendered = shims.render(dir_snapshot(kernel("alloc_info")))
    plain = shims.build(rendered, shims.config_for(8, 12, False))
    covered = shims.build(rendered, shims.config_for(8, 12, False, coverage=True))
    assert plain.key != covered.key and plain.path.is_file()
    assert list(covered.path.parent.glob("*.gcno")) and not list(plain.path.parent.glob("*.gcno"))


def test_changed_lines_are_the_new_sides_inserted_and_replaced_lines() -> None:
    old = "a\nb\nc\nd\n"
    new = "a\nB\nc\nx\ny\nd\n"
    assert coverage.changed_lines(old, new) == [2, 4, 5]


def test_show_and_agree_report_coverage_too(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    fixture = str(kernel("alloc_info"))
    assert app.main(["show", "--dir", fixture, "--scenario", "embed", "--possible", "0,2,4",
                     "--nr-cpus", "8", "--coverage"]) == 0
    shown = capsys.readouterr().out
    assert "coverage of" in shown and "pcpu_setup_first_chunk" in shown
    app.main(["agree", "--dir", fixture, "--scenario", "embed", "--count", "4",
              "--nr-cpus", "8", "--coverage", "--json"])
    report = json.loads(capsys.readouterr().out)["coverage"]
    fn = setup_of(report)
    assert fn["lines_hit"] > 0 and fn["unreached_lines"]

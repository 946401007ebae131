"""A fresh machine: the README's two commands, and the tree tests' guard.

The stale-lists test is the README's main job as a new user runs it on a
Debian image whose apt lists carry bookworm main only: ./bootstrap must see
that apt lacks linux-source-6.12, update the lists, and the main job must
then run through.  The lists are a copy in a temporary directory (APT_CONFIG),
so the machine's own lists are not touched; the update and the packages are
real (network to the Debian mirror, as bootstrap itself needs).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.run import DEFAULT_SOURCES

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = ROOT / "bootstrap"
SYSTEM_LISTS = Path("/var/lib/apt/lists")

needs_apt_as_root = pytest.mark.skipif(
    shutil.which("apt-get") is None or os.geteuid() != 0 or not SYSTEM_LISTS.is_dir(),
    reason="needs Debian's apt, run as root (bootstrap updates apt's lists)")


def bootstrap_series() -> list[str]:
    found = re.search(r'^SERIES="([^"]*)"$', BOOTSTRAP.read_text(), re.MULTILINE)
    assert found, "bootstrap has no SERIES= line"
    return found.group(1).split()


def test_bootstrap_checks_the_series_of_the_main_job() -> None:
    """bootstrap runs before Python packages exist, so it cannot import the
    main job's sources: this keeps its copy of them the same."""
    assert [f"debian:{s}" for s in bootstrap_series()] == list(DEFAULT_SOURCES)


def test_bootstrap_refuses_an_unknown_option_in_one_line() -> None:
    done = subprocess.run([str(BOOTSTRAP), "--fast"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "bootstrap: unknown option '--fast': use ./bootstrap [--oracle]"]


def stale_apt(where: Path, *, sources: str | None = None) -> dict[str, str]:
    """An apt configuration whose lists are the machine's lists of bookworm
    main only (as many images ship); with `sources`, apt's sources are that
    text alone instead of the machine's."""
    lists, cache = where / "lists", where / "cache"
    (lists / "partial").mkdir(parents=True)
    cache.mkdir()
    for path in SYSTEM_LISTS.glob("*_dists_bookworm_*"):
        shutil.copy(path, lists / path.name)
    config = [f'Dir::State::Lists "{lists}/";', f'Dir::Cache "{cache}/";']
    if sources is not None:
        parts = where / "sources.list.d"
        parts.mkdir()
        (where / "sources.list").write_text(sources)
        config += [f'Dir::Etc::sourcelist "{where / "sources.list"}";',
                   f'Dir::Etc::sourceparts "{parts}";']
    (where / "apt.conf").write_text("\n".join(config) + "\n")
    return {**os.environ, "APT_CONFIG": str(where / "apt.conf")}


def apt_knows(package: str, env: dict[str, str]) -> bool:
    return subprocess.run(["apt-cache", "show", package], capture_output=True, env=env,
                          timeout=120, check=False).returncode == 0


@needs_apt_as_root
def test_stale_lists_then_the_readme_main_job(tmp_path: Path) -> None:
    env = stale_apt(tmp_path / "apt")
    assert apt_knows("linux-source-6.1", env), "bookworm main's lists carry linux-source-6.1"
    assert not apt_knows("linux-source-6.12", env), "the stale lists must lack 6.12"
    boot = subprocess.run([str(BOOTSTRAP)], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=1800, check=False)
    assert boot.returncode == 0, boot.stderr[-2000:]
    assert "bootstrap: apt's lists lack linux-source-6.12: updating them" in boot.stderr
    assert apt_knows("linux-source-6.12", env)
    out = tmp_path / "run"
    job = subprocess.run([str(ROOT / ".venv" / "bin" / "percpu-diff"), "run", "--cases", "1000",
                          "--out", str(out)], cwd=tmp_path, capture_output=True, text=True,
                         env=env, timeout=3600, check=False)
    assert job.returncode == 0, job.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    summary = report["summary"]
    assert summary["cases"] >= 1000 and summary["unexpected"] == summary["failed"] == 0, summary


@needs_apt_as_root
def test_a_suite_apt_lacks_even_after_updating_is_one_line(tmp_path: Path) -> None:
    """Sources without bookworm-security: the update cannot bring 6.12, and
    bootstrap says which suite to add (before building anything)."""
    env = stale_apt(tmp_path / "apt", sources=(
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://deb.debian.org/debian bookworm main\n"))
    boot = subprocess.run([str(BOOTSTRAP)], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=600, check=False)
    assert boot.returncode == 2, boot.stderr[-2000:]
    last = boot.stderr.splitlines()[-1]
    assert last.startswith("bootstrap: apt knows no linux-source-6.12 even after apt-get update")
    assert "bookworm-security" in last and "./bootstrap again" in last


def test_the_tree_tests_without_a_tree_fail_saying_how_to_give_one() -> None:
    """`tox -e tree` runs `pytest -m tree`: with no tree every test would
    skip and the run pass."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PERCPU_DIFF_TREE", "PERCPU_DIFF_TREES")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "tree", "-p", "no:cacheprovider",
                           "--collect-only", "-q"], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=600, check=False)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "set PERCPU_DIFF_TREE=/path/to/linux" in done.stderr

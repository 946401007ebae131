"""Shared fixtures for the hermetic tests.

The fixture kernels under fixtures/kernels are small allocators invented
for the tests (never kernel code) that have the interface the shim's glue
expects.  Every session builds its shims into its own cache directory, so
tests never touch ~/.cache and each shim is compiled at most once per run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.compile import shims
from harness.core import cases
from harness.sources import snapshot

KERNELS = Path(__file__).resolve().parent / "fixtures" / "kernels"
NR_CPUS = 8
POSSIBLE = (0, 2, 4)

ShimFactory = Callable[..., shims.Shim]
CaseFactory = Callable[..., cases.Case]


@pytest.fixture(scope="session", autouse=True)
def shim_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A build cache private to this test session."""
    cache = tmp_path_factory.mktemp("percpu-diff-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PERCPU_DIFF_CACHE", str(cache))
        yield cache


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """percpu-diff's main on argv in this process: (exit status, stdout, stderr)."""
    from harness.cli import app  # the commands' imports, only for tests that run them

    status = app.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def kernel(name: str) -> Path:
    """Path of a fixture kernel directory, e.g. kernel("unit_map")."""
    path = KERNELS / name
    assert (path / "mm" / "percpu.c").is_file(), path
    return path


def dir_snapshot(path: Path) -> snapshot.Snapshot:
    return snapshot.load_snapshot(snapshot.SourceSpec("dir", path))


def magic(name: str, fixture: str = "unit_map") -> int:
    """Value of a `#define NAME <number>` in a fixture's mm/percpu.c."""
    text = (kernel(fixture) / "mm" / "percpu.c").read_text()
    m = re.search(rf"^#define\s+{name}\s+(\d+)\b", text, re.MULTILINE)
    assert m, f"{name} is not defined in the {fixture} fixture"
    return int(m.group(1))


def line_of(path: Path, needle: str) -> int:
    """1-based number of the only line of path containing needle."""
    hits = [n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """A result without what legitimately differs between two runs of a case."""
    return {k: v for k, v in result.items() if k not in ("id", "case", "elapsed_us")}


@pytest.fixture(scope="session")
def make_shim(shim_cache: Path) -> ShimFactory:
    """Build (once per session) the shim of a fixture kernel directory."""
    built: dict[tuple[Path, int, bool], shims.Shim] = {}

    def make(path: Path, nr_cpus: int = NR_CPUS, sanitize: bool = False) -> shims.Shim:
        key = (path, nr_cpus, sanitize)
        if key not in built:
            rendered = shims.render(dir_snapshot(path))
            built[key] = shims.build(rendered, shims.BuildConfig(nr_cpus, sanitize=sanitize))
        return built[key]

    return make


@pytest.fixture(scope="session")
def make_case() -> CaseFactory:
    """A case on NR_CPUS=8 with cpus 0, 2 and 4 possible, overridable."""

    def make(name: str = "case", **fields: Any) -> cases.Case:
        fields.setdefault("nr_cpus", NR_CPUS)
        fields.setdefault("possible", POSSIBLE)
        return cases.Case(name=name, **fields).validate()

    return make


def pytest_configure(config: pytest.Config) -> None:
    """`tox -e tree` selects the tree tests only: without a tree they would
    all skip and the run would pass, saying nothing was tested."""
    if config.getoption("markexpr") == "tree" and not (
            os.environ.get("PERCPU_DIFF_TREE") or os.environ.get("PERCPU_DIFF_TREES")):
        raise pytest.UsageError(
            "the tree tests need kernel trees: set PERCPU_DIFF_TREE=/path/to/linux (the 2009 "
            "history) and/or PERCPU_DIFF_TREES=trees.txt (one tree per line)")

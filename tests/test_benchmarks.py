"""The benchmarks run: a short pass over a fixture kernel keeps them from
rotting between the times someone reads their figures."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import kernel

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_bench_shim_times_every_scenario_of_a_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load("bench_shim")
    bench.main(["--dir", str(kernel("alloc_info")), "--cases", "20", "--nr-cpus", "4"])
    out = capsys.readouterr().out
    assert re.search(r"^source .*: render [\d.]+ ms, build .* ms", out, re.M), out
    for scenario in ("embed", "page", "lpage", "x86", "sparc64"):
        line = re.search(rf"^{scenario} +plain +NR_CPUS=4: 20 cases in [\d.]+ s = [\d,]+ "
                         rf"cases/s \((\d+) ok\)", out, re.M)
        assert line, f"no figure for {scenario}:\n{out}"
        assert line.group(1) == "20", f"{scenario}: {line.group(0)}"

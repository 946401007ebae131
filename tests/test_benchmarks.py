"""The benchmarks run: a short pass over a fixture kernel keeps them from
rotting between the times someone reads their figures."""

from __future__ import annotations

import importlib.util
import json
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


def test_suite_measures_every_row_on_fixture_kernels(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The whole suite for a moment, hermetic: two fixture kernels stand for
    the Debian ones, a small case for the 4096-cpu one, no QEMU."""
    suite = load("suite")
    case = tmp_path / "small.toml"
    case.write_text('name = "small"\nscenario = "embed"\nnr_cpus = 64\npossible = "0-7"\n')
    report = tmp_path / "bench.json"
    fixtures = [f"dir:{kernel(name)}" for name in ("alloc_info", "alloc_info")]
    status = suite.main([*(f"--source={s}" for s in fixtures), "--run-cases", "6",
                         "--agree-count", "6", "--shim-cases", "6", "--boots", "0",
                         "--memory-cases", "6",
                         "--case", str(case), "--json", str(report)])
    assert status == 0
    data = json.loads(report.read_text())
    keys = [row["key"] for row in data["rows"]]
    assert keys == ["run_mixed", "run_8", "agree_embed_8", "agree_embed_64", "show_case",
                    "show_case_json", "model_alone", "memory_run", "memory_show",
                    "shim_embed_64"], keys
    for row in data["rows"]:
        assert row["figure"] > 0, row
        assert set(row) == {"key", "work", "figure", "unit", "goal", "detail", "met",
                            "issue"}, row
        assert row["met"] in (True, False, None)
        assert (row["goal"] is None) == (row["met"] is None), row
    assert {row["key"]: row["issue"] for row in data["rows"] if row["issue"]} == {
        "run_mixed": 70.0, "run_8": 154.0, "agree_embed_8": 274.0, "agree_embed_64": 155.0,
        "show_case": 3.0}
    rates = {row["key"]: row for row in data["rows"] if row["unit"] == "cases/s"}
    assert rates["run_8"]["detail"].startswith("6 cases in "), rates["run_8"]
    assert rates["agree_embed_64"]["detail"].startswith("6 cases in "), rates
    assert data["skipped"] == ["QEMU rows: no boots asked for (--boots 0)"], data["skipped"]
    assert data["sizes"] == {"run_cases": 6, "agree_count": 6, "shim_cases": 6, "boots": 0,
                             "memory_cases": 6}
    memory = {row["key"]: row for row in data["rows"] if row["unit"] == "MiB"}
    # a Python process with the harness loaded: more than 10 MiB, under its bound
    assert all(10 < row["figure"] < row["goal"] for row in memory.values()), memory
    assert memory["memory_run"]["detail"].startswith("6 cases; largest child "), memory
    table = capsys.readouterr().out
    for row in data["rows"]:
        assert row["work"] in table, table
    assert "(left out: QEMU rows: no boots asked for (--boots 0))" in table


def test_suite_row_goals_are_judged_the_right_way_round() -> None:
    suite = load("suite")
    assert suite.Row("r", "w", 200.0, "cases/s", 170.0).met is True
    assert suite.Row("r", "w", 100.0, "cases/s", 170.0).met is False
    assert suite.Row("s", "w", 0.5, "s", 1.0).met is True
    assert suite.Row("s", "w", 3.0, "s", 1.0).met is False
    assert suite.Row("x", "w", 400.0, "x", 1000.0).met is False
    assert suite.Row("n", "w", 1.0, "s", None).met is None
    assert suite.Row("m", "w", 120.0, "MiB", 200.0).met is True
    assert suite.Row("m", "w", 250.0, "MiB", 200.0).met is False
    assert "< 200 MiB" in suite.format_row(suite.Row("m", "w", 120.0, "MiB", 200.0))


def test_suite_qemu_rows_put_each_boot_beside_the_shim_on_its_machine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The QEMU rows' arithmetic, with the oracle's report made up (no QEMU
    here) and the shim booting its machine's case on a fixture kernel."""
    suite = load("suite")
    boot = tmp_path / "oracle-000"
    boot.mkdir()
    (boot / "case.toml").write_text('name = "m"\nscenario = "embed"\nnr_cpus = 8\n'
                                    'possible = "0-3"\n')

    def oracle(*args: str, **_: object) -> tuple[float, str]:
        assert args[0] == "oracle", args
        report = Path(args[args.index("--json") + 1])
        report.write_text(json.dumps({"results": [
            {"verdict": "agree", "seconds": 3.0, "describe": "4/4 cpus",
             "serial": str(boot / "serial.log")},
            {"verdict": "inconclusive", "seconds": 60.0, "describe": "hung",
             "serial": str(tmp_path / "x" / "serial.log")}]}))
        return 3.5, ""

    monkeypatch.setattr(suite, "percpu_diff", oracle)
    monkeypatch.setattr(suite, "qemu_missing", lambda _: "")
    bench = suite.Suite((f"dir:{kernel('alloc_info')}",), suite.QUICK, Path("unused"),
                        tmp_path)
    suite.bench_qemu(bench, run_rate=100.0)
    rows = {row.key: row for row in bench.rows}
    assert list(rows) == ["qemu_boot", "qemu_ratio_shim", "qemu_ratio_run"], list(rows)
    assert rows["qemu_boot"].figure == 3.0 and rows["qemu_boot"].detail == "4/4 cpus"
    assert rows["qemu_ratio_run"].figure == pytest.approx(600.0)  # 3 s / 5 ms a side
    assert rows["qemu_ratio_run"].met is False
    assert 0 < rows["qemu_ratio_shim"].figure < 3.0 * 1e6, rows["qemu_ratio_shim"]

"""The oracle itself: Debian's own kernels booted under QEMU against the
shim of their sources, on a handful of machines each (what CI runs;
`percpu-diff oracle --count 40` is the full check).  Needs QEMU and apt:
./bootstrap installs QEMU; without them the test skips, visibly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli.app import main

SOURCES = ("debian:6.1=6.1.192-3", "debian:6.12=6.12.117-1~deb12u1")
COUNT = 5  # the first fixed machines: one cpu, NUMA with hot-pluggable cpus, page, ...

needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None or shutil.which("apt-get") is None,
    reason="the oracle needs qemu-system-x86 and apt (./bootstrap installs QEMU)")


@needs_qemu
def test_real_boots_agree_with_the_shim_field_by_field(tmp_path: Path) -> None:
    out = tmp_path / "oracle"
    status = main(["oracle", *SOURCES, "--count", str(COUNT), "--out", str(out),
                   "--json", str(tmp_path / "oracle.json")])
    report = json.loads((tmp_path / "oracle.json").read_text())
    results = report["results"]
    assert len(results) == COUNT * len(SOURCES)
    inconclusive = [(r["source"], r["name"], r["reason"]) for r in results
                    if r["verdict"] == "inconclusive"]
    assert not inconclusive
    differing = [(r["source"], r["name"], r["describe"], r["differences"][:3]) for r in results
                 if r["differences"]]
    assert not differing
    assert status == 0
    # Every boot keeps its evidence: the serial log, the case, the shim's result.
    for result in results:
        assert Path(result["serial"]).read_text().count("percpu-probe: done") == 1
        assert (Path(result["serial"]).parent / "case.toml").is_file()

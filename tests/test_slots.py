"""Which chunk slot list each first-setup chunk is on, and the slots'
variables: the shim reads them off the kernel's lists, the models say them
from the contract, and a kernel that forgets to link its first chunk in is
caught.

The hermetic part checks the models' rules; the Debian part builds
debian:6.1 (apt's source package, as tests/test_modern.py does) and a
mutant of it made here, in tmp_path, with the first chunk's
pcpu_chunk_relocate() call taken out of pcpu_setup_first_chunk() (issue
14's unnoticed mutation).  Skipped, visibly, where apt is missing.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import py_impl
from harness.cli import app
from harness.compile import shims
from harness.core import cases
from harness.core.generation import SLOT_LISTS_FACT
from harness.run import server
from harness.sources import snapshot
from py_impl.bitmap_eras import Era
from py_impl.first_chunk import chunk_slot, size_slot

DEBIAN = "debian:6.1=6.1.192-3"
NR_CPUS = 16
needs_apt = pytest.mark.skipif(shutil.which("apt-get") is None,
                               reason="debian: sources need Debian's apt-get")


# ------------------------------------------------------------ the glue

def test_the_slot_lists_are_found_by_what_the_source_declares() -> None:
    def found(*names: str) -> tuple[str, str] | None:
        return shims._slot_lists(frozenset(names))

    assert found("pcpu_slot", "pcpu_nr_slots") == ("pcpu_slot", "pcpu_nr_slots")
    # 5.9 - 5.13: one run of slots per chunk type, the first chunk's the root's
    assert found("pcpu_chunk_lists", "pcpu_nr_slots", "PCPU_NR_CHUNK_TYPES") == \
        ("pcpu_chunk_lists", "pcpu_nr_slots * PCPU_NR_CHUNK_TYPES")
    assert found("pcpu_chunk_lists", "pcpu_nr_slots") == ("pcpu_chunk_lists", "pcpu_nr_slots")
    assert found("pcpu_nr_slots") is None and found("pcpu_slot") is None


# ------------------------------------------------------------ the models

@pytest.mark.parametrize(("largest_free", "slot"), [
    (0, 0), (3, 0),                  # no room for the smallest allocation
    (4, 1), (15, 1), (16, 2), (31, 2), (32, 3), (12287, 11), (12288, 11), (16384, 12),
    (65536, 17),                     # the whole unit: the slot for empty chunks
])
def test_chunk_slot_by_largest_free_area(largest_free: int, slot: int) -> None:
    assert chunk_slot(largest_free, 65536, 17) == slot


def test_slots_after_the_active_ones_per_era() -> None:
    today = Era()
    assert today.slot_variables(16) == {"sidelined_slot": 16, "free_slot": 17,
                                        "to_depopulate_slot": 18}
    assert today.free_slot(16) == 17
    before = Era(slot_sidelined=False, slot_to_depopulate=False, slot_free_variable=False)
    assert before.slot_variables(16) == {}
    assert before.free_slot(16) == 16


def run_model(generation: str, constants: dict[str, int] | None = None,
              **fields: object) -> dict[str, object]:
    case = cases.Case(name="m", nr_cpus=8, **fields).validate()  # type: ignore[arg-type]
    state = py_impl.run_model(generation, case, constants)["state"]
    assert state is not None
    return dict(state)


@pytest.mark.parametrize("generation", ["unit_map", "alloc_info", "modern"])
def test_models_put_the_first_chunk_on_the_slot_of_its_free_area(generation: str) -> None:
    state = run_model(generation, scenario="embed", possible=(0, 1, 2, 3), reserved_size=0,
                      dyn_size=20480)
    chunk = state["first_chunk"]
    assert isinstance(chunk, dict)
    free = chunk.get("free_bytes", chunk.get("free_size"))
    assert isinstance(free, int) and free > 0
    assert state["first_chunk_slot"] == size_slot(free // 4 * 4)
    assert state["reserved_chunk_slot"] is None  # there is none


@pytest.mark.parametrize("generation", ["unit_map", "alloc_info", "modern"])
def test_models_never_put_the_reserved_chunk_on_a_slot(generation: str) -> None:
    state = run_model(generation, scenario="embed", possible=(0, 1), reserved_size=8192,
                      dyn_size=20480)
    assert state["reserved_chunk"] is not None and state["first_chunk_slot"] is not None
    assert state["reserved_chunk_slot"] is None


def test_2009_first_chunk_that_is_the_reserved_one_is_on_no_list() -> None:
    state = run_model("unit_map", scenario="embed", possible=(0, 1), reserved_size=8192,
                      dyn_size=0)
    assert state["first_chunk"] == state["reserved_chunk"]
    assert state["first_chunk_slot"] is None


def test_a_revision_without_slot_lists_reports_no_slot() -> None:
    state = run_model("unit_map", {SLOT_LISTS_FACT: 0}, scenario="embed", possible=(0, 1))
    assert "first_chunk_slot" not in state and "reserved_chunk_slot" not in state


# ------------------------------------------------------- debian:6.1, real

RELOCATE = re.compile(r"^\s*pcpu_chunk_relocate\(pcpu_first_chunk, -1\);\n", re.M)


def setup_body_span(text: str) -> tuple[int, int]:
    """Where pcpu_setup_first_chunk()'s definition starts and ends."""
    start = re.search(r"^void __init pcpu_setup_first_chunk\(", text, re.M)
    assert start, "no pcpu_setup_first_chunk() definition"
    end = text.index("\n}\n", start.end())
    return start.start(), end


def write_mutant(snap: snapshot.Snapshot, root: Path) -> Path:
    """The Debian source's files under `root`, with the first chunk's
    pcpu_chunk_relocate() dropped from pcpu_setup_first_chunk()."""
    for path, text in snap.files.items():
        if path == "mm/percpu.c":
            start, end = setup_body_span(text)
            body, n = RELOCATE.subn("", text[start:end])
            assert n == 1, "the setup links its first chunk in exactly once"
            text = text[:start] + body + text[end:]
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


@pytest.fixture(scope="module")
def debian() -> snapshot.Snapshot:
    if shutil.which("apt-get") is None:
        pytest.skip("needs Debian's apt (apt-get not on PATH)")
    return snapshot.load_snapshot(snapshot.parse_source_arg(DEBIAN))


@pytest.fixture
def mutant(debian: snapshot.Snapshot, tmp_path: Path) -> Path:
    return write_mutant(debian, tmp_path / "mutant")


def boot(snap: snapshot.Snapshot, **fields: object) -> dict[str, object]:
    shim = shims.build(shims.render(snap), shims.BuildConfig(nr_cpus=NR_CPUS))
    case = cases.Case(name="t", nr_cpus=NR_CPUS, **fields).validate()  # type: ignore[arg-type]
    result = server.run_one(shim, case)
    assert result["outcome"]["kind"] == "ok", result["log"]
    state = result["state"]
    assert state is not None
    return dict(state)


@needs_apt
def test_debian_first_chunk_is_on_the_slot_of_its_free_area(debian: snapshot.Snapshot) -> None:
    state = boot(debian, scenario="embed", possible=(0, 1, 2, 3), reserved_size=8192)
    chunk = state["first_chunk"]
    assert isinstance(chunk, dict) and isinstance(state["reserved_chunk"], dict)
    assert state["first_chunk_slot"] == size_slot(chunk["free_bytes"] // 4 * 4)
    assert state["reserved_chunk_slot"] is None
    # The slots after the active ones, in the order the comment lists them.
    nr_slots = state["nr_slots"]
    assert isinstance(nr_slots, int)
    assert [state["sidelined_slot"], state["free_slot"], state["to_depopulate_slot"]] == \
        [nr_slots - 3, nr_slots - 2, nr_slots - 1]
    assert isinstance(state["chunk_struct_size"], int) and state["chunk_struct_size"] > 0


@needs_apt
def test_mutant_first_chunk_is_on_no_list(mutant: Path) -> None:
    state = boot(snapshot.load_snapshot(snapshot.parse_source_arg(f"dir:{mutant}")),
                 scenario="embed", possible=(0, 1, 2, 3))
    assert state["first_chunk_slot"] is None


@needs_apt
def test_run_reports_the_dropped_relocation_as_unexpected(
        mutant: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_path = tmp_path / "report.json"
    status = app.main(["run", DEBIAN, f"dir:{mutant}", "--cases", "50", "--timeout-ms", "60000",
                       "--out", str(tmp_path / "run"), "--json", str(report_path)])
    err = capsys.readouterr().err
    assert status == 1, err
    report = json.loads(report_path.read_text())
    unexpected = [d for d in report["differences"]
                  if d["comparison"] == "kernel" and d["label"] == "unexpected"]
    assert unexpected and {d["field"] for d in unexpected} == {"state.first_chunk_slot"}


@needs_apt
def test_agree_says_the_mutant_disagrees_with_its_model(
        mutant: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = app.main(["agree", f"dir:{mutant}", "--count", "20", "--timeout-ms", "60000",
                       "--json"])
    out = capsys.readouterr().out
    summary = json.loads(out)
    unexplained = {field for scenario in summary["scenarios"].values()
                   for field in scenario["unexplained_fields"]}
    assert status != 0
    assert unexplained == {"state.first_chunk_slot"}, out

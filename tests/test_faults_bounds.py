"""Faults of size and of the shim cache, done for real (issue 15, items 3 and 4).

Every test runs percpu-diff as a separate process, as a user would, on a
cache of its own: a kernel that prints without end must not make the run's
files, or the process, grow without bound; a shim damaged in the cache
(truncated, emptied, one byte flipped) is rebuilt, never run; a cache that
cannot take a build (read-only, full) is one line and exit 2; two processes
building the same shim at once both get a sound one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import kernel

from harness.campaign import agree, plan, runner
from harness.compile import shims
from harness.core import bounds
from harness.core import cases as cases_mod
from harness.judge import compare, triage
from harness.run import server
from harness.sources import snapshot

ROOT = Path(__file__).resolve().parent.parent
SHOW = ("show", "--dir", str(kernel("unit_map")), "--scenario", "embed", "--possible", "0-3",
        "--nr-cpus", "8", "--timeout-ms", "60000")


def percpu_diff(cache: Path, *argv: str, cwd: Path = ROOT,
                wrap: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """The command, in a process of its own, on the cache `cache`."""
    env = {**os.environ, "PERCPU_DIFF_CACHE": str(cache), "COLUMNS": "200",
           "PYTHONPATH": str(ROOT)}
    code = "import sys; from harness.cli.app import main; sys.exit(main())"
    return subprocess.run([*wrap, sys.executable, "-c", code, *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def entries(cache: Path) -> list[Path]:
    """The built shims in a cache."""
    return sorted(p for p in (cache / "shims").iterdir()
                  if p.is_dir() and not p.name.startswith((".", "failed-")))


def sound(entry: Path) -> bool:
    """The entry's executable is what its build recorded."""
    digest = (entry / shims.DIGEST_FILE).read_text().strip()
    return hashlib.sha256((entry / "shim").read_bytes()).hexdigest() == digest


# ------------------------------------------------------------ the shim cache

def _truncate(path: Path) -> None:
    # What a write cut short leaves: the ELF header and not much more (half
    # the file would still run: its second half is debug information).
    path.write_bytes(path.read_bytes()[:4096])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _flip(path: Path) -> None:
    # A byte in the middle of the code: the file still runs, it is simply
    # not the program that was built.
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _empty, _flip], ids=["truncated", "empty",
                                                                     "flipped-byte"])
def test_a_damaged_shim_in_the_cache_is_rebuilt_not_run(tmp_path: Path,
                                                         damage: Callable[[Path], None]
                                                         ) -> None:
    cache = tmp_path / "cache"
    clean = percpu_diff(cache, *SHOW)
    assert clean.returncode == 0, clean.stderr
    [entry] = entries(cache)
    damage(entry / "shim")
    again = percpu_diff(cache, *SHOW)
    assert again.returncode == 0, again.stderr
    assert again.stdout == clean.stdout
    notes = [line for line in again.stderr.splitlines() if "rebuilding" in line]
    assert len(notes) == 1 and str(entry / "shim") in notes[0], again.stderr
    assert "Traceback" not in again.stderr
    assert entries(cache) == [entry] and sound(entry)
    # Rebuilt once: the next use trusts it and says nothing.
    third = percpu_diff(cache, *SHOW)
    assert third.returncode == 0 and "rebuilding" not in third.stderr


def test_a_run_over_a_damaged_shim_gives_the_clean_runs_report(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    run = ("run", "--dir", str(kernel("unit_map")), "--dir", str(kernel("alloc_info")),
           "--cases", "6", "--nr-cpus", "8", "--no-corpus", "--jobs", "2",
           "--timeout-ms", "60000", "--shrink-budget", "4", "--max-reproducers", "1",
           "--shrink-seconds", "3600")  # reports are compared whole: no time to cut them
    clean = percpu_diff(cache, *run, "--out", str(tmp_path / "clean"))
    assert clean.returncode == 1, clean.stderr  # the fixtures differ: unexpected
    for entry in entries(cache):
        _truncate(entry / "shim")
    damaged = percpu_diff(cache, *run, "--out", str(tmp_path / "damaged"))
    assert damaged.returncode == 1, damaged.stderr
    assert ((tmp_path / "damaged" / "report.json").read_text()
            == (tmp_path / "clean" / "report.json").read_text())
    assert json.loads((tmp_path / "damaged" / "report.json").read_text())["summary"][
        "failed"] == 0


def _one_line_about_the_cache(result: subprocess.CompletedProcess[str], cache: Path) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(cache / "shims") in lines[0] and "PERCPU_DIFF_CACHE" in lines[0], lines[0]


def _namespaces() -> bool:
    """Whether this user may mount a tmpfs in a mount namespace of its own."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs none /mnt"],
                           capture_output=True)
    return probe.returncode == 0


def _in_tmpfs(cache: Path, options: str) -> tuple[str, ...]:
    """A command prefix that runs the command with a tmpfs mounted on `cache`."""
    script = f'mount -t tmpfs -o {options} none "$0" && exec "$@"'
    return ("unshare", "-rm", "sh", "-c", script, str(cache))


def test_a_read_only_cache_that_needs_a_build_is_one_line(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "shims").mkdir(parents=True)
    if os.geteuid() != 0:
        (cache / "shims").chmod(0o555)
        wrap: tuple[str, ...] = ()
    elif _namespaces():
        # root ignores file modes: a read-only file system binds it.
        wrap = _in_tmpfs(cache / "shims", "ro")
    else:
        pytest.skip("running as root without mount namespaces: a read-only cache cannot "
                    "be made (chmod does not bind root)")
    try:
        result = percpu_diff(cache, *SHOW, wrap=wrap)
    finally:
        (cache / "shims").chmod(0o755)
    _one_line_about_the_cache(result, cache)


def test_a_full_cache_that_needs_a_build_is_one_line(tmp_path: Path) -> None:
    if not _namespaces():
        pytest.skip("no mount namespaces here: a full file system cannot be made")
    cache = tmp_path / "cache"
    (cache / "shims").mkdir(parents=True)
    result = percpu_diff(cache, *SHOW, wrap=_in_tmpfs(cache / "shims", "size=64k"))
    _one_line_about_the_cache(result, cache)


def test_two_processes_building_one_shim_at_once_both_get_a_sound_one(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "PERCPU_DIFF_CACHE": str(cache), "COLUMNS": "200",
           "PYTHONPATH": str(ROOT)}
    code = "import sys; from harness.cli.app import main; sys.exit(main())"
    procs = [subprocess.Popen([sys.executable, "-c", code, *SHOW], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert outputs[0][0] == outputs[1][0]
    assert all("rebuilding" not in err for _, err in outputs)
    [entry] = entries(cache)
    assert sound(entry)
    assert not [p for p in (cache / "shims").iterdir() if p.name.startswith((".build-",
                                                                             ".damaged-"))]


# ------------------------------------------------------------------ sizes

CHATTER_LINES = 100_000


def chatty_kernel(where: Path) -> Path:
    """The alloc_info fixture, made to print CHATTER_LINES lines at every
    boot: what a kernel with a debug printk in a loop does."""
    tree = where / "chatty"
    shutil.copytree(kernel("alloc_info"), tree)
    source = tree / "mm" / "percpu.c"
    text = source.read_text()
    anchor = "\tpcpu_dump_alloc_info(info);\n"
    assert text.count(anchor) == 1
    source.write_text(text.replace(anchor, anchor + (
        f"\tfor (k = 0; k < {CHATTER_LINES}; k++)\n"
        '\t\tpr_info("fixture chatter %d\\n", k);\n')))
    return tree


CHATTY_CASES = (
    cases_mod.Case("chatty-embed", "embed", 8, (0, 1, 2, 3)),
    cases_mod.Case("chatty-page", "page", 8, (0, 2, 4)),
    # many cpus: many findings, past the record's cap
    cases_mod.Case("chatty-wide", "embed", 256, tuple(range(0, 256, 2))),
)


def test_a_chatty_kernel_makes_bounded_files_and_keeps_its_log_once(tmp_path: Path) -> None:
    chatty = chatty_kernel(tmp_path)
    case_files = []
    for case in CHATTY_CASES:
        case_files += ["--case", str(tmp_path / f"{case.name}.toml")]
        (tmp_path / f"{case.name}.toml").write_text(cases_mod.case_to_toml(case))
    out = tmp_path / "run"
    result = percpu_diff(tmp_path / "cache", "run", "--dir", str(kernel("unit_map")),
                         "--dir", str(chatty), "--cases", "0", "--no-corpus", "--jobs", "2",
                         "--timeout-ms", "60000", "--shrink-budget", "2",
                         "--max-reproducers", "1", *case_files, "--out", str(out),
                         "--json", str(tmp_path / "r.json"),
                         "--junit", str(tmp_path / "r.xml"),
                         "--email", str(tmp_path / "mail.txt"), "--verbose")
    assert result.returncode == 1, result.stderr  # the fixtures differ: unexpected
    one_log = CHATTER_LINES * len("<6>fixture chatter 99999\n")
    # Every file a run writes about its cases, and what it prints, stays far
    # below one boot's log (before: results.jsonl alone held it 4 times a case).
    for path in (out / "results.jsonl", out / "report.json", tmp_path / "r.json",
                 tmp_path / "r.xml", tmp_path / "mail.txt"):
        assert path.stat().st_size < 200_000, (path, path.stat().st_size)
    assert len(result.stdout) < 50_000
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert all(len(json.dumps(f[side])) <= bounds.VALUE_BYTES
               for r in records for f in r["findings"] for side in ("left", "right"))
    wide = next(r for r in records if r["case"] == "chatty-wide")
    assert wide["findings_total"] > len(wide["findings"])
    report = json.loads((out / "report.json").read_text())
    assert report["cut"]["chatty-wide"]["findings"] == wide["findings_total"]
    # The whole log, once per case, in the case's file, under the cap.
    for record in records:
        kept = out / record["findings_file"]
        assert kept.stat().st_size <= bounds.CASE_FILE_BYTES
        text = kept.read_text()
        assert text.count("fixture chatter 0\\n") == 1, record["case"]
        assert len(text) > min(one_log, bounds.FILE_VALUE_BYTES)
    assert f"all in {wide['findings_file']}" in result.stdout
    _judged_as_if_nothing_were_cut(chatty, records)


def _judged_as_if_nothing_were_cut(chatty: Path, records: list[dict[str, Any]]) -> None:
    """The same cases judged in this process on the whole values: the same
    verdicts, the same number of findings, the same kinds."""
    plan_sides = plan.sides([snapshot.SourceSpec("dir", kernel("unit_map")),
                             snapshot.SourceSpec("dir", chatty)], snapshot.load_snapshot)
    the_plan = plan.make_plan(plan_sides, CHATTY_CASES, declared=None, patch_files=[],
                              triage_file=None, sanitize=False,
                              limits=server.Limits(timeout_ms=60000), jobs=1)
    by_case = {r["case"]: runner.CaseRecord.from_json(r) for r in records}
    for case in CHATTY_CASES:
        whole = runner.boot(the_plan, case)
        stored = by_case[case.name]
        assert stored.verdict == whole.verdict
        assert (stored.findings_total or len(stored.findings)) == len(whole.findings)
        assert {f.kind for f in stored.findings} == {f.kind for f in whole.findings}
        assert any(len(json.dumps(f.left)) > 100_000 for f in whole.findings)


def test_agree_verdicts_hold_values_cut_to_size() -> None:
    log = "".join(f"<6>chatter {n}\n" for n in range(100_000))
    case = cases_mod.Case("chatty", "embed", 8, (0, 1))
    kernel_result: Any = {"outcome": {"kind": "ok"}, "log": log}
    judged = agree.Judged(case, kernel_result, kernel_result, (triage.Labelled(
        compare.Difference("messages", log, log[:50]), None),))
    line = judged.to_json()
    assert len(json.dumps(line)) < 2 * bounds.VALUE_BYTES
    assert line["differences"][0]["kernel"] == bounds.cut(log) != log
    assert line["differences"][0]["model"] == log[:50]  # short values stay whole
    assert line["verdict"] == "unexpected"

"""Tests for building shims from the fixture kernels and running cases in them."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    NR_CPUS,
    POSSIBLE,
    CaseFactory,
    ShimFactory,
    comparable,
    dir_snapshot,
    kernel,
    line_of,
    magic,
)

from harness.cli import app
from harness.compile import shims
from harness.core import klog
from harness.core.errors import UserError
from harness.report import console
from harness.run import server

UNIT_MAP = kernel("unit_map")
ALLOC_INFO = kernel("alloc_info")
UNIT_MAP_C = UNIT_MAP / "mm" / "percpu.c"
LPAGE = 2 << 20
UNIT_SIZE = 128 << 10  # the fixtures' unit for 40K static + 8K reserved + 20K dynamic
SCRATCH = magic("FX_SCRATCH_PAGES") * 4096
FAST = server.Limits(timeout_ms=600)
# A sanitizer report is symbolized before the child ends; on a busy machine
# that alone can outlast FAST, cutting the report before its file:line.
SANITIZED = server.Limits(timeout_ms=30_000)


def scenario_case(make_case: CaseFactory, scenario: str, **fields: Any) -> Any:
    if scenario == "lpage":
        fields.setdefault("atom_size", LPAGE)
    return make_case(f"{scenario}-case", scenario=scenario, **fields)


def embed_case(make_case: CaseFactory, magic_name: str | None = None) -> Any:
    static = magic(magic_name) if magic_name else 40960
    return make_case(magic_name or "normal", static_size=static)


# --- every scenario runs on both generations --------------------------------------


@pytest.mark.parametrize("scenario", ["embed", "page", "lpage"])
@pytest.mark.parametrize("path", [UNIT_MAP, ALLOC_INFO], ids=["unit_map", "alloc_info"])
def test_scenario_runs_ok(
    path: Path, scenario: str, make_shim: ShimFactory, make_case: CaseFactory
) -> None:
    shim = make_shim(path)
    result = server.run_one(shim, scenario_case(make_case, scenario))
    assert result["outcome"] == {"kind": "ok"}, console.outcome_text(result)
    assert result["generation"] == path.name
    assert result["nr_cpus"] == NR_CPUS
    assert result["page_size"] == 4096
    assert {"setup_args", "state", "bootmem", "return", "log"} <= set(result)
    assert ("build" in result) == (scenario == "lpage")
    assert result["return"] == UNIT_SIZE

    state = result["state"]
    assert state["unit_size"] == UNIT_SIZE
    assert state["unit_pages"] == UNIT_SIZE // 4096
    assert state["chunk_size"] == state["nr_units"] * UNIT_SIZE
    assert (state["first_unit_cpu"], state["last_unit_cpu"]) == (0, 4)
    units = [state["unit_map"][cpu] for cpu in POSSIBLE]
    assert len(set(units)) == len(POSSIBLE)
    assert all(0 <= u < state["nr_units"] for u in units)
    assert state["first_chunk"]["free_size"] == UNIT_SIZE - 40960 - 8192
    assert state["first_chunk"]["map"] == [0, 40960 + 8192]
    assert state["reserved_chunk"]["map"] == [0, 40960]

    # Every possible cpu's unit starts with a copy of the static data.
    copies = result["static_copies"]
    assert (copies["bad_cpus"], copies["checked"]) == ([], len(POSSIBLE))
    # Only a chunk that lives in bootmem has what it holds there measured.
    if state["base_addr"].startswith("phys:"):
        assert 0 < copies["chunk_held"] <= state["chunk_size"]
    else:
        assert copies["chunk_held"] is None
    bootmem = result["bootmem"]
    assert bootmem["bad_free_count"] == 0
    assert bootmem["held"] == bootmem["allocated"] - bootmem["freed"]
    assert "PERCPU: fixture" in result["log"]


def test_unit_map_embed_exact_result(make_shim: ShimFactory, make_case: CaseFactory) -> None:
    result = server.run_one(make_shim(UNIT_MAP), make_case("embed"))
    args = result["setup_args"]
    assert args["base_addr"].startswith("phys:0x")
    del args["base_addr"]
    assert args == {
        "static_size": 40960,
        "reserved_size": 8192,
        "dyn_size": UNIT_SIZE - 40960 - 8192,
        "unit_size": UNIT_SIZE,
        "unit_map": [0, None, 1, None, 2],
    }
    assert result["state"]["unit_map"] == [0, -1, 1, -1, 2]
    assert result["state"]["nr_units"] == 3
    assert result["state"]["reserved_chunk_limit"] == 40960 + 8192
    assert [(u.unit, u.cpu) for u in console.unit_layout(result)] == [(0, 0), (1, 2), (2, 4)]


def test_unit_map_page_uses_the_identity_map(
    make_shim: ShimFactory, make_case: CaseFactory
) -> None:
    result = server.run_one(make_shim(UNIT_MAP), make_case("page", scenario="page"))
    assert result["setup_args"]["unit_map"] is None
    assert result["setup_args"]["base_addr"] == "vmalloc:0x0"
    assert result["state"]["unit_map"] == [0, 1, 2, 3, 4]
    bootmem = result["bootmem"]
    pages = len(POSSIBLE) * UNIT_SIZE // 4096
    assert (bootmem["fc_allocs"], bootmem["ptes_populated"]) == (pages, pages)
    assert bootmem["vm_areas"] == [{"offset": 0, "size": 5 * UNIT_SIZE, "align": 4096}]


def test_page_error_path_gives_everything_back(
    make_shim: ShimFactory, make_case: CaseFactory
) -> None:
    case = make_case("nomem", scenario="page", fail_fc_alloc=5)
    result = server.run_one(make_shim(UNIT_MAP), case)
    assert result["outcome"] == {"kind": "ok"}
    assert result["return"] == -12
    assert "state" not in result and "setup_args" not in result
    bootmem = result["bootmem"]
    assert bootmem["fc_frees"] == 5
    assert bootmem["held"] == 0
    assert bootmem["bad_free_count"] == 0
    assert "no page 5 for cpu 0" in result["log"]


def test_unit_map_lpage_build_section(make_shim: ShimFactory, make_case: CaseFactory) -> None:
    result = server.run_one(make_shim(UNIT_MAP), scenario_case(make_case, "lpage"))
    units_per_lpage = LPAGE // UNIT_SIZE
    assert result["build"] == {
        "return": units_per_lpage,
        "dyn_size": UNIT_SIZE - 40960 - 8192,
        "unit_size": UNIT_SIZE,
        "unit_map": [0, None, 1, None, 2],
    }
    # The unused units of the large page, and nothing else, go back.
    assert result["bootmem"]["fc_frees"] == units_per_lpage - len(POSSIBLE)


def test_alloc_info_results(make_shim: ShimFactory, make_case: CaseFactory) -> None:
    shim = make_shim(ALLOC_INFO)
    embed, lpage, numa = server.run_cases(
        shim,
        [
            make_case("embed"),
            scenario_case(make_case, "lpage"),
            scenario_case(make_case, "lpage", cpu_node=(0, 1, 0), distance=((10, 20), (20, 10))),
        ],
    )
    ai = embed["setup_args"]["alloc_info"]
    assert (ai["nr_groups"], ai["unit_size"], ai["atom_size"]) == (1, UNIT_SIZE, 4096)
    assert ai["groups"] == [{"nr_units": 3, "base_offset": 0, "cpu_map": [0, 2, 4]}]
    assert embed["state"]["first_chunk"]["populated_bits"] == UNIT_SIZE // 4096
    assert klog.dump_text(embed["log"]).splitlines() == [
        "pcpu-alloc: s40960 r8192 d81920 u131072 alloc=32*4096",
        "pcpu-alloc: [0] @0 0 2 4",
    ]

    pad = [NR_CPUS] * (LPAGE // UNIT_SIZE - 3)
    assert lpage["build"]["alloc_info"]["groups"][0]["cpu_map"] == [0, 2, 4, *pad]
    assert lpage["build"]["alloc_info"] == lpage["setup_args"]["alloc_info"]
    # The shim's layout view leaves padding slots empty.
    assert [u.cpu for u in console.unit_layout(lpage)][:4] == [0, 2, 4, None]

    groups = numa["setup_args"]["alloc_info"]["groups"]
    assert [g["base_offset"] for g in groups] == [0, LPAGE]
    assert [[c for c in g["cpu_map"] if c != NR_CPUS] for g in groups] == [[0, 4], [2]]
    assert numa["state"]["unit_map"][:5] == [0, -1, LPAGE // UNIT_SIZE, -1, 1]
    assert numa["static_copies"]["bad_cpus"] == []


# --- isolation ---------------------------------------------------------------------


def test_failing_cases_are_isolated(make_shim: ShimFactory, make_case: CaseFactory) -> None:
    shim = make_shim(UNIT_MAP)
    batch = [
        embed_case(make_case, "FX_STATIC_CRASH"),
        embed_case(make_case),
        embed_case(make_case, "FX_STATIC_HANG"),
        embed_case(make_case),
        embed_case(make_case, "FX_STATIC_BUG"),
        embed_case(make_case, "FX_STATIC_EXIT"),
        embed_case(make_case),
    ]
    started = time.monotonic()
    results = list(server.run_cases(shim, batch, FAST))
    assert time.monotonic() - started < 10
    assert [r["case"] for r in results] == [c.name for c in batch]
    kinds = [r["outcome"]["kind"] for r in results]
    assert kinds == ["crash", "ok", "hang", "ok", "bug", "exit", "ok"]

    crash = results[0]["outcome"]
    assert (crash["signal"], crash["signal_name"]) == (11, "SEGV")
    assert "state" not in results[0]
    # A loop in kernel code uses up its CPU time: a kernel outcome, with its place.
    hang = results[2]["outcome"]
    # (rusage and the CPU timer account CPU time apart, by up to 15% under load)
    assert hang["limit_ms"] == FAST.timeout_ms and hang["cpu_ms"] >= FAST.timeout_ms * 0.75
    assert (hang["function"], hang["file"]) == ("fx_scratch", "mm/percpu.c")
    assert hang["line"] in (line_of(UNIT_MAP_C, "fx_spins++;"),
                            line_of(UNIT_MAP_C, "fx_spins++;") - 1)
    bug = results[4]["outcome"]
    condition = "static_bytes + reserved_bytes + dyn_bytes > unit_bytes"
    assert bug == {
        "kind": "bug",
        "file": "mm/percpu.c",
        "line": line_of(UNIT_MAP_C, f"BUG_ON({condition});"),
        "condition": condition,
    }
    # The wrapper saw the bad arguments before the real setup tripped on them.
    assert results[4]["setup_args"]["dyn_size"] == UNIT_SIZE
    assert "state" not in results[4]
    assert results[5]["outcome"] == {"kind": "exit", "status": 3}

    normal = [comparable(r) for r in (results[1], results[3], results[6])]
    assert normal[0] == normal[1] == normal[2]
    alone = server.run_one(shim, embed_case(make_case))
    assert comparable(alone) == normal[0]


def test_panic_double_free_and_leak(make_shim: ShimFactory, make_case: CaseFactory) -> None:
    panic, double_free, leak, normal = server.run_cases(
        make_shim(UNIT_MAP),
        [
            embed_case(make_case, "FX_STATIC_PANIC"),
            embed_case(make_case, "FX_STATIC_DOUBLE_FREE"),
            embed_case(make_case, "FX_STATIC_LEAK"),
            embed_case(make_case),
        ],
        FAST,
    )
    assert panic["outcome"] == {
        "kind": "panic",
        "file": "mm/percpu.c",
        "line": line_of(UNIT_MAP_C, 'panic("fixture: static size'),
        "message": f"fixture: static size {magic('FX_STATIC_PANIC')} is unlucky",
    }
    # What was allocated before the panic is still accounted for.
    assert panic["bootmem"]["held"] == SCRATCH

    assert double_free["outcome"] == {"kind": "ok"}
    bad = double_free["bootmem"]
    assert (bad["bad_free_count"], bad["bad_free_bytes"]) == (1, SCRATCH)
    assert bad["bad_frees"][0]["size"] == bad["bad_frees"][0]["not_held"] == SCRATCH
    assert normal["bootmem"]["bad_free_count"] == 0

    assert leak["outcome"] == {"kind": "ok"}
    assert leak["bootmem"]["held"] == normal["bootmem"]["held"] + SCRATCH
    assert leak["bootmem"]["freed"] == normal["bootmem"]["freed"] - SCRATCH


def test_sanitizer_catches_what_the_plain_build_misses(
    make_shim: ShimFactory, make_case: CaseFactory
) -> None:
    batch = [embed_case(make_case), embed_case(make_case, "FX_STATIC_OOB"), embed_case(make_case)]
    plain = list(server.run_cases(make_shim(UNIT_MAP), batch, FAST))
    assert [r["outcome"]["kind"] for r in plain] == ["ok", "ok", "ok"]

    sanitized = list(server.run_cases(make_shim(UNIT_MAP, sanitize=True), batch, SANITIZED))
    assert [r["outcome"]["kind"] for r in sanitized] == ["ok", "sanitizer", "ok"]
    oob = sanitized[1]["outcome"]
    assert oob["sanitizer"] == "AddressSanitizer"
    assert "ERROR: AddressSanitizer" in oob["stderr"]
    assert "WRITE of size 1" in oob["stderr"]
    # The report points into the fixture file through the #line directives.
    assert f"mm/percpu.c:{line_of(UNIT_MAP_C, 'buf[size + 8] = 1;')}" in oob["stderr"]
    # Sanitizers do not change what a correct case computes.
    assert comparable(sanitized[0]) == comparable(sanitized[2])
    assert sanitized[0]["state"] == plain[0]["state"]
    assert sanitized[0]["bootmem"] == plain[0]["bootmem"]


def test_back_to_back_sanitizer_reports(make_shim: ShimFactory, make_case: CaseFactory) -> None:
    oob = embed_case(make_case, "FX_STATIC_OOB")
    results = list(server.run_cases(make_shim(UNIT_MAP, sanitize=True), [oob, oob], SANITIZED))
    assert [r["outcome"]["kind"] for r in results] == ["sanitizer", "sanitizer"]


# --- building ----------------------------------------------------------------------


def test_build_is_cached_and_nr_cpus_is_a_build_parameter(
    tmp_path: Path, make_case: CaseFactory
) -> None:
    rendered = shims.render(dir_snapshot(UNIT_MAP))
    config = shims.BuildConfig(nr_cpus=4)
    first = shims.build(rendered, config, root=tmp_path)
    assert not first.cached
    assert first.path.is_file()
    started = time.monotonic()
    second = shims.build(rendered, config, root=tmp_path)
    assert time.monotonic() - started < 1.0
    assert second.cached
    assert (second.path, second.key) == (first.path, first.key)
    other = shims.build(shims.render(dir_snapshot(ALLOC_INFO)), config, root=tmp_path)
    assert other.key != first.key

    result = server.run_one(second, make_case("four", nr_cpus=4, possible=(0, 1, 2, 3)))
    assert result["outcome"] == {"kind": "ok"}
    assert result["nr_cpus"] == 4
    assert result["state"]["unit_map"] == [0, 1, 2, 3]


def test_case_needing_other_nr_cpus_is_refused(
    make_shim: ShimFactory, make_case: CaseFactory
) -> None:
    case = make_case("big", nr_cpus=16, possible=(0, 15))
    with pytest.raises(UserError) as err:
        list(server.run_cases(make_shim(UNIT_MAP), [case]))
    message = str(err.value)
    assert "\n" not in message
    assert "NR_CPUS=16" in message and "--nr-cpus 16" in message


def test_unresolved_symbol_is_named_with_its_user(make_shim: ShimFactory) -> None:
    with pytest.raises(UserError) as err:
        make_shim(kernel("unresolved"))
    message = str(err.value)
    assert "\n" not in message
    assert "frobnicate_percpu (used in pcpu_embed_first_chunk)" in message
    assert "kernel_shim/include" in message


def test_unresolved_symbol_in_setup_names_the_source_function(tmp_path: Path) -> None:
    root = tmp_path / "k"
    shutil.copytree(kernel("unresolved"), root)
    source = root / "mm" / "percpu.c"
    text = source.read_text().replace("\tfrobnicate_percpu();\n", "")
    text = text.replace(
        "\tpcpu_base_addr = base;\n",
        "\tpcpu_base_addr = base;\n\tfrobnicate_percpu();\n",
    )
    source.write_text(text)
    with pytest.raises(UserError) as err:
        shims.build(shims.render(dir_snapshot(root)), shims.BuildConfig(nr_cpus=NR_CPUS))
    assert "frobnicate_percpu (used in pcpu_setup_first_chunk)" in str(err.value)


def test_build_failure_names_the_first_compiler_error_not_the_command(tmp_path: Path) -> None:
    root = tmp_path / "k"
    shutil.copytree(kernel("unresolved"), root)
    source = root / "mm" / "percpu.c"
    text = source.read_text().replace("\tfrobnicate_percpu();\n", "")
    source.write_text(text.replace("#include <asm/sections.h>",
                                   "#include <asm/sections.h>\n#include <asm/no-such-stub.h>"))
    with pytest.raises(UserError) as err:
        shims.build(shims.render(dir_snapshot(root)), shims.BuildConfig(nr_cpus=NR_CPUS))
    message = str(err.value)
    assert "1 compiler error, first: " in message
    assert "fatal error: asm/no-such-stub.h: No such file or directory" in message
    # The echoed command line carries -Werror= flags: it is no error.
    assert "-Werror" not in message and "-std=gnu11" not in message


def test_compiler_errors_skip_the_echoed_commands() -> None:
    log = (f"{shims.COMMAND_ECHO}cc -Werror=implicit-int -c a.c\n"
           "a.c:3:1: warning: unused variable 'x'\n"
           "a.c:7:2: error: expected ';' before 'return'\n"
           "cc1: some warnings being treated as errors\n"
           "a.c:9:5: error: 'y' undeclared\n")
    assert shims.compiler_errors(log) == ["a.c:7:2: error: expected ';' before 'return'",
                                          "a.c:9:5: error: 'y' undeclared"]
    message = shims.describe_failure(log.replace("'y' undeclared", "bad"), "k", Path("l"))
    assert "2 compiler errors, first: a.c:7:2: error: expected ';' before 'return'" in message


def test_scenario_under_an_earlier_entry_name_runs_there(
    tmp_path: Path, make_shim: ShimFactory, make_case: CaseFactory
) -> None:
    # Before 00ae4064b14 the page allocator was pcpu_4k_first_chunk().
    root = tmp_path / "k"
    shutil.copytree(UNIT_MAP, root)
    for path in (root / "mm" / "percpu.c", root / "include" / "linux" / "percpu.h"):
        path.write_text(path.read_text().replace("pcpu_page_first_chunk", "pcpu_4k_first_chunk"))
    shim = make_shim(root)
    assert shim.rendered.extraction.scenarios == ("embed", "page", "lpage")
    assert shim.rendered.extraction.way("page").entry == "pcpu_4k_first_chunk"
    assert "shim_note_return(pcpu_4k_first_chunk(" in shim.rendered.tu_text
    renamed = server.run_one(shim, make_case("page", scenario="page"))
    original = server.run_one(make_shim(UNIT_MAP), make_case("page", scenario="page"))
    assert renamed["outcome"]["kind"] == "ok"
    assert comparable(renamed) == comparable(original)


def test_scenario_missing_from_the_source_is_unsupported(
    tmp_path: Path, make_shim: ShimFactory, make_case: CaseFactory
) -> None:
    root = tmp_path / "k"
    shutil.copytree(UNIT_MAP, root)
    source = root / "mm" / "percpu.c"
    text = source.read_text()
    start = text.index("#ifdef CONFIG_NEED_PER_CPU_LPAGE_FIRST_CHUNK")
    end = text.index("#endif /* fixture: lpage scenario */")
    source.write_text(text[:start] + text[end:])
    shim = make_shim(root)
    assert shim.rendered.extraction.scenarios == ("embed", "page")
    lpage, embed = server.run_cases(shim, [scenario_case(make_case, "lpage"), make_case("embed")])
    assert lpage["outcome"]["kind"] == "unsupported"
    assert "'lpage'" in lpage["outcome"]["message"]
    assert embed["outcome"] == {"kind": "ok"}


def test_show_tu_has_line_directives_into_the_source(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = app.main(
        ["show", "--dir", str(UNIT_MAP), "--possible", "0,2,4", "--nr-cpus", "8", "--show-tu"]
    )
    assert status == 0
    out = capsys.readouterr().out.splitlines()
    files = {
        "mm/percpu.c": UNIT_MAP_C.read_text().splitlines(),
        "include/linux/percpu.h": (UNIT_MAP / "include/linux/percpu.h").read_text().splitlines(),
    }
    directive = re.compile(r'#line (\d+) "([^"]+)"$')
    seen: dict[str, list[int]] = {path: [] for path in files}
    for i, line in enumerate(out):
        m = directive.match(line)
        if not m or m.group(2) not in files:
            continue
        number, path = int(m.group(1)), m.group(2)
        # The line after the directive is that line of the real file.
        assert out[i + 1] == files[path][number - 1], (path, number)
        seen[path].append(number)
    setup_line = line_of(UNIT_MAP_C, "size_t __init pcpu_setup_first_chunk(")
    assert setup_line in seen["mm/percpu.c"]
    assert len(seen["mm/percpu.c"]) >= 20
    assert seen["include/linux/percpu.h"]
    assert line_of(UNIT_MAP_C, "pcpu_fixture_unreached") not in seen["mm/percpu.c"]
    assert '#line 1 "<percpu-diff glue>"' in out

"""The table of case fields: every field of Case has a row, and a generated
case comes back unchanged from each way it travels (a case file, the
command line of a repro command, the shim's line)."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from conftest import ShimFactory, kernel

from harness.campaign.generate import ALL_ORDER, arch_matrix, generate_mixed
from harness.cli import options, requests
from harness.core import cases
from harness.core.case_kinds import parse_cpu_list
from harness.core.cases import CASE_FIELDS, SHIM_FIELDS, Case, FieldSpec

RUNTIME = Path(__file__).resolve().parent.parent / "kernel_shim" / "runtime"


@pytest.fixture(scope="module")
def generated() -> list[Case]:
    return generate_mixed(2000, 4, scenarios=ALL_ORDER) + arch_matrix()[::5]


def test_every_case_field_has_a_row() -> None:
    assert [row.name for row in CASE_FIELDS] == [f.name for f in dataclasses.fields(Case)]
    assert all(isinstance(row.spec, FieldSpec) for row in CASE_FIELDS)
    flags = [row.spec.flag for row in CASE_FIELDS if row.spec.flag]
    assert len(set(flags)) == len(flags)
    keys = [row.spec.shim_key or row.name for row in SHIM_FIELDS]
    assert len(set(keys)) == len(keys)
    # What boots and is not on the shim's line picks the shim executable instead.
    assert {row.name for row in CASE_FIELDS if row.spec.booted and not row.spec.on_shim_line} \
        == {"nr_cpus", "page_size"}
    assert all(row.spec.booted for row in SHIM_FIELDS if row.name != "name")


def test_generation_varies_every_booted_field(generated: list[Case]) -> None:
    """A new field must be generated, or it is never tested."""
    for row in CASE_FIELDS:
        if row.spec.booted:
            assert len({repr(row.value(c)) for c in generated}) >= 2, row.name


def test_toml_round_trip(generated: list[Case]) -> None:
    for case in generated:
        again = cases.case_from_mapping(tomllib.loads(cases.case_to_toml(case)), "x")
        assert again == case


def test_command_line_round_trip(generated: list[Case]) -> None:
    """The options of a repro command give the case back (less its name and notes)."""
    no_option = {row.name for row in CASE_FIELDS if row.spec.booted and not row.spec.flag}
    # A known gap: show and repro cannot be given the bootmem size.
    assert no_option == {"bootmem_size"}
    for case in generated:
        request = options.parse(["repro", "--dir", "x", *cases.option_words(case)])
        assert isinstance(request, requests.ReproRequest)
        again = request.case.case()
        want = dataclasses.replace(case, name="cli", description="", expect={})
        assert dataclasses.replace(again, bootmem_size=case.bootmem_size) == want


def read_shim_line(line: str) -> dict[str, object]:
    """The fields of a shim line, read as the shim reads them."""
    out: dict[str, object] = {}
    for token in line.split(" "):
        key, _, text = token.partition("=")
        assert key not in out, f"{key} twice"
        if key in ("id", "scenario", "percpu_alloc"):
            out[key] = text
            continue
        numbers = tuple(int(x) for x in text.split(",") if x)
        if key == "distance":
            k = int(len(numbers) ** 0.5)
            assert k * k == len(numbers)
            out[key] = tuple(numbers[i * k:(i + 1) * k] for i in range(k))
        elif key in ("possible", "cpu_node", "offline_nodes", "node_memory"):
            out[key] = numbers
        elif key in ("pse", "numa"):
            out[key] = text != "0"
        else:
            out[key] = int(text)
    return out


def test_shim_line_round_trip(generated: list[Case]) -> None:
    """Every field the shim boots with is on the line, absent ones resolved."""
    for case in generated:
        got = read_shim_line(case.shim_line())
        assert list(got) == [row.spec.shim_key or row.name for row in SHIM_FIELDS]
        want = {row.name: row.value(case) for row in SHIM_FIELDS}
        want["name"] = re.sub(r"\s", "_", case.name)
        want["cpu_node"] = tuple(case.node_of(c) for c in case.possible)
        want["distance"] = case.distance or ((cases.LOCAL_DISTANCE,),)
        want["node_memory"] = case.memory_of_nodes()
        assert sum(case.memory_of_nodes()) == case.bootmem_size
        assert got == {row.spec.shim_key or row.name: want[row.name] for row in SHIM_FIELDS}


def test_shim_line_carries_every_field_the_shim_reads() -> None:
    # The rows of the runtime's case_fields[] table (kernel_shim/runtime/case.c).
    table = (RUNTIME / "case.c").read_text().split("case_fields[] = {", 1)[1].split("};", 1)[0]
    known = set(re.findall(r'\{ "(\w+)",', table))
    assert known == {row.spec.shim_key or row.name for row in SHIM_FIELDS}


@pytest.mark.parametrize("dropped", ["pse", "distance", "dyn_size", "scenario"])
def test_the_shim_refuses_a_line_without_a_field(make_shim: ShimFactory, dropped: str) -> None:
    """The shim keeps no defaults of its own: a field left out is an error."""
    shim = make_shim(kernel("unit_map"))
    line = Case(name="c", nr_cpus=8, possible=(0, 2)).shim_line()
    kept = " ".join(w for w in line.split() if not w.startswith(f"{dropped}="))
    out = subprocess.run([str(shim.path)], input=kept + "\n", capture_output=True, text=True,
                         timeout=60).stdout
    result = json.loads(out.splitlines()[0])
    assert result["outcome"] == {
        "kind": "invalid",
        "message": f"the case line has no {dropped}: the harness sends every field"}


def test_an_absent_topology_goes_to_the_shim_as_one_node() -> None:
    line = Case(name="two words", possible=parse_cpu_list("0,2")).shim_line()
    assert line.startswith("id=two_words scenario=embed possible=0,2 cpu_node=0,0 distance=10 ")
    assert " percpu_alloc= pse=1 numa=0 offline_nodes=" in line


def test_an_expectation_keyed_by_era_survives_a_case_file() -> None:
    # "generation@revision" keys are not bare TOML keys: written quoted.
    case = cases.Case("x", "embed", 8, (0, 1),
                      expect={"unit_map@a530b795861": "triaged", "alloc_info": "agree"})
    text = cases.case_to_toml(case)
    assert '"unit_map@a530b795861" = "triaged"' in text
    assert cases.case_from_mapping(tomllib.loads(text), "x").expect == case.expect

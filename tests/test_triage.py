"""Comparison of results and labelling of differences with the triage file."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

import py_impl
from harness.core import cases
from harness.core.cases import Case
from harness.core.errors import UserError
from harness.core.generation import names as gen_names
from harness.judge import compare, triage

CASES = Path(__file__).resolve().parent.parent / "cases"
LPAGE = Case("lp", "lpage", 8, (0, 2, 4), cpu_node=(0, 0, 1), distance=((10, 20), (20, 10)),
             atom_size=2 << 20)


def model(case: Case, generation: str = "alloc_info") -> dict[str, Any]:
    return py_impl.run_model(generation, case)


def fake_kernel(result: dict[str, Any]) -> dict[str, Any]:
    """A model result dressed as the shim reports: addresses, timings, metadata."""
    kernel = copy.deepcopy(result)
    kernel["elapsed_us"] = 123
    kernel["log"] = kernel["log"].replace("@<vmalloc>", "@0x680000000000")
    kernel["log"] = kernel["log"].replace("@<bootmem>", "@0x600001000000")
    kernel["bootmem"].update(allocated=1, freed=2, held=3, allocations=4)
    for section in ("setup_args", "state"):
        if section in kernel:
            kernel[section]["base_addr"] += ":0x0"
    state = kernel.get("state")
    if state:
        state["first_chunk"]["vm"] = "other"
        state["first_chunk"]["map_alloc"] = 2
        # impossible cpus' slots hold whatever the kernel left there
        state["unit_map"] = [u if u is not None else 8 for u in state["unit_map"]]
    if "alloc_info" in kernel.get("setup_args", {}):
        kernel["setup_args"]["alloc_info"]["__ai_size"] = 4096
    return kernel


def test_a_result_agrees_with_itself_through_the_normalisations() -> None:
    result = model(LPAGE)
    assert compare.compare(fake_kernel(result), result) == []


def test_fields_normalise_what_a_model_cannot_know() -> None:
    fields = compare.fields(fake_kernel(model(LPAGE)))
    assert fields["state.base_addr"] == "vmalloc"
    assert fields["state.unit_map"] == [0, 1, 2]  # possible cpus only
    assert "setup_args.alloc_info.__ai_size" not in fields
    assert "bootmem.held" not in fields and "elapsed_us" not in fields
    assert fields["dump"].startswith("pcpu-alloc: s40960")
    assert fields["messages"] == "<6>PERCPU: large pages @ADDR s40960 r8192 d0 u1048576"


def test_a_changed_field_is_reported_with_both_values() -> None:
    result = model(LPAGE)
    kernel = fake_kernel(result)
    kernel["state"]["last_unit_cpu"] = 8
    kernel["log"] = kernel["log"].replace("[1] 4 -", "[1] 4 8")
    diffs = compare.compare(kernel, result)
    assert [d.field for d in diffs] == ["dump", "state.last_unit_cpu"]
    assert diffs[1] == compare.Difference("state.last_unit_cpu", 8, 4)
    assert "kernel 8, model 4" in diffs[1].describe()


def test_a_missing_section_is_absent_not_none() -> None:
    result = model(LPAGE)
    kernel = fake_kernel(result)
    del kernel["state"], kernel["return"]
    kernel["outcome"] = {"kind": "bug", "file": "mm/percpu.c", "line": 1, "condition": "x"}
    diffs = {d.field: d for d in compare.compare(kernel, result)}
    assert diffs["outcome.kind"].kernel == "bug"
    assert diffs["return"].kernel == compare.ABSENT
    assert diffs["state.nr_units"] == compare.Difference("state.nr_units", compare.ABSENT, 4)


def test_the_project_triage_file_loads_and_every_entry_is_used_by_a_case() -> None:
    entries = triage.load_triage()
    assert len(entries) >= 6
    named = {e.id for e in entries}
    expected: set[str] = set()
    for path in CASES.glob("*.toml"):
        if path.name == "triage.toml":
            continue
        expect = cases.load_case(path).expect
        for key, ids in expect.items():
            # "generation" or "generation@era": what one era's revisions show
            if key.partition("@")[0] in gen_names():
                expected |= {v.strip() for v in ids.split(",")} - {"agree"}
    assert expected <= named, expected - named
    assert {e.example for e in entries} <= {p.name for p in CASES.glob("*.toml")}
    # A named case's [expect] is what a plain build shows; an entry for what
    # only a sanitizer reports is demonstrated by its example under --sanitize.
    # An entry of later revisions of a generation than the one its [expect]
    # key stands for is demonstrated by its example on those revisions
    # (tests/test_alloc_eras.py, with PERCPU_DIFF_TREES).
    plain = {e.id for e in entries if e.kernel != "sanitizer" and not later_revisions(e)}
    assert plain <= expected, "every entry is demonstrated by a named case"


def later_revisions(entry: triage.TriageEntry) -> bool:
    """An alloc_info entry scoped to revisions after fd1e8a1fe2b5, the
    revision the named cases' alloc_info expectation is about."""
    return entry.generations == ("alloc_info",) and bool(entry.revisions) and not any(
        "fd1e8a1fe2b5".startswith(rev) or rev.startswith("fd1e8a1fe2b") for rev in entry.revisions)


def write_triage(tmp_path: Path, body: str) -> Path:
    (tmp_path / "ex.toml").write_text('scenario = "embed"\nnr_cpus = 8\npossible = [0]\n')
    path = tmp_path / "triage.toml"
    path.write_text(body)
    return path


GOOD = '''
[[entry]]
id = "x"
generation = "alloc_info"
fields = ["state.last_unit_cpu"]
wrong = "kernel"
reason = "the kernel reads the last slot, which may be empty, instead of the last cpu"
example = "ex.toml"
'''


def test_a_good_entry_loads(tmp_path: Path) -> None:
    (entry,) = triage.load_triage(write_triage(tmp_path, GOOD))
    assert entry.fields == ("state.last_unit_cpu",) and entry.wrong == "kernel"


@pytest.mark.parametrize(("change", "message"), [
    (('reason = "the kernel reads the last slot, which may be empty, instead of the last cpu"',
      ""), "'reason' is missing"),
    (("which may be empty, instead of the last cpu", ""), "reason is too short"),
    (('wrong = "kernel"', 'wrong = "both"'), "use kernel or model"),
    (('example = "ex.toml"', 'example = "nope.toml"'), "does not exist"),
    (('wrong = "kernel"', 'wrong = "kernel"\ncolour = "red"'), "unknown key 'colour'"),
    (('wrong = "kernel"', 'wrong = "kernel"\nwhen = { moon = "full" }'), "condition 'moon'"),
    (('wrong = "kernel"', 'wrong = "kernel"\nrelation = "kernel ~ model"'), "relation"),
    (("[[entry]]", "[[entry]"), "not valid TOML"),
    (('wrong = "kernel"', 'wrong = "kernel"\nfixed_by = "fb59e72e7e1"'),
     r"\(x\): fixed_by = 'fb59e72e7e1': write a commit id prefix and its subject"),
    (('wrong = "kernel"', 'wrong = "kernel"\nintroduced_by = \'xyz1234 "s"\''),
     r"\(x\): introduced_by = .*write a commit id prefix"),
    (('wrong = "kernel"', 'wrong = "kernel"\nfix_check = "gone"'),
     r"\(x\): fix_check must say in words why"),
    (('wrong = "kernel"', 'wrong = "kernel"\nfix_base = "a530b795861"'),
     r"\(x\): fix_base = 'a530b795861': give a commit id prefix, with fixed_by"),
])
def test_bad_entries_are_refused_with_one_line(tmp_path: Path, change: tuple[str, str],
                                               message: str) -> None:
    path = write_triage(tmp_path, GOOD.replace(*change))
    with pytest.raises(UserError, match=message) as err:
        triage.load_triage(path)
    assert "\n" not in str(err.value)


def test_fix_fields_load_typed(tmp_path: Path) -> None:
    body = GOOD.replace('wrong = "kernel"', 'wrong = "kernel"\n'
                        'introduced_by = \'fd1e8a1fe2b "percpu: introduce it"\'\n'
                        'fixed_by = \'fb59e72e7e1 "percpu: clear it"\'\nfix_base = "ffe0d5a5754"')
    (entry,) = triage.load_triage(write_triage(tmp_path, body))
    assert entry.fixed_by == triage.Commit("fb59e72e7e1", "percpu: clear it")
    assert str(entry.introduced_by) == 'fd1e8a1fe2b "percpu: introduce it"'
    assert entry.fix_base == "ffe0d5a5754" and entry.checkable


def test_every_project_entry_says_how_it_lapses() -> None:
    """The project's entries name the fix the check replays, or say why none can be."""
    for entry in triage.load_triage():
        assert entry.fixed_by or entry.fix_check, entry.id
        if entry.wrong == "model":
            assert entry.fix_check, entry.id


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="used twice"):
        triage.load_triage(write_triage(tmp_path, GOOD + GOOD))


def label(kernel: dict[str, Any], result: dict[str, Any], case: Case,
          generation: str = "alloc_info", source: str = "linux@fd1e8a1fe2b5"
          ) -> list[triage.Labelled]:
    return triage.label(compare.compare(kernel, result), triage.Subject(case, kernel, result),
                        generation, source, triage.load_triage())


def test_a_known_difference_is_labelled_and_an_unknown_one_is_not() -> None:
    result = model(LPAGE)
    kernel = fake_kernel(result)
    kernel["state"]["last_unit_cpu"] = 8  # NR_CPUS: the empty last slot
    kernel["state"]["nr_slots"] = 99      # nobody has explained this
    labelled = {item.difference.field: item.entry for item in label(kernel, result, LPAGE)}
    assert labelled["state.last_unit_cpu"] is not None
    assert labelled["state.last_unit_cpu"].id == "new-lpage-last-unit-cpu-empty-slot"
    assert labelled["state.nr_slots"] is None


def test_entries_only_match_their_generation_and_value() -> None:
    result = model(LPAGE)
    kernel = fake_kernel(result)
    kernel["state"]["last_unit_cpu"] = 8
    assert label(kernel, result, LPAGE, generation="unit_map")[0].entry is None
    kernel["state"]["last_unit_cpu"] = 7  # not NR_CPUS: something else is going on
    assert label(kernel, result, LPAGE)[0].entry is None


def test_conditions_on_the_case_are_checked() -> None:
    case = Case("e", "embed", 8, (1, 2, 3))
    result = model(case, "unit_map")
    kernel = fake_kernel(result)
    kernel["state"]["first_unit_cpu"] = 0
    assert label(kernel, result, case, "unit_map")[0].entry is not None
    with_cpu0 = Case("e", "embed", 8, (0, 2, 3))
    result = model(with_cpu0, "unit_map")
    kernel = fake_kernel(result)
    kernel["state"]["first_unit_cpu"] = 2  # wrong, and not the known cpu0 bug
    assert label(kernel, result, with_cpu0, "unit_map")[0].entry is None


def test_an_arch_flows_failed_embed_attempt_counts_as_a_failed_group_allocation() -> None:
    case = Case("x", "x86", 8, (0, 1, 2, 3), fail_bootmem=3).validate()
    fell_back: Any = {"attempts": [{"allocator": "embed", "return": -12},
                                   {"allocator": "page", "return": 0}]}
    embedded: Any = {"attempts": [{"allocator": "embed", "return": 0}]}
    assert triage.Subject(case, {}, fell_back).ask("embed_group_alloc_failed")
    assert not triage.Subject(case, {}, embedded).ask("embed_group_alloc_failed")
    no_failure = Case("x", "x86", 8, (0, 1, 2, 3)).validate()
    assert not triage.Subject(no_failure, {}, fell_back).ask("embed_group_alloc_failed")


def test_relation_is_checked() -> None:
    result = model(LPAGE)
    kernel = fake_kernel(result)
    kernel["bootmem"]["fc_free_bytes"] -= 49152
    assert label(kernel, result, LPAGE)[0].entry is not None
    kernel["bootmem"]["fc_free_bytes"] += 2 * 49152  # freeing more is not that bug
    assert label(kernel, result, LPAGE)[0].entry is None


def test_a_bug_explains_the_fields_it_leaves_missing() -> None:
    case = cases.load_case(CASES / "lpage-units-reach-nr-cpus.toml")
    result = model(case)
    kernel = fake_kernel(result)
    kernel["outcome"] = {"kind": "bug"}
    for key in ("state", "static_copies", "return"):
        del kernel[key]
    labelled = label(kernel, result, case)
    assert labelled and all(item.entry is not None for item in labelled)
    assert {item.entry.id for item in labelled if item.entry} == {"new-unit-number-is-sentinel"}
    # without the condition the same BUG is unexplained
    small = Case("s", "lpage", 8, (0, 2, 4), atom_size=2 << 20)
    result = model(small)
    kernel = fake_kernel(result)
    kernel["outcome"] = {"kind": "bug"}
    assert all(item.entry is None for item in label(kernel, result, small))


def test_a_page_allocator_returning_its_pages_is_explained_in_the_arch_flow_too() -> None:
    # The page scenario's return, and an x86 flow's page attempt: the same
    # kernel behaviour, seen through two fields.
    page = Case("p", "page", 8, (0, 1), static_size=40960)
    result = model(page, "modern")
    kernel = fake_kernel(result)
    kernel["return"] = 3
    assert [i.entry.id if i.entry else None for i in label(kernel, result, page, "modern")] \
        == ["modern-page-returns-mapped-pages"]
    kernel["return"] = -12  # a failure is not that
    assert label(kernel, result, page, "modern")[0].entry is None
    x86 = Case("x", "x86", 8, (0, 1), static_size=40960, percpu_alloc="page")
    result = model(x86, "modern")
    assert [a["allocator"] for a in result["attempts"]] == ["page"]
    kernel = fake_kernel(result)
    kernel["attempts"][-1]["return"] = 3
    labelled = label(kernel, result, x86, "modern")
    assert [(i.difference.field, i.entry.id if i.entry else None) for i in labelled] == [
        ("attempts", "modern-page-returns-mapped-pages")]
    # an attempt before it that differs is something else
    kernel["attempts"].insert(0, {"allocator": "embed", "chosen": None, "return": -12,
                                  "reason": "alloc-failed"})
    assert label(kernel, result, x86, "modern")[0].entry is None


def test_a_second_layout_build_is_seen_in_both_x86_flows() -> None:
    # pcpu_build_alloc_info() keeping its buffers (new-build-info-reused)
    # bites whichever attempt built the layout before the page allocator:
    # 2009's lpage, or today's embed.
    case = Case("x", "x86", 8, (0, 1, 2, 3)).validate()
    today: Any = {"constants": {"x86_embeds_first": 1}}
    embed_failed: Any = {"attempts": [
        {"allocator": "embed", "chosen": None, "return": -12, "reason": "alloc-failed"},
        {"allocator": "page", "chosen": None, "return": 0, "reason": "ok"}]}
    lpage_declined: Any = {"attempts": [
        {"allocator": "lpage", "chosen": False, "return": -22, "reason": "vmalloc-limit"},
        {"allocator": "embed", "chosen": False, "return": -22, "reason": "numa"},
        {"allocator": "page", "chosen": None, "return": 0, "reason": "ok"}]}
    embedded: Any = {"attempts": [
        {"allocator": "embed", "chosen": None, "return": 0, "reason": "ok"}]}
    assert triage.Subject(case, today, embed_failed).ask("alloc_info_built_twice")
    assert triage.Subject(case, {}, lpage_declined).ask("alloc_info_built_twice")
    assert not triage.Subject(case, today, embedded).ask("alloc_info_built_twice")
    # embed declined before building (no PSE, NUMA) is no build
    assert not triage.Subject(case, {}, {"attempts": lpage_declined["attempts"][1:]}).ask(
        "alloc_info_built_twice")


def test_groups_overlap_from_the_state_or_else_from_where_the_callback_placed_them() -> None:
    case = Case("x", "embed", 8, (0, 1, 2, 3))
    overlapping: Any = {"state": {"group_offsets": [0, 0x1000], "group_sizes": [0x2000, 0x2000]}}
    apart: Any = {"state": {"group_offsets": [0, 0x2000], "group_sizes": [0x2000, 0x2000]}}
    assert triage.Subject(case, overlapping, {}).ask("kernel_groups_overlap")
    assert not triage.Subject(case, apart, {}).ask("kernel_groups_overlap")
    # Embed gave up after placing its groups (the vmalloc check): no state,
    # the shim's record of the callback's allocations still standing.
    placed: Any = {"bootmem": {"fc_spans": [[0, 0x160000], [0x157000, 0x150000]]}}
    assert triage.Subject(case, placed, {}).ask("kernel_groups_overlap")
    given_back: Any = {"bootmem": {"fc_spans": [[0, 0x160000], [0x160000, 0x150000]]}}
    assert not triage.Subject(case, given_back, {}).ask("kernel_groups_overlap")
    assert not triage.Subject(case, {}, {}).ask("kernel_groups_overlap")


def test_a_populated_fill_crash_is_a_fault_on_ones_past_one_long_of_pages() -> None:
    case = Case("x", "embed", 8, (0, 2))
    crash: Any = {"outcome": {"kind": "crash", "fault_addr": "0xffffffffffffffff"}}
    big: Any = {"state": {"first_chunk": {"nr_pages": 327}}}
    small: Any = {"state": {"first_chunk": {"nr_pages": 64}}}
    assert triage.Subject(case, crash, big).ask("populated_fill_crashed")
    assert not triage.Subject(case, crash, small).ask("populated_fill_crashed")
    elsewhere: Any = {"outcome": {"kind": "crash", "fault_addr": "0x10"}}
    assert not triage.Subject(case, elsewhere, big).ask("populated_fill_crashed")

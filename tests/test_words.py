"""The unit_map generation's facts (its boot messages' words, -1 for auto)
and what the model prints with them.  The C below is invented for the
tests: a setup and allocators of the generation's shape that print the
forms each revision printed."""

from __future__ import annotations

import pytest

import py_impl
from harness.core import cases, kernel_files
from harness.core.generations import unit_map
from harness.extract import ctext, detect


def facts_of(c_text: str) -> dict[str, int]:
    return dict(unit_map.SPEC.facts(detect.SourceView(  # type: ignore[misc]
        ctext.split(c_text, kernel_files.PERCPU_C))))


def source(dyn_type: str, embed_says: str, page_name: str, page_says: str) -> str:
    return f"""
size_t pcpu_setup_first_chunk(size_t s, size_t r, {dyn_type} dyn_size, size_t u,
                              void *base, const int *map) {{ return u; }}
ssize_t pcpu_embed_first_chunk(size_t r, ssize_t d) {{
    pr_info("PERCPU: " "{embed_says}\\n", 1, 2);
    return 0;
}}
ssize_t {page_name}(size_t r) {{ pr_info("PERCPU: {page_says}\\n", 1); return 0; }}
"""


def test_the_oldest_form_says_static_data_and_takes_auto() -> None:
    text = source("ssize_t", "Embedded %zu pages at %p, static data %zu bytes",
                  "pcpu_4k_first_chunk", "%d 4k pages per cpu, static data %zu bytes")
    assert facts_of(text) == {"uniform_messages": 0, "page_message_psize": 0,
                              "page_message_dyn": 0, "setup_dyn_auto": 1}


def test_the_latest_form_names_sizes_and_the_page_size() -> None:
    text = source("size_t", "Embedded %zu pages/cpu @%p s%zu r%zu d%zu u%zu",
                  "pcpu_page_first_chunk", "%d %s pages/cpu @%p s%zu r%zu d%zu")
    assert facts_of(text) == {"uniform_messages": 1, "page_message_psize": 1,
                              "page_message_dyn": 1, "setup_dyn_auto": 0}


def test_what_a_function_says_is_read_from_its_own_text() -> None:
    view = detect.SourceView(ctext.split(
        'int f(void) { pr_info("a %d pages/cpu @%p\\n", 1, 0); return 0; }',
        kernel_files.PERCPU_C))
    assert view.says("f", "pages/cpu @")
    assert not view.says("f", "static data")
    assert not view.says("g", "pages/cpu @")


OLDEST = {"uniform_messages": 0, "page_message_psize": 0, "page_message_dyn": 0,
          "setup_dyn_auto": 1}


@pytest.mark.parametrize(("scenario", "oldest", "latest"), [
    ("embed", "Embedded 12 pages at <bootmem>, static data 40960 bytes",
     "Embedded 12 pages/cpu @<bootmem> s40960 r8192 d0 u65536"),
    ("page", "16 4k pages per cpu, static data 40960 bytes",
     "16 4K pages/cpu @<vmalloc> s40960 r8192 d0"),
])
def test_the_model_prints_the_revisions_words(scenario: str, oldest: str, latest: str) -> None:
    case = cases.Case("x", scenario, 8, (0, 1, 2, 3))
    assert py_impl.run_model("unit_map", case, OLDEST)["log"] == f"<6>PERCPU: {oldest}\n"
    assert py_impl.run_model("unit_map", case)["log"] == f"<6>PERCPU: {latest}\n"


def test_page_hands_setup_minus_one_while_the_api_has_auto() -> None:
    case = cases.Case("x", "page", 8, (0, 1, 2, 3))
    oldest, latest = (py_impl.run_model("unit_map", case, facts) for facts in (OLDEST, {}))
    assert (oldest["setup_args"]["dyn_size"], latest["setup_args"]["dyn_size"]) == (-1, 0)
    # "whatever left": the unit's 64K less static and reserved
    assert oldest["state"]["first_chunk"]["free_size"] == (64 << 10) - 40960 - 8192
    assert latest["state"]["first_chunk"]["free_size"] == 8192

"""The renderings kept between commands: read back whole, or made again."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.compile import render_cache


class Made:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, str]:
        self.calls += 1
        return {"tu": "int x;"}


def test_kept_value_is_read_back_without_making_it(tmp_path: Path) -> None:
    make = Made()
    name = render_cache.key("label", "digest", "None", "generic")
    first = render_cache.kept(name, dict, make, root=tmp_path)
    second = render_cache.kept(name, dict, make, root=tmp_path)
    assert first == second == {"tu": "int x;"}
    assert make.calls == 1


def test_keys_differ_by_every_part() -> None:
    base = render_cache.key("a", "b", "c")
    assert len({base, render_cache.key("a", "b", "d"), render_cache.key("a", "x", "c"),
                render_cache.key("a", "bc")}) == 4


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_damaged_file_is_made_again(tmp_path: Path, damage: str) -> None:
    make = Made()
    render_cache.kept("n", dict, make, root=tmp_path)
    path = tmp_path / "renders" / "n.pickle"
    data = path.read_bytes()
    path.write_bytes({"truncate": data[:-5], "empty": b"",
                      "flip": data[:-1] + bytes([data[-1] ^ 1])}[damage])
    assert render_cache.kept("n", dict, make, root=tmp_path) == {"tu": "int x;"}
    assert make.calls == 2
    assert path.read_bytes() == data  # rewritten whole


def test_value_of_another_kind_is_made_again(tmp_path: Path) -> None:
    render_cache.kept("n", list, lambda: [1], root=tmp_path)
    make = Made()
    assert render_cache.kept("n", dict, make, root=tmp_path) == {"tu": "int x;"}
    assert make.calls == 1


def test_cache_on_a_file_costs_only_time(tmp_path: Path) -> None:
    (tmp_path / "renders").write_text("not a directory")
    make = Made()
    assert render_cache.kept("n", dict, make, root=tmp_path) == {"tu": "int x;"}
    assert make.calls == 1

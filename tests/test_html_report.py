"""--html pages, opened in a real headless browser (Debian's chromium).

The pages are written by show and run on the fixture kernels; chromium
takes a screenshot of each, and the test reads the PNG's pixels (decoded
here with zlib and struct) to see that the layout is drawn: the node
colours in the proportions of the units, the hatch of empty units, the
group boxes.  The HTML is checked too: one box per group, one cell or range
per unit, no external resource.  Without chromium the test fails, saying
how to get it: a picture nobody looked at is not tested.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import kernel

from harness.cli import app
from harness.core.result import BootResult
from harness.report import html_report
from harness.report.console import unit_layout

ROOT = Path(__file__).resolve().parent.parent
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,1000")
# cpus 0-4 on node 0, 8-13 on node 1; 5-7 not possible: get_page leaves their units empty
CASE = ("--scenario", "embed", "--nr-cpus", "16", "--possible", "0-4,8-13",
        "--cpu-node", "0,0,0,0,0,1,1,1,1,1,1", "--distance", "10,20;20,10")
RUN = ("--cases", "6", "--nr-cpus", "8", "--no-corpus", "--jobs", "2", "--shrink-budget", "8",
       "--max-reproducers", "2", "--timeout-ms", "60000", "--shrink-seconds", "3600")


def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is missing: run ./bootstrap, which installs Debian's chromium "
                    "(apt-get install --no-install-recommends chromium)")
    return found


def screenshot(page: Path, png: Path) -> None:
    """`page` as chromium draws it in a 1400x1000 window, into `png`."""
    with tempfile.TemporaryDirectory(prefix="percpu-diff-chromium-") as profile:
        proc = subprocess.Popen(
            [browser(), *BROWSER_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
             page.resolve().as_uri()],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            _, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: chromium and its helpers
            proc.communicate()
            pytest.fail(f"chromium took more than 300 s to draw {page}")
    assert png.is_file(), f"chromium wrote no screenshot (status {proc.returncode}): {err}"


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit RGB or RGBA non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(b"".join(idat)), width * bpp
    rows, prior = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = _unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]), prior, bpp)
        rows.append(bytes(line) if bpp == 3 else bytes(
            b for n, b in enumerate(line) if n % 4 != 3))
        prior = line
    return width, height, rows


def _unfilter(kind: int, line: bytearray, prior: bytearray, bpp: int) -> bytearray:
    if kind == 1:
        for i in range(bpp, len(line)):
            line[i] = (line[i] + line[i - bpp]) & 0xFF
    elif kind == 2:
        line = bytearray((a + b) & 0xFF for a, b in zip(line, prior, strict=True))
    elif kind == 3:
        for i in range(len(line)):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prior[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(len(line)):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prior[i], prior[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    return line


def colours(png: Path) -> Counter[tuple[int, int, int]]:
    """How many pixels of each colour the screenshot has."""
    width, height, rows = decode_png(png.read_bytes())
    assert (width, height) == (1400, 1000)
    counts: Counter[tuple[int, int, int]] = Counter()
    for row in rows:
        counts.update(zip(row[0::3], row[1::3], row[2::3], strict=True))
    return counts


def rgb(hex_colour: str) -> tuple[int, int, int]:
    value = int(hex_colour.lstrip("#"), 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


class _Page(HTMLParser):
    """Each drawn side's units, group boxes and cells; every URL-ish attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.sides: list[dict[str, object]] = []
        self.links: list[str] = []
        self.tags: Counter[str] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        named = dict(attrs)
        self.links += [f"{k}={v}" for k, v in attrs if k in ("src", "href", "action")]
        css = (named.get("class") or "").split()
        if "side" in css:
            self.sides.append({"label": named["data-side"], "units": int(named["data-units"]
                               or 0), "groups": 0, "cells": []})
        elif "group" in css:
            self.sides[-1]["groups"] += 1  # type: ignore[operator]
        elif "cell" in css:
            cells = self.sides[-1]["cells"]
            assert isinstance(cells, list)
            cells.append((int(named["data-first"] or 0), int(named["data-units"] or 0),
                          css[1]))


def parsed(page: Path) -> _Page:
    text = page.read_text()
    for external in ("http://", "https://", "url(", "@import", "<script", "<link", "<img"):
        assert external not in text, f"{page} is not self-contained: {external}"
    reader = _Page()
    reader.feed(text)
    assert not reader.links, reader.links
    return reader


def check_cells(side: dict[str, object]) -> list[tuple[int, int, str]]:
    """The side's cells cover its units, each once, in order."""
    cells = side["cells"]
    assert isinstance(cells, list)
    next_unit = 0
    for first, units, _ in cells:
        assert first == next_unit, (side["label"], cells)
        next_unit += units
    assert next_unit == side["units"], side["label"]
    return cells


def show(capsys: pytest.CaptureFixture[str], page: Path, *more: str) -> list[BootResult]:
    status = app.main(["show", "--dir", str(kernel("get_page")), "--model", "auto", "--json",
                       "--html", str(page), *more])
    assert status == 0
    results: list[BootResult] = json.loads(capsys.readouterr().out)["results"]
    return results


def test_show_page_draws_the_layout(capsys: pytest.CaptureFixture[str], tmp_path: Path
                                    ) -> None:
    page, png = tmp_path / "show.html", tmp_path / "show.png"
    results = show(capsys, page, *CASE)
    reader = parsed(page)
    # the kernel and its model, each its layout: a box per group, a cell per unit
    assert [s["label"] for s in reader.sides] == [str(kernel("get_page")), "model:get_page"]
    for side, result in zip(reader.sides, results, strict=True):
        layout = unit_layout(result)
        assert side["units"] == len(layout) == 14
        assert side["groups"] == len({unit.group for unit in layout})
        cells = check_cells(side)
        assert [kind for _, _, kind in cells] == ["n0"] * 5 + ["empty"] * 3 + ["n1"] * 6
    screenshot(page, png)
    seen = colours(png)
    node0, node1 = (seen[rgb(c)] for c in html_report.NODE_COLOURS[:2])
    # 10 cells of node 0 and 12 of node 1 (less their digits), and a swatch each
    assert node0 > 10 * 400 and node1 > 12 * 400, (node0, node1)
    assert 1.0 < node1 / node0 < 1.45, (node0, node1)
    assert seen[rgb(html_report.HATCH_COLOUR)] > 6 * 100, "no hatched empty units"
    assert seen[(0x33, 0x33, 0x33)] > 2 * 600, "no group boxes"
    assert not any(seen[rgb(c)] for c in html_report.NODE_COLOURS[2:]), "a node not in the case"


def test_a_layout_of_4096_units_is_drawn_in_ranges(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    page = tmp_path / "big.html"
    nodes = ",".join(str(cpu * 4 // 3995) for cpu in range(3995))
    results = show(capsys, page, "--scenario", "embed", "--nr-cpus", "4096", "--possible",
                   "0-1000,1100-4093", "--cpu-node", nodes, "--distance",
                   "10,20,20,20;20,10,20,20;20,20,10,20;20,20,20,10")
    assert page.stat().st_size < 60_000
    reader = parsed(page)
    for side, result in zip(reader.sides, results, strict=True):
        assert side["units"] == len(unit_layout(result)) == 4094
        cells = check_cells(side)
        # a range per node's run of cpus, one for the empty units, cpus 999 and 1000 alone
        # (a range of two would be no smaller)
        assert len(cells) < 12, cells
        assert ("empty" in {kind for _, _, kind in cells})


def test_run_page_draws_each_difference_with_its_reproducer(tmp_path: Path) -> None:
    page, png, out = tmp_path / "run.html", tmp_path / "run.png", tmp_path / "run"
    status = app.main(["run", "--dir", str(kernel("unit_map")), "--dir",
                       str(kernel("alloc_info")), *RUN, "--out", str(out), "--html", str(page)])
    assert status == 1  # the fixture kernels are not percpu.c: unexpected differences
    report = json.loads((out / "report.json").read_text())
    text = page.read_text()
    reader = parsed(page)
    assert reader.sides, "no example drawn"
    for side in reader.sides:
        check_cells(side)
        assert side["groups"] >= 1
    sections = re.findall(r'<section class="finding-group" data-label="(\w+)"', text)
    assert sections and set(sections) <= {"declared", "triaged", "unexpected"}
    assert sections.count("unexpected") >= 1
    assert f"<td class=\"num\">{report['summary']['unexpected']}</td>" in text
    for reproducer in report["reproducers"]:
        assert html_escaped(reproducer["command"]) in text
    # old and new, kernels and models: every example drawn on four sides
    assert len(reader.sides) % 4 == 0
    screenshot(page, png)
    seen = colours(png)
    assert seen[rgb(html_report.NODE_COLOURS[0])] > 400, "no unit of node 0 drawn"
    assert seen[(0x33, 0x33, 0x33)] > 4 * 600, "no group boxes"


def html_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        '"', "&#34;").replace("'", "&#39;")


def test_without_chromium_the_test_says_to_run_bootstrap(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setenv("PATH", str(ROOT / "no-such-dir"))
    with pytest.raises(pytest.fail.Exception, match=r"run \./bootstrap"):
        browser()


def test_repro_page_draws_the_case_on_every_side(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    page = tmp_path / "repro.html"
    status = app.main(["repro", "--dir", str(kernel("get_page")), "--dir",
                       str(kernel("unit_map")), *CASE, "--html", str(page)])
    capsys.readouterr()
    assert status == 1
    reader = parsed(page)
    assert [s["label"] for s in reader.sides] == [
        str(kernel("get_page")), str(kernel("unit_map")), "model:get_page", "model:unit_map"]
    for side in reader.sides:
        check_cells(side)
    assert "verdict: unexpected" in page.read_text()

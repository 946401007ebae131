"""What ran of the kernel code in a coverage shim: gcov's counters, read back.

A coverage shim (BuildConfig.coverage) compiles the kernel code with gcov,
and every child of its fork server adds its counters to the .gcda files in
the directory the server was given (server.gcov_env).  The rendered
translation units put a `#line` before every extracted item, so gcov already
names each line by the kernel file and line it came from; the glue, the
trace wrappers and the shim's stub headers are left out by their names.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.compile.shims import REAL_PREFIX
from harness.core.errors import UserError


@dataclass
class LineCount:
    """One line of kernel code: how often it ran and each branch arm's count."""

    count: int = 0
    branches: list[int] = field(default_factory=list)
    function: str = ""


@dataclass
class Coverage:
    """kernel file -> line -> its counts, merged over every shim of a side."""

    files: dict[str, dict[int, LineCount]] = field(default_factory=dict)
    # (file, function) -> (first line, last line)
    spans: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)

    def add_line(self, path: str, number: int, count: int, arms: list[int],
                 function: str) -> None:
        line = self.files.setdefault(path, {}).setdefault(number, LineCount(function=function))
        line.count += count
        # Builds of other configurations may lay a line's arms out
        # differently; arms are matched by position, the longest list kept.
        for i, arm in enumerate(arms):
            if i < len(line.branches):
                line.branches[i] += arm
            else:
                line.branches.append(arm)
        line.function = line.function or function

    def merge(self, other: Coverage) -> None:
        for path, lines in other.files.items():
            for number, line in lines.items():
                self.add_line(path, number, line.count, line.branches, line.function)
        for key, span in other.spans.items():
            old = self.spans.get(key, span)
            self.spans[key] = (min(old[0], span[0]), max(old[1], span[1]))


def kernel_path(name: str) -> bool:
    """A file gcov names by a kernel tree's relative path (from a #line):
    not the glue ("<percpu-diff glue>"), not a stub header (absolute)."""
    return not name.startswith(("<", "/")) and not os.path.isabs(name)


def function_name(name: str) -> str:
    """The name the kernel gives a function the glue renamed to wrap it."""
    return name.removeprefix(REAL_PREFIX)


def read_directory(gcov_dir: Path, gcov: str = "gcov") -> Coverage:
    """The counters of every object whose notes are in `gcov_dir`; an
    object no case ran (notes, no counters) counts every line as not run."""
    coverage = Coverage()
    for notes in sorted(gcov_dir.glob("*.gcno")):
        coverage.merge(_read_object(gcov_dir, notes.with_suffix(".o").name, gcov))
    return coverage


def read_directories(dirs: Iterable[Path], gcov: str = "gcov") -> Coverage:
    coverage = Coverage()
    for one in dirs:
        coverage.merge(read_directory(one, gcov))
    return coverage


def _read_object(gcov_dir: Path, object_name: str, gcov: str) -> Coverage:
    try:
        proc = subprocess.run([gcov, "--json-format", "--stdout", "--branch-counts",
                               "--branch-probabilities", object_name],
                              cwd=gcov_dir, capture_output=True, text=True, check=False)
    except OSError as err:
        raise UserError(f"--coverage needs gcc's gcov, which does not run ({err}): "
                        "install gcc") from err
    if proc.returncode != 0:
        raise UserError(f"gcov could not read {gcov_dir / object_name}: "
                        f"{proc.stderr.strip()[-300:]}")
    coverage = Coverage()
    for text in proc.stdout.splitlines():
        if text.strip():
            _add_report(coverage, json.loads(text))
    return coverage


def _add_report(coverage: Coverage, report: dict[str, object]) -> None:
    """One gcov JSON document (format 1, gcc 9 and later) into `coverage`."""
    files = report.get("files")
    for entry in files if isinstance(files, list) else []:
        path = str(entry["file"])
        if not kernel_path(path):
            continue
        for fn in entry.get("functions", []):
            key = (path, function_name(str(fn["name"])))
            span = (int(fn["start_line"]), int(fn["end_line"]))
            old = coverage.spans.get(key, span)
            coverage.spans[key] = (min(old[0], span[0]), max(old[1], span[1]))
        for line in entry.get("lines", []):
            coverage.add_line(path, int(line["line_number"]), int(line["count"]),
                              [int(b["count"]) for b in line.get("branches", [])],
                              function_name(str(line.get("function_name", ""))))

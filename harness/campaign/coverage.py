"""Coverage of a run's kernel code, per side and function, and the lines of
a patch no case reached.

The counters come from the coverage shims (harness/run/gcov.py), one
directory per side and shim under the run's coverage/ directory; here they
are merged per side and summed up per function, in the kernel file's own
line numbers.  A changed line is one of the new side's lines that differs
from the old side (difflib over the two sides' texts: for a run of a patch
these are the lines the patch added or changed, where it applied).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from harness.campaign import runner
from harness.run import gcov


@dataclass(frozen=True)
class FunctionCoverage:
    path: str
    name: str
    start: int
    lines_hit: int
    lines: int
    branches_taken: int
    branches: int
    unreached_lines: tuple[int, ...]
    # (line, arm) of every branch arm no case took
    untaken_arms: tuple[tuple[int, int], ...]

    def to_json(self) -> FunctionCoverageJson:
        return {"file": self.path, "function": self.name, "line": self.start,
                "lines_hit": self.lines_hit, "lines": self.lines,
                "branches_taken": self.branches_taken, "branches": self.branches,
                "unreached_lines": list(self.unreached_lines),
                "untaken_branches": [list(arm) for arm in self.untaken_arms]}


class FunctionCoverageJson(TypedDict):
    file: str
    function: str
    line: int
    lines_hit: int
    lines: int
    branches_taken: int
    branches: int
    unreached_lines: list[int]
    untaken_branches: list[list[int]]


@dataclass(frozen=True)
class ChangedLine:
    path: str
    line: int
    text: str
    # "reached", "unreached" (code no case ran), "no code" (a line of a
    # built function the compiler gave no code: a declaration, a brace, a
    # comment) or "not built" (outside every function the shim compiles)
    state: str


@dataclass(frozen=True)
class SideCoverage:
    side: str
    label: str
    functions: tuple[FunctionCoverage, ...]
    changed: tuple[ChangedLine, ...] = ()

    def totals(self) -> dict[str, int]:
        return {key: sum(getattr(f, key) for f in self.functions)
                for key in ("lines_hit", "lines", "branches_taken", "branches")}

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"label": self.label, **self.totals(),
                                  "functions": [f.to_json() for f in self.functions]}
        if self.changed:
            out["changed_lines"] = {
                state: sum(1 for c in self.changed if c.state == state)
                for state in ("reached", "unreached", "no code", "not built")}
            out["unreached_changed_lines"] = [
                {"file": c.path, "line": c.line, "text": c.text}
                for c in self.changed if c.state == "unreached"]
        return out


def summarize(coverage: gcov.Coverage) -> tuple[FunctionCoverage, ...]:
    """Per function, in file and line order: lines and branch arms, run or not."""
    grouped: dict[tuple[str, str], list[tuple[int, gcov.LineCount]]] = {}
    for file_path, file_lines in coverage.files.items():
        for number, line in file_lines.items():
            grouped.setdefault((file_path, line.function or "?"), []).append((number, line))
    out = []
    for (path, name), lines in grouped.items():
        lines.sort(key=lambda item: item[0])
        arms = [(number, i, n) for number, line in lines for i, n in enumerate(line.branches)]
        start = coverage.spans.get((path, name), (lines[0][0], 0))[0]
        out.append(FunctionCoverage(
            path, name, start, sum(1 for _, line in lines if line.count), len(lines),
            sum(1 for _, _, n in arms if n), len(arms),
            tuple(number for number, line in lines if not line.count),
            tuple((number, i) for number, i, n in arms if not n)))
    return tuple(sorted(out, key=lambda f: (f.path, f.start)))


def changed_lines(old_text: str, new_text: str) -> list[int]:
    """The new side's line numbers (1-based) that the old side does not have."""
    old, new = old_text.splitlines(), new_text.splitlines()
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return [j + 1 for tag, _, _, j1, j2 in matcher.get_opcodes()
            if tag in ("replace", "insert") for j in range(j1, j2)]


def classify_changed(coverage: gcov.Coverage, path: str, new_text: str,
                     numbers: Sequence[int]) -> list[ChangedLine]:
    """What became of each changed line of `path` in the runs of the new side."""
    lines = coverage.files.get(path, {})
    spans = [span for (where, _), span in coverage.spans.items() if where == path]
    text = new_text.splitlines()
    out = []
    for number in numbers:
        line = lines.get(number)
        if line is not None:
            state = "reached" if line.count else "unreached"
        elif any(first <= number <= last for first, last in spans):
            state = "no code"
        else:
            state = "not built"
        out.append(ChangedLine(path, number, text[number - 1].strip(), state))
    return out


def side_coverage(side: str, label: str, dirs: Sequence[Path],
                  changed_files: Mapping[str, tuple[str, str]] | None = None) -> SideCoverage:
    """One side's coverage from its shims' counter directories; with
    `changed_files` (path -> (old text, new text)), its changed lines too."""
    coverage = gcov.read_directories(dirs)
    changed: list[ChangedLine] = []
    for path, (old_text, new_text) in sorted((changed_files or {}).items()):
        changed += classify_changed(coverage, path, new_text, changed_lines(old_text, new_text))
    return SideCoverage(side, label, summarize(coverage), tuple(changed))


def side_dirs(root: Path, side: str) -> list[Path]:
    """The counter directories of one side's shims under a run's coverage/ root."""
    folder = root / side
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def run_coverage(plan: runner.Plan, gcov_root: Path) -> list[SideCoverage]:
    """Every side's coverage; for a run of a patch (the new side patched),
    the new side's changed lines in the files the patch touched."""
    out = []
    for side in plan.sides:
        changed: dict[str, tuple[str, str]] = {}
        new_snap = side.snapshot
        if side.name == "new" and len(plan.sides) == 2 and new_snap is not None:
            old_snap = plan.sides[0].snapshot
            changed = {path: (old_snap.files.get(path, "") if old_snap else "", new_snap.read(path))
                       for path in new_snap.patched_files if new_snap.has(path)}
        out.append(side_coverage(side.name, side.label, side_dirs(gcov_root, side.name), changed))
    return out

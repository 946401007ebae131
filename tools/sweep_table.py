"""The era table: every source x scenario -> builds, boots, agrees.

    .venv/bin/python tools/sweep_table.py SOURCES_FILE [--count 300] [--nr-cpus 64]
        [--scenarios embed,page,lpage,x86] [--out table.jsonl]

SOURCES_FILE holds one source per line: PATH or PATH@REV (a kernel tree,
HEAD by default), or any source percpu-diff takes (debian:6.1, ...); blank
lines and # comments are skipped.  Each cell is one `percpu-diff agree
--json` run; rows stream to --out as they finish (a rerun skips the rows
already there), and the table prints at the end in Markdown, the form the
issue's closing note takes.  A scenario the source does not have is "-";
a source that does not build shows its one-line error.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

PERCPU_DIFF = [sys.executable, "-m", "harness.cli.app"]
TIME_LIMIT_S = 3600


@dataclass
class Cell:
    source: str
    scenario: str
    generation: str = ""
    status: str = ""  # "ran", "absent", or the error
    agree: int = 0
    triaged: int = 0
    unexpected: int = 0
    failed: int = 0
    outcomes: str = ""
    booted_as: str = ""  # the successor a dropped scenario ran on


def source_args(line: str) -> list[str]:
    if ":" in line.split("/", 1)[0] or line.startswith(("debian:", "dir:", "tree:", "patch:")):
        return [line]
    path, _, rev = line.partition("@")
    return ["--tree", path, "--rev", rev or "HEAD"]


def short(line: str) -> str:
    path, _, rev = line.partition("@")
    parts = Path(path).parts
    name = parts[-2] if parts and parts[-1] in ("repo", ".git") else (parts[-1] if parts else line)
    return f"{name}@{rev}" if rev else name


def run_cell(line: str, scenario: str, count: int, nr_cpus: int) -> Cell:
    cell = Cell(short(line), scenario)
    cmd = [*PERCPU_DIFF, "agree", *source_args(line), "--scenario", scenario, "--count",
           str(count), "--nr-cpus", str(nr_cpus), "--timeout-ms", "60000", "--json"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIME_LIMIT_S,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        cell.status = f"no answer in {TIME_LIMIT_S} s"
        return cell
    if done.returncode not in (0, 1):
        error = (done.stderr.strip().splitlines() or ["exit status"])[-1]
        absent = any(f"has no {scenario} {what}" in error for what in ("scenario", "flow"))
        cell.status = "absent" if absent else error
        return cell
    try:
        summary = json.loads(done.stdout)
    except json.JSONDecodeError:
        cell.status = (done.stderr.strip().splitlines() or ["no JSON summary"])[-1]
        return cell
    verdicts = summary["scenarios"][scenario]["verdicts"]
    successor = re.search(r"runs on (\w+), its successor", " ".join(done.stderr.split()))
    cell.booted_as = successor.group(1) if successor else ""
    cell.generation = summary["generation"]
    cell.status = "ran"
    cell.agree, cell.triaged = verdicts.get("agree", 0), verdicts.get("triaged", 0)
    cell.unexpected, cell.failed = verdicts.get("unexpected", 0), verdicts.get("failed", 0)
    outcomes = summary["scenarios"][scenario]["kernel_outcomes"]
    cell.outcomes = " ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
    return cell


def markdown(cells: list[Cell]) -> str:
    rows = ["| source | generation | scenario | builds, boots | agree / triaged / unexpected"
            " / failed | kernel outcomes |", "|---|---|---|---|---|---|"]
    for c in cells:
        if c.status == "ran":
            ran = f"yes (on {c.booted_as})" if c.booted_as else "yes"
            rows.append(f"| {c.source} | {c.generation} | {c.scenario} | {ran} | {c.agree} / "
                        f"{c.triaged} / {c.unexpected} / {c.failed} | {c.outcomes} |")
        elif c.status == "absent" or f"has no {c.scenario} " in c.status:
            rows.append(f"| {c.source} | | {c.scenario} | - (not in this source) | | |")
        else:
            rows.append(f"| {c.source} | | {c.scenario} | no: {c.status} | | |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sources", type=Path)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--nr-cpus", type=int, default=64)
    parser.add_argument("--scenarios", default="embed,page,lpage,x86")
    parser.add_argument("--out", type=Path, default=Path("sweep-table.jsonl"))
    args = parser.parse_args()
    lines = [ln.split("#", 1)[0].strip() for ln in args.sources.read_text().splitlines()]
    done = {}
    if args.out.is_file():
        for row in args.out.read_text().splitlines():
            cell = Cell(**json.loads(row))
            done[(cell.source, cell.scenario)] = cell
    cells = []
    with args.out.open("a") as sink:
        for line in filter(None, lines):
            for scenario in args.scenarios.split(","):
                cell = done.get((short(line), scenario))
                if cell is None:
                    cell = run_cell(line, scenario, args.count, args.nr_cpus)
                    sink.write(json.dumps(asdict(cell)) + "\n")
                    sink.flush()
                    print(f"{cell.source} {scenario}: {cell.status} {cell.agree}/"
                          f"{cell.triaged}/{cell.unexpected}/{cell.failed}", file=sys.stderr)
                cells.append(cell)
    print(markdown(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a run tested, as its reports state it: each side by ids a reviewer
can name it again by (a full commit, a Debian version and its .deb's
sha256, a directory's files' sha256), the subjects of its patches, the
scenarios a side boots as their successor, and the options that rerun a
case of the run."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.campaign import reproduce, runner
from harness.core.errors import UserError
from harness.report.summary_text import SourceId
from harness.sources import debian, patches
from harness.sources.snapshot import SourceSpec


def source_ids(sides: Sequence[runner.Side], specs: Sequence[SourceSpec]) -> list[SourceId]:
    """Each side by its full ids and its patches' subjects."""
    out = []
    for side, spec in zip(sides, specs, strict=True):
        snap = side.snapshot
        ids: list[str] = []
        if snap is not None and snap.commit:
            applied = f" with {_count(len(spec.patches), 'patch file')}" if spec.patches else ""
            ids.append(f"commit {snap.commit}{applied}")
        if spec.kind == "debian":
            ids += _debian_ids(side.label)
        elif snap is not None and not snap.commit:
            ids.append(f"sha256 of the files read {snap.digest()}")
        subjects = [line for path in spec.patches for line in _subjects(path)]
        out.append(SourceId(side.name, side.label, tuple(ids), tuple(subjects)))
    return out


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def _debian_ids(label: str) -> list[str]:
    """'linux-source-6.1 6.1.192-3, .deb sha256 ...' from the verified cache
    the run has just read it from; [] if it cannot be read."""
    _, _, pinned = label.partition(":")
    try:
        fetched = debian.fetch(debian.parse_debian_arg(pinned), [])
    except (UserError, OSError, ValueError):
        return []
    return [f".deb sha256 {fetched.deb_sha256}"] if fetched.deb_sha256 \
        else []


def _subjects(path: Path) -> list[str]:
    """'FILE: subject' for each patch of a patch file, in order."""
    if str(path) == "-":
        return ["(the patches read from stdin)"]
    try:
        series = patches.parse_patch_series(path.read_bytes(), path.name)
    except (UserError, OSError):
        return [path.name]
    return [f"{path.name}{f' [{n}/{len(series)}]' if len(series) > 1 else ''}: "
            f"{p.subject or '(a plain diff, no subject)'}" for n, p in enumerate(series, 1)]


def scenario_notes(sides: Sequence[runner.Side], scenarios: Sequence[str]) -> list[str]:
    """'lpage runs as embed on old, new' for each scenario some side boots
    as its successor."""
    notes = []
    for scenario in scenarios:
        by_successor: dict[str, list[str]] = {}
        for side in sides:
            successor = side.spec.successors.get(scenario)
            have = side.rendered.extraction.scenarios
            if scenario not in have and successor is not None and successor in have:
                by_successor.setdefault(successor, []).append(side.name)
        notes += [f"{scenario} runs as {successor} on {', '.join(names)}"
                  for successor, names in by_successor.items()]
    return notes


def rerun(words: Sequence[str], sides: Sequence[runner.Side], specs: Sequence[SourceSpec]
          ) -> str:
    """'percpu-diff repro SOURCES', which a case's options complete: Debian
    sources pinned to the versions the run read (apt's candidate moves)."""
    if specs and all(spec.kind == "debian" for spec in specs):
        words = [shlex.quote(side.label) for side in sides]
    return " ".join(["percpu-diff", "repro", *words])


def options_of(plan: runner.Plan) -> Callable[[str], str]:
    """A case of the plan's options by its name ("" for a case not in it)."""
    by_name = {case.name: case for case in plan.cases}

    def options(name: str) -> str:
        case = by_name.get(name)
        return "" if case is None else \
            reproduce.repro_command([], case).removeprefix("percpu-diff repro").strip()

    return options

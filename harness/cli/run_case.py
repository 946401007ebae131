"""`show --run DIR CASE` and `repro --run DIR CASE`: a case of a run, on the
run's own sides.  What a run keeps for them (campaign/kept_cases.py) is
written by `run` through replay_of(); read back here into the requests that
show and repro take, so that they boot the case as the run did: the same
sources and patches, the same build and limits, the same rule files."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from rich.console import Console

from harness.campaign import kept_cases, runner
from harness.cli.requests import (
    BuildOptions,
    CaseOptions,
    ReproRequest,
    RunCase,
    RunRequest,
    ShowRequest,
    SourceOptions,
)
from harness.core.errors import UserError


def _absolute(path: Path | None) -> str | None:
    if path is None or str(path) == "-":  # stdin stays stdin
        return None if path is None else "-"
    return str(path.absolute())


def replay_of(request: RunRequest) -> dict[str, object]:
    """How a run was asked for, as run.json keeps it: the sources as given
    (their labels, and the reproducers' commands, are made of those words)
    and the directory they were given in; the rule files absolute."""
    named = request.sources
    return {
        "cwd": str(Path.cwd()),
        "sources": {"sources": list(named.sources), "tree": _absolute(named.tree),
                    "revs": list(named.revs), "old": named.old, "new": named.new,
                    "base": named.base, "patches": [str(p) for p in named.patches],
                    "dirs": [str(d) for d in named.dirs]},
        "build": dataclasses.asdict(request.build),
        "declared": _absolute(request.declared), "triage": _absolute(request.triage),
    }


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _path(value: object) -> Path | None:
    return None if value is None else Path(str(value))


def _sources(replay: dict[str, object]) -> SourceOptions:
    named = replay.get("sources")
    if not isinstance(named, dict):
        raise UserError("the run's run.json names no sources: run it again")
    return SourceOptions(
        _strings(named.get("sources")), _path(named.get("tree")), _strings(named.get("revs")),
        _text(named.get("old")), _text(named.get("new")), _text(named.get("base")),
        tuple(map(Path, _strings(named.get("patches")))),
        tuple(map(Path, _strings(named.get("dirs")))))


def _build(replay: dict[str, object], asked: BuildOptions) -> BuildOptions:
    """The run's build and limits; a --timeout-ms given now wins (a case that
    timed out in the run may be looked at with more time)."""
    build = replay.get("build")
    if not isinstance(build, dict):
        raise UserError("the run's run.json names no build: run it again")
    timeout = build.get("timeout_ms")
    return BuildOptions(
        bool(build.get("sanitize")),
        asked.timeout_ms if asked.timeout_ms is not None else
        None if timeout is None else int(str(timeout)),
        int(str(build.get("mem_mb", 2048))), bool(build.get("coverage")) or asked.coverage)


def _case(run: RunCase, asked: CaseOptions, sources: SourceOptions
          ) -> tuple[kept_cases.KeptRun, SourceOptions, CaseOptions]:
    if sources.given():
        raise UserError(f"--run {run.directory} boots the case on the run's own sources: "
                        "drop the source options (or drop --run)")
    if asked.file is not None:
        raise UserError(f"--run {run.directory} {run.case} is the case: drop --case "
                        f"{asked.file}")
    kept = kept_cases.open_run(run.directory)
    case = kept.case(run.case)
    return kept, _sources(kept.replay), CaseOptions(None, asked.given, case)


def show_request(request: ShowRequest) -> tuple[ShowRequest, kept_cases.KeptRun]:
    """The show of a run's case: the case, with any case options given laid over it."""
    assert request.run is not None
    kept, sources, case = _case(request.run, request.case, request.sources)
    return dataclasses.replace(
        request, sources=sources, case=case, build=_build(kept.replay, request.build),
        triage=request.triage or _path(kept.replay.get("triage"))), kept


def repro_request(request: ReproRequest) -> tuple[ReproRequest, kept_cases.KeptRun]:
    """The repro of a run's case, judged by the run's declared changes and triage."""
    assert request.run is not None
    kept, sources, case = _case(request.run, request.case, request.sources)
    return dataclasses.replace(
        request, sources=sources, case=case, build=_build(kept.replay, request.build),
        declared=request.declared or _path(kept.replay.get("declared")),
        triage=request.triage or _path(kept.replay.get("triage"))), kept


@contextlib.contextmanager
def sources_at(kept: kept_cases.KeptRun | None) -> Iterator[None]:
    """Where the run's sources are read: in the directory the run was started
    in, as the run read them (a relative --dir, --patch or tree: names the
    same files, and the labels are the run's); elsewhere nothing changes."""
    where = kept.replay.get("cwd") if kept is not None else None
    if not isinstance(where, str) or not Path(where).is_dir():
        yield
        return
    before = os.getcwd()
    os.chdir(where)
    try:
        yield
    finally:
        os.chdir(before)


def check_code(kept: kept_cases.KeptRun, sides: Sequence[runner.Side], err: Console) -> None:
    """Say so when a side's code is no longer what the run built (a --dir's
    files or a --patch changed since): the case then boots on today's code."""
    ran = kept.code()
    now = runner.code_digests(sides)
    changed = [side.label for side, was, is_ in zip(sides, ran, now, strict=False)
               if was != is_]
    if changed:
        err.print(f"warning: the code of {', '.join(changed)} changed since the run "
                  f"{kept.path}: the case boots on the code as it is now", markup=False)

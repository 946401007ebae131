"""A case's record cut to size for storing and reporting, its findings kept
whole once, in a file of the case's own (the caps: harness/core/bounds.py).

The record is judged before it comes here: the verdict and every finding's
label were made on the whole values, and cutting changes neither.  What
the record keeps is deterministic, so a resumed run reports exactly what
an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.campaign import runner
from harness.core import bounds, files
from harness.judge import classify


def bounded(record: runner.CaseRecord, rundir: Path) -> runner.CaseRecord:
    """`record` as a run stores and reports it: each finding's values cut to
    VALUE_BYTES, and past FINDINGS_KEPT findings only the first of each
    further kind.  When anything was cut, the case's findings are written
    whole to rundir/cases/<case>/findings.jsonl and the record names it."""
    kept = _kept(record.findings)
    small = [dataclasses.replace(f, left=bounds.cut(f.left), right=bounds.cut(f.right))
             for f in kept]
    values_cut = any(s.left is not f.left or s.right is not f.right
                     for s, f in zip(small, kept, strict=True))
    if not values_cut and len(kept) == len(record.findings):
        return record
    relative = f"{bounds.CASES_DIR}/{bounds.case_dir_name(record.case)}/{bounds.FINDINGS_FILE}"
    keep_whole(record.findings, rundir / relative)
    return dataclasses.replace(record, findings=tuple(small),
                               findings_total=len(record.findings), findings_file=relative)


def _kept(findings: Sequence[classify.Finding]) -> list[classify.Finding]:
    """The first FINDINGS_KEPT findings and the first of every kind after
    them, in their order: every kind a case shows stays in its record."""
    if len(findings) <= bounds.FINDINGS_KEPT:
        return list(findings)
    kept = list(findings[:bounds.FINDINGS_KEPT])
    kinds = {f.kind for f in kept}
    for finding in findings[bounds.FINDINGS_KEPT:]:
        if finding.kind not in kinds:
            kinds.add(finding.kind)
            kept.append(finding)
    return kept


def keep_whole(findings: Sequence[classify.Finding], path: Path) -> None:
    """One JSON line per finding, numbered, under CASE_FILE_BYTES: a value
    already written (the same log, seen from two comparisons) is written
    once and named after that, a value over FILE_VALUE_BYTES is cut to its
    beginning, and if the file fills up a last line says what is not there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(path, "".join(line + "\n" for line in _lines(findings)))


def _lines(findings: Sequence[classify.Finding]) -> Iterable[str]:
    budget = bounds.CASE_FILE_BYTES
    seen: dict[str, str] = {}
    for n, finding in enumerate(findings):
        entry: dict[str, Any] = {"n": n, **finding.to_json()}
        for side in ("left", "right"):
            entry[side] = _once(entry[side], f"finding {n}'s {side}", seen)
        line = _fitted(entry, bounds.FILE_VALUE_BYTES)
        if len(line) + 1 > budget - _NOTE_ROOM:
            yield json.dumps({"cut": f"{len(findings)} findings; this file's cap is "
                                     f"{bounds.CASE_FILE_BYTES:,} bytes: findings {n} on "
                                     "are not here"})
            return
        budget -= len(line) + 1
        yield line


# What the last line, saying what the cap left out, needs.
_NOTE_ROOM = 256


def _once(value: Any, where: str, seen: dict[str, str]) -> Any:
    if not bounds.is_big(value):
        return value
    digest = hashlib.sha256(bounds.value_json(value).encode()).hexdigest()
    if digest in seen:
        return f"<the same as {seen[digest]}>"
    seen[digest] = where
    return value


def _fitted(entry: dict[str, Any], share: int) -> str:
    """The entry as a line, each value cut to its first `share` bytes."""
    while True:
        fitted = dict(entry)
        for side in ("left", "right"):
            value = entry[side]
            if not bounds.is_big(value):
                continue
            text = value if isinstance(value, str) else bounds.value_json(value)
            if len(text) > share:
                fitted[side] = text[:share]
                fitted[f"{side}_cut"] = (f"the first {share:,} of {len(text):,} characters "
                                         f"{'' if isinstance(value, str) else 'of its JSON '}"
                                         "are kept")
        line = json.dumps(fitted, default=str)
        if len(line) <= 2 * share + 2048 or share == 0:
            return line
        share //= 2  # escapes made it longer than its text

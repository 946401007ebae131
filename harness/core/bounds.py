"""How much of a run's values its records and reports hold.

A kernel may print without end (the shim keeps up to 16 MiB of log per
boot) and a 4096-cpu case differs in thousands of fields; a run's records
and reports hold a bounded excerpt of each, and the whole value is kept
once, in a file of the case's own, itself under a cap.  Cutting is for
storing and showing only: every comparison and verdict is made on the
whole values before anything here runs.
"""

from __future__ import annotations

import hashlib
import json
import re

from harness.core.result import JsonValue

# A finding's value in records and reports: at most this many bytes of JSON.
VALUE_BYTES = 1024
# How much of a cut value its excerpt keeps.
QUOTED_CHARS = 300
# A case's findings in records and reports: the first ones, and the first of
# every further kind (so that the run's kinds and their case counts stay
# whole); the rest are counted and kept in the case's file.
FINDINGS_KEPT = 50
# The file keeping one case's whole findings, and any one value in it (so
# that one long log cannot crowd out the case's other findings).
CASE_FILE_BYTES = 4 << 20
FILE_VALUE_BYTES = 1 << 20
# Where a run directory keeps them: cases/<case>/findings.jsonl.
CASES_DIR = "cases"
FINDINGS_FILE = "findings.jsonl"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def value_json(value: JsonValue) -> str:
    return json.dumps(value, default=str)


def is_big(value: JsonValue) -> bool:
    # Small scalars are the common case: no need to serialise them to know.
    if value is None or isinstance(value, (bool, int, float)):
        return False
    if isinstance(value, str):
        if len(value) * 6 + 2 <= VALUE_BYTES:
            return False
        if len(value) + 2 > VALUE_BYTES:
            return True
    return len(value_json(value)) > VALUE_BYTES


def cut(value: JsonValue) -> JsonValue:
    """`value`, or where its JSON is over VALUE_BYTES, its beginning and a
    note of what was cut: text as text (so a reader sees the log's first
    lines, as before), anything else as its JSON."""
    if not is_big(value):
        return value
    if isinstance(value, str):
        head = value[:QUOTED_CHARS]
        what = f"text of {len(value.encode()):,} bytes, {value.count(chr(10)) + 1:,} lines"
    else:
        text = value_json(value)
        head = text[:QUOTED_CHARS]
        items = f"{len(value):,} items, " if isinstance(value, (list, dict)) else ""
        what = f"{type(value).__name__} of {items}{len(text):,} bytes of JSON"
    return f"{head}... [cut: {what}]"


def case_dir_name(case: str) -> str:
    """A case name as one safe path component."""
    safe = _UNSAFE.sub("_", case)[:100] or "_"
    # two names that differ only in unsafe characters must not share a directory
    return safe if safe == case else f"{safe}-{hashlib.sha256(case.encode()).hexdigest()[:8]}"

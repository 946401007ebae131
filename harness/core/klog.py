"""The kernel log as the shim and the models print it: lines with levels,
and the allocation dump among them.

Both the judge (which compares dumps) and the reports (which show them)
read logs, so the reading lives here, below both.
"""

from __future__ import annotations

import re
from typing import NamedTuple

DUMP_PREFIXES = ("pcpu-alloc:", "pcpu-lpage:")
_LEVEL = re.compile(r"^(?:<([0-7])>|\x01([0-7c]))")


class LogLine(NamedTuple):
    """A tuple, not a dataclass: a 4096-cpu boot's log has thousands of lines."""

    level: str | None
    text: str


def split_log(log: str) -> list[LogLine]:
    """Kernel log lines with their level ("<7>" in 2009, KERN_SOH later)."""
    lines: list[LogLine] = []
    for raw in log.split("\n"):
        if not raw:
            continue
        m = _LEVEL.match(raw)
        level = (m.group(1) or m.group(2)) if m else None
        lines.append(LogLine(level, raw[m.end():] if m else raw))
    return lines


def dump_text(log: str) -> str:
    """The allocation dump (pcpu-alloc:/pcpu-lpage: lines), levels stripped."""
    return "\n".join(
        line.text for line in split_log(log) if line.text.startswith(DUMP_PREFIXES)
    )

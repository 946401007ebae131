"""Where a hunk goes in the text it is applied to: the search of `git apply`
(no fuzz, the default) and the search of GNU patch with a fuzz factor.

Both place a hunk's old lines (context and removed lines) in the base at
the match nearest to where the hunk says it belongs, trying the later line
first when two are equally near.  They differ in what they expect:

- git apply expects a hunk at its new-side line in the text patched so far,
  so an offset found for one hunk is not carried to the next (the search
  finds the next one again); a hunk that starts at line 1 must match at
  the start of the file, one without trailing context at its end.
- patch carries the offset found (its "in_offset") to later hunks, and with
  fuzz F ignores up to F context lines at the start and the end of the hunk
  (fewer on the side that has less context than the other); a hunk with
  less leading than trailing context that starts at line 1 must match at
  the start of the file, one with less trailing context at its end.

Positions here are 0-based indexes into the base's list of lines.  Only
base lines at or after `lowest` (what earlier hunks consumed) are searched:
hunks apply in file order, as both tools require of well-formed diffs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Pattern:
    """A hunk's old lines and how many of them are leading and trailing context."""

    old: Sequence[str]
    prefix: int
    suffix: int


def nearest_first(expected: int, lowest: int, highest: int) -> Iterator[int]:
    """lowest..highest ordered by distance from expected, the later of two first."""
    if highest < lowest:
        return
    expected = min(max(expected, lowest), highest)
    yield expected
    for distance in range(1, max(expected - lowest, highest - expected) + 1):
        for pos in (expected + distance, expected - distance):
            if lowest <= pos <= highest:
                yield pos


def _matches(base: Sequence[str], old: Sequence[str], pos: int, skip_head: int = 0,
             skip_tail: int = 0) -> bool:
    end = len(old) - skip_tail
    if pos < 0 or pos + end > len(base):
        return False
    return all(base[pos + k] == old[k] for k in range(skip_head, end))


def git_place(base: Sequence[str], pattern: Pattern, expected: int, lowest: int,
              begin: bool, end: bool) -> int | None:
    """Where git apply puts the hunk, or None.  `begin`/`end`: it must match
    at the start / the end of the file, as git requires of a hunk at line 1 /
    one without trailing context."""
    old = pattern.old
    highest = len(base) - len(old)
    if not old:
        # Nothing to confirm the place: as declared, as git does.
        return expected if lowest <= expected <= len(base) else None
    for pos in nearest_first(expected, lowest, highest):
        if (begin and pos != 0) or (end and pos != highest):
            continue
        if _matches(base, old, pos):
            return pos
    return None


def patch_place(base: Sequence[str], pattern: Pattern, first_guess: int, first_line: int,
                frozen: int, fuzz: int) -> int | None:
    """Where GNU patch puts the hunk with this fuzz, or None.  `first_guess`:
    the hunk's old start (0-based) plus the offset carried from earlier
    hunks; `first_line`: its old start as written (1-based); `frozen`: base
    lines already copied out."""
    old, n = pattern.old, len(base)
    context = max(pattern.prefix, pattern.suffix)
    head = fuzz + pattern.prefix - context  # context lines ignored at the start
    tail = fuzz + pattern.suffix - context  # and at the end
    if not old:
        return first_guess
    if head < 0 and first_line <= 1:
        # Less leading context than trailing at line 1: only the file's start.
        if tail < 0 and (len(old) != n or pattern.prefix < frozen):
            return None
        fits = frozen <= pattern.prefix and len(old) - max(tail, 0) <= n
        return 0 if fits and _matches(base, old, 0, 0, max(tail, 0)) else None
    head = max(head, 0)
    if tail < 0:  # less trailing context than leading: only the file's end
        pos = n - len(old)
        lowest = frozen - (pattern.prefix - head)
        return pos if pos >= max(lowest, 0) and _matches(base, old, pos, head, 0) else None
    # patch lets the unchecked part of the leading context overlap what
    # earlier hunks consumed: context lines are never rewritten.
    lowest = max(frozen - (pattern.prefix - head), 0)
    highest = n - (len(old) - tail)
    for pos in nearest_first(first_guess, lowest, highest):
        if _matches(base, old, pos, head, tail):
            return pos
    return None


def context_counts(kinds: Sequence[str]) -> tuple[int, int]:
    """Leading and trailing context lines of a hunk whose line kinds are given."""
    prefix = next((k for k, kind in enumerate(kinds) if kind != " "), len(kinds))
    suffix = next((k for k, kind in enumerate(reversed(kinds)) if kind != " "), len(kinds))
    return prefix, suffix

"""Unified-diff and mbox patch parsing (applying.py applies them).

We do not shell out to `patch` or `git apply`: both refuse truncated input,
and an important input for percpu-diff is a patch file cut off in the middle
of its last hunk.  This module applies whatever part of such a patch is
intact and reports, as PatchLoss records, exactly what was lost.

Accepted input: `diff -u` / `git diff` output, one `git format-patch` file,
or an mbox series of them (each starting with the format-patch
"From <40-hex> Mon Sep 17 00:00:00 2001" line), applied in [PATCH n/N]
order with the cover letter skipped, as git am and b4 take a series.  Paths
are stripped of their first component (-p1, the a/ and b/ prefixes).

Applying them is applying.py's: hunks placed as `git apply` or GNU patch
place them, or 3-way merged as `git apply --3way` does.

All text is handled as lists of lines that keep their own endings, so CRLF
lines and a missing final newline survive application unchanged.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.core.errors import UserError

LineKind = Literal[" ", "-", "+"]
# Builds the UserError for a bad path or quoting, worded for where it was found.
_ErrorFactory = Callable[[], UserError]
_LINE_KINDS: dict[str, LineKind] = {" ": " ", "-": "-", "+": "+"}

_HUNK_RE = re.compile(r"(@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@)(.*)")
_INDEX_RE = re.compile(r"index ([0-9a-f]{4,64})\.\.([0-9a-f]{4,64})\b")
_MBOX_FROM_RE = re.compile(r"From ([0-9a-f]{40}) Mon Sep 17 00:00:00 2001\n?")
_GIT_VERSION_RE = re.compile(r"[0-9][0-9A-Za-z.+~_-]*\n?")
_HEADER_FIELD_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*:")
_SUBJECT_TAG_RE = re.compile(r"^(?:\[[^\]]*\]\s*)+")
# "n/N" closing a tag of the subject: [PATCH 2/3], [PATCH v2 2/3], [RFC PATCH 2/3].
_SERIES_RE = re.compile(r"\b(\d+)/\d+\]")
# `git show` headers and the chatter of `diff -r` / quilt, none of them a subject.
_NOT_A_SUBJECT_RE = re.compile(
    r"commit [0-9a-f]{7,}|(?:Author|AuthorDate|Commit|CommitDate|Date|Merge): "
    r"|Only in |Index: |={5,}|Binary files "
)
_DIFF_STARTS = ("diff ", "--- ", "+++ ", "@@ ")
_REGENERATE = "regenerate the patch with 'git format-patch' or 'diff -u'"


@dataclass(frozen=True)
class PatchLoss:
    """Part of a hunk that a truncated patch promised but did not contain."""

    file: str
    hunk: int
    header: str
    old_missing: int
    new_missing: int

    def describe(self) -> str:
        where = f"{self.file} hunk {self.hunk} ({self.header})"
        if self.old_missing == self.new_missing == 0:
            # Cut just before the final newline: the hunk is whole, but
            # whatever the patch had after it is gone.
            return (
                f"{where}: input ends inside the hunk's last line, which matches the base, "
                "so the whole hunk was applied; whatever the patch had after it is lost"
            )
        old_total, new_total = _header_counts(self.header)
        old_kept = old_total - self.old_missing
        new_kept = new_total - self.new_missing
        if old_kept == new_kept == 0:
            applied = "nothing of it was applied"
        elif old_kept == new_kept:
            applied = f"the intact {old_kept} lines were applied"
        else:
            applied = f"the intact {old_kept} old and {new_kept} new lines were applied"
        return (
            f"{where}: input ends inside the hunk; {self.old_missing} of {old_total} old lines and "
            f"{self.new_missing} of {new_total} new lines missing; {applied}"
        )


@dataclass(frozen=True)
class HunkLine:
    kind: LineKind
    text: str  # the file's line with its own ending; no '\n' after "\ No newline"


@dataclass(frozen=True)
class Hunk:
    header: str  # "@@ -a,b +c,d @@" exactly as written, without the section text
    section: str  # text after the closing "@@", usually the enclosing function
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    lines: tuple[HunkLine, ...]
    # The last line of the input when it has no newline: the input may have
    # been cut inside it, so its text is trusted only if the base confirms it.
    cut_line: HunkLine | None = None

    @property
    def old_lines(self) -> list[str]:
        return [line.text for line in self.lines if line.kind != "+"]

    @property
    def new_lines(self) -> list[str]:
        return [line.text for line in self.lines if line.kind != "-"]

    @property
    def complete(self) -> bool:
        return (
            self.cut_line is None
            and len(self.old_lines) == self.old_count
            and len(self.new_lines) == self.new_count
        )


@dataclass(frozen=True)
class FileDiff:
    old_path: str | None  # None: the patch creates the file (/dev/null)
    new_path: str | None  # None: the patch deletes the file
    hunks: tuple[Hunk, ...]
    # The pre- and post-image blob ids of git's "index abc..def" line, if any.
    blobs: tuple[str, str] | None = None

    @property
    def path(self) -> str:
        path = self.new_path if self.new_path is not None else self.old_path
        assert path is not None, "a file diff names at least one real path"
        return path


@dataclass(frozen=True)
class Patch:
    name: str
    subject: str
    files: tuple[FileDiff, ...]
    commit: str | None = None  # format-patch's "From <commit>" line


    @property
    def truncated(self) -> bool:
        return any(not hunk.complete for fd in self.files for hunk in fd.hunks)


def split_lines(text: str) -> list[str]:
    """Split after each '\\n' only: '\\r', form feeds etc. are line content here."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


# --- parsing ---------------------------------------------------------------


def parse_patch_series(data: bytes, name: str) -> list[Patch]:
    """Parse a diff, a format-patch file or an mbox series.  A series'
    cover letter ([PATCH 0/N], or any message without a diff) is skipped and
    its patches are ordered by their [PATCH n/N] numbers, as b4 and git am
    take them; unnumbered patches come in file order."""
    text = _decode_patch(data, name)
    lines = split_lines(text)
    segments = _split_mbox(lines)
    found: list[tuple[int | None, Patch]] = []
    for index, (first_line, segment) in enumerate(segments):
        body, had_signature = _strip_signature(segment)
        ends_input = index == len(segments) - 1 and not had_signature
        parser = _SegmentParser(body, name, first_line, ends_input)
        files = parser.parse()
        number = _series_number(segment)
        if files and number != 0:  # a cover letter or an empty commit carries no diff
            from_line = _MBOX_FROM_RE.fullmatch(segment[0]) if segment else None
            commit = from_line.group(1) if from_line else None
            found.append((number, Patch(name, _subject(segment), files, commit)))
    if not found:
        raise UserError(
            f"{name} contains no diff: pass a unified diff (diff -u, git diff) "
            "or git format-patch output"
        )
    if len(found) == 1:
        return [found[0][1]]
    numbers = [number for number, _ in found]
    if all(number is not None for number in numbers) and len(set(numbers)) == len(numbers):
        found.sort(key=lambda entry: entry[0] or 0)
        return [dataclasses.replace(patch, name=f"{name}#{number}") for number, patch in found]
    return [dataclasses.replace(patch, name=f"{name}#{k}") for k, (_, patch) in enumerate(found, 1)]


def _series_number(lines: list[str]) -> int | None:
    """n of a "[PATCH n/N]" (or [PATCH v2 n/N], [RFC PATCH n/N]) subject; None if unnumbered."""
    subject = _raw_mail_subject(lines)
    tags = _SUBJECT_TAG_RE.match(subject or "")
    match = _SERIES_RE.search(tags.group(0)) if tags else None
    return None if match is None else int(match.group(1))


def _decode_patch(data: bytes, name: str) -> str:
    bad = [offset for offset in (data.find(b"\0"),) if offset >= 0]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        bad.append(err.start)
    if bad:
        raise UserError(
            f"{name} is not a text patch (binary data at byte {min(bad)}): "
            "pass a unified diff or git format-patch mbox"
        )
    return text.removeprefix("\ufeff")


def _split_mbox(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Split at format-patch "From <hash>" lines; returns (1-based first line, lines)."""
    starts = [i for i, line in enumerate(lines) if _MBOX_FROM_RE.fullmatch(line)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    bounds = [*starts, len(lines)]
    return [(bounds[k] + 1, lines[bounds[k] : bounds[k + 1]]) for k in range(len(starts))]


def _strip_signature(lines: list[str]) -> tuple[list[str], bool]:
    """Drop format-patch's "-- \\n2.39.5" trailer, reporting whether it was there."""
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    if end >= 2 and lines[end - 2] == "-- \n" and _GIT_VERSION_RE.fullmatch(lines[end - 1]):
        return lines[: end - 2], True
    return lines, False


def subject_of(path: Path) -> str:
    """The subject of a patch file's first message (a series' cover letter),
    as parse_patch_series reads it; "" for a plain diff or a file that
    cannot be read."""
    try:
        text = read_input(path).decode("utf-8", errors="replace")
    except OSError:
        return ""
    return _subject(_split_mbox(split_lines(text))[0][1])


STDIN = Path("-")
_stdin_data: list[bytes] = []  # standard input, once read: every reader sees it whole


def read_input(path: Path) -> bytes:
    """The bytes of a patch file, or of standard input for '-' (read once)."""
    if path != STDIN:
        return path.read_bytes()
    if not _stdin_data:
        _stdin_data.append(sys.stdin.buffer.read())
    return _stdin_data[0]


def _subject(lines: list[str]) -> str:
    """The mail Subject, else the first line of a bare commit message; "" for a plain diff."""
    mail = _mail_subject(lines)
    if mail is not None:
        return mail
    if lines and _MBOX_FROM_RE.fullmatch(lines[0]):
        return ""
    return _message_subject(lines)


def _mail_subject(lines: list[str]) -> str | None:
    """The Subject header, unfolded, [PATCH] tags removed; None if there is none."""
    subject = _raw_mail_subject(lines)
    return None if subject is None else _SUBJECT_TAG_RE.sub("", subject, count=1).strip()


def _raw_mail_subject(lines: list[str]) -> str | None:
    """The Subject header, unfolded, tags and all; None if there is none."""
    subject: list[str] | None = None
    start = 1 if lines and _MBOX_FROM_RE.fullmatch(lines[0]) else 0
    for line in lines[start:]:
        if line[:1] in (" ", "\t") and line.strip():  # a folded header continues
            if subject is not None:
                subject.append(line.strip())
            continue
        if subject is not None or not _HEADER_FIELD_RE.match(line):
            break
        if line.lower().startswith("subject:"):
            subject = [line[len("subject:") :].strip()]
    return None if subject is None else " ".join(subject)


def _message_subject(lines: list[str]) -> str:
    """First line of a commit message that precedes the diff, as `git show` prints it."""
    for line in lines:
        if line.startswith(_DIFF_STARTS):
            break
        if line.strip() and not _NOT_A_SUBJECT_RE.match(line):
            return line.strip()
    return ""


class _SegmentParser:
    """Parses the file sections of one patch (one mbox message, or a whole plain diff)."""

    def __init__(self, lines: list[str], name: str, first_line: int, ends_input: bool) -> None:
        self.lines = lines
        self.name = name
        self.first_line = first_line
        # Only the end of the whole input can cut a hunk short; anywhere
        # else a short hunk means the patch is malformed.
        self.ends_input = ends_input

    def parse(self) -> tuple[FileDiff, ...]:
        files: list[FileDiff] = []
        i = 0
        while i < len(self.lines):
            line = self.lines[i]
            fd: FileDiff | None
            if line.startswith("diff --git "):
                fd, i = self._git_section(i)
            elif line.startswith("--- ") and self._line(i + 1).startswith("+++ "):
                fd, i = self._plain_section(i)
            else:  # commit message, diffstat, "Index:" lines and other chatter
                i += 1
                continue
            if fd is not None:
                files.append(fd)
        return tuple(files)

    def _line(self, i: int) -> str:
        return self.lines[i] if i < len(self.lines) else ""

    def _at_end(self, i: int) -> bool:
        """True if line i is past the input, or is its final, newline-less line."""
        n = len(self.lines)
        return self.ends_input and (i >= n or (i == n - 1 and not self.lines[i].endswith("\n")))

    def _malformed(self, i: int, problem: str) -> UserError:
        return UserError(
            f"patch {self.name} is malformed at line {self.first_line + i}: {problem}; "
            f"{_REGENERATE}"
        )

    def _git_section(self, i: int) -> tuple[FileDiff | None, int]:
        git_names = _split_git_names(self.lines[i][len("diff --git ") :].rstrip("\r\n"))
        creates = deletes = saw_index = False
        blobs: tuple[str, str] | None = None
        i += 1
        while i < len(self.lines):
            line = self.lines[i]
            if line.startswith(("rename from ", "rename to ", "copy from ", "copy to ")):
                raise UserError(
                    f"patch {self.name} renames or copies a file ({line.strip()}), which "
                    "percpu-diff does not support: regenerate it with "
                    "'git format-patch --no-renames'"
                )
            if line.startswith(("GIT binary patch", "Binary files ")):
                raise UserError(
                    f"patch {self.name} contains a binary diff at line {self.first_line + i}, "
                    "which percpu-diff cannot apply: drop the binary change from the patch"
                )
            if line.startswith("--- "):
                fd, i = self._git_content(i)
                return (fd if fd is None else dataclasses.replace(fd, blobs=blobs)), i
            if line.startswith("new file mode "):
                creates = True
            elif line.startswith("index "):
                saw_index = True
                blobs = _index_blobs(line)
            elif line.startswith("deleted file mode "):
                deletes = True
            elif not line.startswith(
                ("old mode ", "new mode ", "similarity index ", "dissimilarity index ")
            ):
                break
            i += 1
        cut_off = self._at_end(i - 1) or (self._at_end(i) and not saw_index)
        if cut_off or git_names is None or not (creates or deletes):
            # A header the input cut off (git ends it with the index line),
            # or a mode change: no content to change.
            return None, i
        old, new = (self._path(name, i) for name in git_names)
        return FileDiff(None if creates else old, None if deletes else new, ()), i

    def _git_content(self, i: int) -> tuple[FileDiff | None, int]:
        if self._line(i + 1).startswith("+++ "):
            return self._plain_section(i)
        if self._at_end(i + 1) or self._at_end(i):
            return None, len(self.lines)  # input ends inside the file header
        raise self._malformed(i + 1, "a '--- ' line is not followed by a '+++ ' line")

    def _plain_section(self, i: int) -> tuple[FileDiff | None, int]:
        if self._at_end(i + 1):
            return None, len(self.lines)  # input ends inside the file header
        old = self._header_path(self.lines[i][4:], i)
        new = self._header_path(self.lines[i + 1][4:], i + 1)
        if old is None and new is None:
            raise self._malformed(i, "both sides of the file header are /dev/null")
        if old is not None and new is not None and old != new:
            raise UserError(
                f"patch {self.name} renames {old} to {new}, which percpu-diff does not "
                "support: regenerate it with 'git format-patch --no-renames'"
            )
        path = new if new is not None else old
        assert path is not None
        hunks, i = self._hunks(i + 2, path)
        if not hunks and self._at_end(i):
            return None, i  # input ends before the first hunk started
        return FileDiff(old, new, tuple(hunks)), i

    def _header_path(self, raw: str, i: int) -> str | None:
        raw = raw.rstrip("\r\n")
        if raw.startswith('"'):
            name = _unquote_c(raw, lambda: self._malformed(i, f"bad quoted path {raw!r}"))
        else:
            name = raw.split("\t", 1)[0]  # diff -u appends "\t<timestamp>"
        if name == "/dev/null":
            return None
        return self._path(name, i)

    def _path(self, name: str, i: int) -> str:
        return strip_path(name, self.name, lambda: self._malformed(i, f"bad path {name!r}"))

    def _hunks(self, i: int, path: str) -> tuple[list[Hunk], int]:
        hunks: list[Hunk] = []
        while self._line(i).startswith("@@ "):
            if self._at_end(i):
                break  # the header itself is cut off: the hunk never started
            hunk, i = self._hunk(i, path, len(hunks) + 1)
            hunks.append(hunk)
            if not hunk.complete:
                break
        return hunks, i

    def _hunk(self, i: int, path: str, number: int) -> tuple[Hunk, int]:
        header_line = self.lines[i].rstrip("\r\n")
        match = _HUNK_RE.fullmatch(header_line)
        if match is None:
            raise self._malformed(i, f"bad hunk header {header_line!r} in {path}")
        header, old_start, old_count, new_start, new_count, section = match.groups()
        counts = (_count(old_count), _count(new_count))
        body, cut, i = self._hunk_body(i + 1, counts, f"{path} hunk {number} ({header})")
        hunk = Hunk(
            header=header,
            section=section.strip(),
            old_start=int(old_start),
            old_count=counts[0],
            new_start=int(new_start),
            new_count=counts[1],
            lines=tuple(body),
            cut_line=cut,
        )
        return hunk, i

    def _hunk_body(
        self, i: int, counts: tuple[int, int], where: str
    ) -> tuple[list[HunkLine], HunkLine | None, int]:
        body: list[HunkLine] = []
        seen = [0, 0]  # old-side and new-side lines so far
        while seen[0] < counts[0] or seen[1] < counts[1]:
            line = self._line(i)
            if line.startswith("\\"):
                _mark_no_newline(body)
                i += 1
                continue
            entry = _body_line(line)
            if entry is None:
                if self._at_end(i):
                    return body, None, i
                raise self._malformed(
                    i,
                    f"{where} ends after {seen[0]} of {counts[0]} old and "
                    f"{seen[1]} of {counts[1]} new lines",
                )
            if (entry.kind != "+" and seen[0] == counts[0]) or (
                entry.kind != "-" and seen[1] == counts[1]
            ):
                raise self._malformed(i, f"{where} has more lines than its header counts")
            i += 1
            if not line.endswith("\n"):
                return body, entry, i  # only the input's last line lacks a newline
            body.append(entry)
            seen[0] += entry.kind != "+"
            seen[1] += entry.kind != "-"
        if self._line(i).startswith("\\"):
            _mark_no_newline(body)
            i += 1
        return body, None, i


def _index_blobs(line: str) -> tuple[str, str] | None:
    match = _INDEX_RE.match(line)
    return None if match is None else (match.group(1), match.group(2))


def _count(text: str | None) -> int:
    return 1 if text is None else int(text)


def _body_line(line: str) -> HunkLine | None:
    if line == "\n":  # mailers strip the space of an empty context line
        return HunkLine(" ", "\n")
    kind = _LINE_KINDS.get(line[:1])
    return None if kind is None else HunkLine(kind, line[1:])


def _mark_no_newline(body: list[HunkLine]) -> None:
    # "\ No newline at end of file" (any text: diff localises it) applies to
    # the line before it.
    if body:
        last = body[-1]
        body[-1] = HunkLine(last.kind, last.text.removesuffix("\n"))


def _header_counts(header: str) -> tuple[int, int]:
    match = _HUNK_RE.fullmatch(header)
    if match is None:
        raise ValueError(f"not a hunk header: {header!r}")
    return _count(match.group(3)), _count(match.group(5))


def _split_git_names(rest: str) -> tuple[str, str] | None:
    """Split "a/x b/x" of a diff --git line; None when the split is ambiguous."""
    if rest.startswith('"') or rest.endswith('"'):
        return _split_quoted_git_names(rest)
    for pos in (k for k, ch in enumerate(rest) if ch == " "):
        old, new = rest[:pos], rest[pos + 1 :]
        # Without renames both names are the same path under different prefixes.
        if old.partition("/")[2] == new.partition("/")[2] and "/" in old:
            return old, new
    return None


def _split_quoted_git_names(rest: str) -> tuple[str, str] | None:
    def fail() -> UserError:
        return UserError(f"bad quoted path in 'diff --git {rest}': {_REGENERATE}")

    if rest.startswith('"'):
        end = _closing_quote(rest)
        old, new = rest[: end + 1], rest[end + 2 :]
    else:
        start = rest.find(' "')
        if start < 0:
            return None
        old, new = rest[:start], rest[start + 1 :]
    old = _unquote_c(old, fail) if old.startswith('"') else old
    new = _unquote_c(new, fail) if new.startswith('"') else new
    return old, new


def _closing_quote(text: str) -> int:
    i = 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i
        i += 1
    return len(text)


_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _unquote_c(text: str, fail: _ErrorFactory) -> str:
    """Undo git's C-style quoting of unusual path names ("a/caf\\303\\251.c")."""
    end = _closing_quote(text)
    if end >= len(text):
        raise fail()
    out = bytearray()
    i = 1
    while i < end:
        ch = text[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
        elif text[i + 1 : i + 4].isdigit() and len(text[i + 1 : i + 4]) == 3:
            out.append(int(text[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        elif text[i + 1 : i + 2] in _C_ESCAPES:
            out.append(_C_ESCAPES[text[i + 1]])
            i += 2
        else:
            raise fail()
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise fail() from None


def strip_path(name: str, patch_name: str, fail: _ErrorFactory | None = None) -> str:
    """Strip the first component (-p1) and refuse paths that leave the tree."""
    if "\0" in name or name.startswith("/"):
        raise _escape_error(name, patch_name)
    prefix, _, rest = name.partition("/")
    if not prefix or not rest:
        if fail is not None:
            raise fail()
        raise UserError(f"patch path {name!r} in {patch_name} has no a/ prefix: {_REGENERATE}")
    if rest.startswith("/"):
        raise _escape_error(rest, patch_name)
    parts = [part for part in rest.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _escape_error(rest, patch_name)
    if not parts:
        raise UserError(f"patch path {name!r} in {patch_name} names no file: {_REGENERATE}")
    return "/".join(parts)


def _escape_error(shown: str, patch_name: str) -> UserError:
    shown = shown.replace("\0", "\\0")
    return UserError(
        f"patch path '{shown}' in {patch_name} escapes the source tree: "
        "patches must use paths inside the kernel tree"
    )

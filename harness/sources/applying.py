"""Applying parsed patches (patches.py) to file texts in memory.

What did not apply exactly as written is said: a Placement per hunk placed
at an offset or with fuzz, a note per patch, a PatchLoss per part a
truncated patch lost.  Hunks are placed as `git apply` places them (fuzz 0:
exact, at the nearest match) or, with a fuzz, as GNU patch does
(placing.py); a file whose hunks do not apply may be 3-way merged from the
pre-image blob its index line names, as `git apply --3way` does
(threeway.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from harness.core.case_kinds import shown
from harness.core.errors import UserError
from harness.sources import placing, threeway
from harness.sources.patches import FileDiff, Hunk, HunkLine, Patch, PatchLoss, split_lines

_BASE_FIX = "rebase the patch or pick the base it was made against"


def touched_paths(patches: Sequence[Patch]) -> list[str]:
    """Every path the patches create, change or delete, in first-touched order."""
    return list(dict.fromkeys(fd.path for patch in patches for fd in patch.files))


def idle_patches(patches: Sequence[Patch], built_from: Collection[str]) -> list[str]:
    """One warning line for each patch that touches none of the files the
    shim is built from (`built_from`): it changes nothing percpu-diff runs.
    When no patch of the series touches one, there is nothing to compare:
    a UserError naming the files they do touch."""
    idle = [patch for patch in patches if not any(fd.path in built_from for fd in patch.files)]
    if patches and len(idle) == len(patches):
        raise UserError(
            f"the patches touch only {_paths(touched_paths(patches))}, none of the files the "
            f"shim is built from ({', '.join(built_from)}): nothing to compare; patch "
            "mm/percpu.c or the files it builds with"
        )
    return [f"patch {_plain(patch.name)} touches only {_paths(touched_paths([patch]))}, none of "
            "the files the shim is built from: it changes nothing percpu-diff runs"
            for patch in idle]


def _plain(text: str) -> str:
    return text if text.isprintable() else shown(text)


def _paths(paths: Sequence[str], most: int = 4) -> str:
    named = ", ".join(_plain(path) for path in paths[:most])
    return named + (f" and {len(paths) - most} more" if len(paths) > most else "")

@dataclass(frozen=True)
class Placement:
    """A hunk that did not apply where it said: how far off, and with what fuzz."""

    file: str
    hunk: int
    offset: int
    fuzz: int = 0

    def describe(self) -> str:
        lines = "line" if abs(self.offset) == 1 else "lines"
        text = f"{self.file} hunk {self.hunk} applied"
        if self.offset:
            text += f" at offset {self.offset} {lines}"
        return text + (f" with fuzz {self.fuzz}" if self.fuzz else "")


# Reads a blob of the source's repository by (abbreviated) id; None if absent.
BlobReader = Callable[[str], "str | None"]


@dataclass(frozen=True)
class ApplyOptions:
    """How hunks are placed: exactly at the nearest match as `git apply`
    does (fuzz 0), or as GNU patch does with fuzz N; and whether a file
    whose hunks do not apply is 3-way merged from its pre-image blob."""

    fuzz: int = 0
    three_way: bool = False
    # The tree's object database: --3way needs it; without it no 3-way is offered.
    read_blob: BlobReader | None = None


@dataclass
class Applied:
    """What a series of patches made: the files, what truncation lost, and
    one note per patch that did not apply exactly as written."""

    files: dict[str, str | None]
    losses: list[PatchLoss] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def patch_label(patch: Patch) -> str:
    """The patch as messages name it: its file (and #n in a series) and subject."""
    name = _plain(patch.name)
    return f'{name} ("{_plain(patch.subject)}")' if patch.subject else name


def apply_patches(
    files: Mapping[str, str | None], patches: Sequence[Patch],
    options: ApplyOptions = ApplyOptions(),
) -> tuple[dict[str, str | None], list[PatchLoss]]:
    """Apply patches in order to files (None: absent); touched paths must be keys."""
    applied = apply_series(files, patches, options)
    return applied.files, applied.losses


def apply_series(files: Mapping[str, str | None], patches: Sequence[Patch],
                 options: ApplyOptions = ApplyOptions()) -> Applied:
    """apply_patches, with the notes on offsets, fuzz and 3-way merges."""
    applied = Applied(dict(files))
    for patch in patches:
        label = patch_label(patch)
        placed: list[str] = []
        for fd in patch.files:
            if fd.path not in applied.files:
                raise KeyError(f"base text for {fd.path} was not supplied")
            result = _apply_file(applied.files[fd.path], fd, label, options)
            applied.files[fd.path] = result.text
            applied.losses.extend(result.losses)
            placed += result.notes
        if placed:
            fuzz = f" (--fuzz {options.fuzz})" if options.fuzz else ""
            applied.notes.append(f"patch {label}{fuzz}: {'; '.join(placed)}")
    return applied


def apply_file_diff(
    base_text: str | None, fd: FileDiff, *, patch_name: str = "patch", fuzz: int = 0
) -> tuple[str | None, list[PatchLoss]]:
    """Apply one file's hunks to base_text (None: the file does not exist).

    Returns the new text (None if the patch deleted the file) and the losses
    of hunks the input cut short, whose intact prefix was applied.
    """
    result = _apply_file(base_text, fd, _plain(patch_name), ApplyOptions(fuzz))
    return result.text, result.losses


@dataclass(frozen=True)
class _FileResult:
    text: str | None
    losses: list[PatchLoss]
    notes: list[str]


class _HunkMiss(Exception):
    """A hunk found no place in the base."""

    def __init__(self, number: int, hunk: Hunk) -> None:
        super().__init__(number)
        self.number = number
        self.hunk = hunk


@dataclass
class _Splicer:
    """Builds the patched text hunk by hunk, as patch does: base lines up to
    each change are copied out, context lines are the base's own."""

    base: list[str]
    out: list[str] = field(default_factory=list)
    cursor: int = 0  # base lines copied out or removed
    carried: int = 0  # patch's offset, carried to later hunks

    def splice(self, pos: int, ops: Sequence[HunkLine]) -> None:
        at = pos
        for op in ops:
            if op.kind == " ":
                at += 1
                continue
            self.out.extend(self.base[self.cursor : at])
            if op.kind == "-":
                self.cursor = at = at + 1
            else:
                self.cursor = at
                self.out.append(op.text)

    def finish(self) -> list[str]:
        return [*self.out, *self.base[self.cursor :]]


def _apply_file(base_text: str | None, fd: FileDiff, label: str,
                options: ApplyOptions) -> _FileResult:
    _check_existence(base_text, fd, label)
    try:
        return _apply_hunks(base_text, fd, label, options.fuzz)
    except _HunkMiss as miss:
        merged = _three_way(base_text, fd, label, options, miss)
        return _FileResult(merged, [], [f"{fd.path} merged 3-way from blob {_blob(fd, 0)}"])


def _apply_hunks(base_text: str | None, fd: FileDiff, label: str, fuzz: int) -> _FileResult:
    splicer = _Splicer(split_lines(base_text or ""))
    losses: list[PatchLoss] = []
    notes: list[str] = []
    for number, hunk in enumerate(fd.hunks, 1):
        pos, placement = _place(splicer, fd.path, number, hunk, fuzz)
        old, new = _splice_hunk(splicer, hunk, pos)
        if placement.offset or placement.fuzz:
            notes.append(placement.describe())
        # Report every hunk the input ended in, even one whose cut-off last
        # line proved whole: the user must learn that the file was damaged.
        if not hunk.complete:
            losses.append(PatchLoss(fd.path, number, hunk.header,
                                    hunk.old_count - old, hunk.new_count - new))
    return _FileResult(_result(splicer.finish(), fd, losses, label), losses, notes)


def _place(splicer: _Splicer, path: str, number: int, hunk: Hunk,
           fuzz: int) -> tuple[int, Placement]:
    """Where the hunk goes, as git apply (fuzz 0) or GNU patch would put it."""
    # Context before the first change and after the last, '+' lines
    # included, as both git and patch count it.
    prefix, suffix = placing.context_counts([line.kind for line in hunk.lines])
    pattern = placing.Pattern(hunk.old_lines, prefix, suffix)
    base, lowest = splicer.base, splicer.cursor
    # A hunk the input cut short has lost its trailing context: it is
    # placed exactly, never with fuzz, whose rules count that context.
    if fuzz == 0 or not hunk.complete:
        # git expects the hunk at its new-side line of the text patched so far.
        expected = (hunk.new_start - 1 if hunk.new_start else 0) - len(splicer.out) + lowest
        begin, end = hunk.old_start <= 1, hunk.complete and suffix == 0
        pos = placing.git_place(base, pattern, expected, lowest, begin, end)
        if pos is None and prefix == suffix == 0:
            # git needs --unidiff-zero for hunks without context; take them anyway.
            pos = placing.git_place(base, pattern, expected, lowest, False, False)
        if pos is None:
            raise _HunkMiss(number, hunk)
        return pos, Placement(path, number, pos - expected)
    first_guess = (hunk.old_start - 1 if hunk.old_count else hunk.old_start) + splicer.carried
    for used in range(min(fuzz, max(prefix, suffix)) + 1):
        pos = placing.patch_place(base, pattern, first_guess, hunk.old_start, lowest, used)
        if pos is not None:
            splicer.carried += pos - first_guess
            return pos, Placement(path, number, splicer.carried, used)
    raise _HunkMiss(number, hunk)


def _splice_hunk(splicer: _Splicer, hunk: Hunk, pos: int) -> tuple[int, int]:
    """Apply the placed hunk; returns its old and new line counts as applied."""
    ops = list(hunk.lines)
    cut = _confirmed_cut(hunk.cut_line, splicer.base, pos + len(hunk.old_lines))
    if cut is not None:
        ops.append(cut)
    splicer.splice(pos, ops)
    return (sum(op.kind != "+" for op in ops), sum(op.kind != "-" for op in ops))


def _confirmed_cut(cut: HunkLine | None, base: list[str], index: int) -> HunkLine | None:
    """A cut-off final line, kept only when the base shows it was complete.

    A context or removed line is confirmed if it equals the base line it
    would match (less that line's ending); added lines cannot be confirmed.
    """
    if cut is None or cut.kind == "+" or index >= len(base):
        return None
    line = base[index]
    if line in (cut.text, cut.text + "\n", cut.text + "\r\n"):
        return HunkLine(cut.kind, line)
    return None


def _blob(fd: FileDiff, side: int) -> str:
    return fd.blobs[side] if fd.blobs is not None else "?"


def _three_way(base_text: str | None, fd: FileDiff, label: str, options: ApplyOptions,
               miss: _HunkMiss) -> str:
    """The file 3-way merged as `git apply --3way` does, or the refusal."""
    where = f"patch {label} does not apply: {fd.path} hunk {miss.number} ({miss.hunk.header})"
    if not options.three_way or options.read_blob is None or base_text is None:
        raise UserError(f"{where}: {_hint(base_text, fd, miss, options)}")
    pre_id = _blob(fd, 0)
    pre = options.read_blob(pre_id) if fd.blobs is not None else None
    if pre is None:
        raise UserError(f"{where}, and --3way cannot help: the patch's pre-image blob {pre_id} "
                        "is not in the tree: rebase the patch or pick the base it was made "
                        "against")
    try:
        theirs = _apply_hunks(pre, fd, label, 0).text
    except (UserError, _HunkMiss):
        raise UserError(f"{where}, and it does not apply to its own pre-image blob {pre_id} "
                        "either: regenerate the patch") from None
    merged = threeway.merge(base_text, pre, theirs or "")
    if merged is None:
        raise UserError(f"{where}, and the 3-way merge with its pre-image blob {pre_id} "
                        f"conflicts: rebase the patch onto the base and resolve the conflict")
    return merged


def _hint(base_text: str | None, fd: FileDiff, miss: _HunkMiss, options: ApplyOptions) -> str:
    """What to try when a hunk has no place: more fuzz, --3way, or nothing."""
    found, tries = [], []
    fuzz = _fuzz_that_applies(base_text, fd, options.fuzz) if miss.hunk.complete else None
    if fuzz is not None:
        found.append(f"its context matches with fuzz {fuzz}")
        tries.append(f"--fuzz {fuzz}")
    if fd.blobs is not None and options.read_blob is not None and not options.three_way \
            and options.read_blob(fd.blobs[0]) is not None:
        found.append(f"the tree has its pre-image blob {fd.blobs[0]}")
        tries.append("--3way")
    if not found:
        return f"the hunk's context is not in the base: {_BASE_FIX}"
    return f"{' and '.join(found)}: try {' or '.join(tries)}"


def _fuzz_that_applies(base_text: str | None, fd: FileDiff, tried: int) -> int | None:
    for fuzz in range(tried + 1, _MAX_HINT_FUZZ + 1):
        try:
            _apply_hunks(base_text, fd, "", fuzz)
        except (UserError, _HunkMiss):
            continue
        return fuzz
    return None


_MAX_HINT_FUZZ = 3  # patch's own default is 2; more than 3 lines ignored is not a match


def _check_existence(base_text: str | None, fd: FileDiff, patch_name: str) -> None:
    if fd.old_path is None and base_text is not None:
        raise UserError(
            f"patch {patch_name} creates {fd.path}, which already exists at the base: {_BASE_FIX}"
        )
    # A diff -N style creation names the path on both sides but only adds lines.
    pure_addition = bool(fd.hunks) and all(hunk.old_count == 0 for hunk in fd.hunks)
    if fd.old_path is not None and base_text is None and not pure_addition:
        raise UserError(
            f"patch {patch_name} changes {fd.path}, which does not exist at the base: {_BASE_FIX}"
        )


def _result(out: list[str], fd: FileDiff, losses: list[PatchLoss], patch_name: str) -> str | None:
    text = "".join(out)
    if fd.new_path is not None or losses:
        return text  # a cut-off deletion leaves the lines it did not get to
    if text:
        raise UserError(
            f"patch {patch_name} deletes {fd.path}, but the base has lines the patch does "
            f"not remove: {_BASE_FIX}"
        )
    return None

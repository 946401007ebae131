"""Output files written whole or not at all, and output paths checked
before any work starts.

A report found unwritable after a long run is a run lost, and a file
half-written by a killed run is worse than none: every file a run writes
goes through write_atomic, and every path it was asked to write is
checked up front by check_writable.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from harness.core.errors import UserError


def write_atomic(path: Path, text: str | bytes) -> None:
    """`text` (UTF-8, or bytes as they are) into `path` by a temporary file
    beside it and a rename: a reader sees the old file or the new one, and a
    failure leaves neither a half-written file nor the temporary behind."""
    if isinstance(text, bytes):
        _write_atomic(path, lambda sink: sink.write(text), binary=True)
    else:
        write_atomic_with(path, lambda sink: sink.write(text))


def write_atomic_with(path: Path, write: Callable[[TextIO], object]) -> None:
    """What `write` writes into its sink, into `path` as write_atomic does:
    for a report written a piece at a time, never whole in memory."""
    _write_atomic(path, write, binary=False)


def _write_atomic(path: Path, write: Callable[[Any], object], binary: bool) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise UserError(f"cannot write {path} ({err.strerror}): pick a writable place") from None
    try:
        with (os.fdopen(fd, "wb") if binary else
              os.fdopen(fd, "w", encoding="utf-8")) as sink:
            write(sink)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise UserError(f"cannot write {path} ({err.strerror}): "
                            "pick a writable place with room") from None
        raise


def check_writable(path: Path, option: str) -> None:
    """That `path` can be written by write_atomic: not a directory, in a
    directory that exists and takes new files."""
    if path.is_dir():
        raise UserError(f"{option} {path} is a directory: name a file")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise UserError(f"{option} {path}: {parent} {what}: create it or pick another path")
    _try_writing_in(parent, option, path)


def check_directory(path: Path, option: str) -> None:
    """That `path` is, or can be made, a directory to write in."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is a file, not a directory: pick another path")
    nearest = path
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir():
        raise UserError(f"{option} {path}: {nearest} is a file, not a directory: "
                        "pick another path")
    _try_writing_in(nearest, option, path)


def _try_writing_in(directory: Path, option: str, path: Path) -> None:
    # Tried for real: permissions alone do not show a read-only file
    # system, and root passes every permission check.
    try:
        with tempfile.NamedTemporaryFile(prefix=".percpu-diff-probe-", dir=directory):
            pass
    except OSError as err:
        raise UserError(f"{option} {path}: cannot write in {directory} ({err.strerror}): "
                        "pick a writable place") from None

"""Scratch directories: made with their owner written inside, and those
left behind by an owner that is gone removed at start-up.

SIGKILL skips every cleanup (finally blocks, atexit), so each scratch
directory holds a marker naming the process that made it: its pid, the
pid's start time (a pid is reused; the pair is not) and the host (a
shared /tmp is seen by other machines' processes too).  clean_stale()
removes a directory only when the marker is ours to read and its owner
is dead: a directory without a valid marker, of another user, made on
another host or whose owner still runs is never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from harness.core.errors import UserError

PREFIX = "percpu-diff-"
MARKER = ".percpu-diff-owner"


def make(kind: str) -> Path:
    """A new directory /tmp/percpu-diff-<kind>-XXXX (under $TMPDIR), owned by this process."""
    try:
        path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-"))
    except OSError as err:
        raise UserError(f"cannot create a scratch directory in {tempfile.gettempdir()} "
                        f"({err.strerror}): set TMPDIR to a writable directory") from None
    try:
        (path / MARKER).write_text(json.dumps(_owner(os.getpid())))
    except OSError as err:
        shutil.rmtree(path, ignore_errors=True)
        raise UserError(f"cannot write in the scratch directory {path} ({err.strerror}): "
                        "free some space or set TMPDIR to a writable directory") from None
    return path


@contextlib.contextmanager
def directory(kind: str) -> Iterator[Path]:
    """make(kind), removed when the block ends."""
    path = make(kind)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def clean_stale() -> list[Path]:
    """Remove the scratch directories whose owner is gone; those removed."""
    removed: list[Path] = []
    try:
        entries = list(Path(tempfile.gettempdir()).glob(f"{PREFIX}*"))
    except OSError:
        return removed
    for entry in entries:
        try:
            if entry.is_symlink() or not entry.is_dir() or entry.stat().st_uid != os.getuid():
                continue
            owner = json.loads((entry / MARKER).read_text())
        except (OSError, ValueError):
            continue  # not ours, or its owner is still writing the marker
        if isinstance(owner, dict) and not _alive(owner):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _owner(pid: int) -> dict[str, object]:
    return {"pid": pid, "start": _start_time(pid), "host": socket.gethostname()}


def _alive(owner: dict[str, object]) -> bool:
    pid = owner.get("pid")
    if owner.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return True  # not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone's process has the pid: compare start times below
    if _state(pid) == "Z":
        return False  # killed, not yet reaped: it runs no more code
    started = owner.get("start")
    return started is None or started == _start_time(pid)


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold blanks)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text[text.rfind(")") + 2:].split()


def _state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def _start_time(pid: int) -> int | None:
    # Field 22 of /proc/<pid>/stat, the 20th after the command name:
    # clock ticks after boot, fixed for the process's life.
    fields = _stat_fields(pid)
    return int(fields[19]) if len(fields) > 19 else None

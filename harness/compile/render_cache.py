"""Renderings kept between commands, keyed by what they are made from.

Detecting, extracting and rendering a source takes a quarter of a second
or more, and every `show`, `agree` and `run` renders each of its sources
again: the rendering is a pure function of the source's files, the
arguments and this harness's own code, so it is kept on disk under a
digest of those and read back in a millisecond.  Like the shims, a kept
rendering is checked against the sha256 recorded with it on every use: a
damaged file is rendered again, never trusted.  A cache that cannot be
written (read-only, full) only costs the time.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TypeVar

from harness.core import files
from harness.core.errors import UserError
from harness.core.paths import cache_root

T = TypeVar("T")

_FORMAT = b"percpu-diff rendering 1\n"
_DIGEST_BYTES = 32


@cache
def _code_digest() -> str:
    """This harness's code and templates: a change to either renders anew."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]  # harness/
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".j2", ".c", ".h") and path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def key(*parts: str) -> str:
    digest = hashlib.sha256(_code_digest().encode())
    for part in parts:
        digest.update(b"\0" + part.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:24]


def kept(name: str, kind: type[T], make: Callable[[], T], root: Path | None = None) -> T:
    """The value kept under `name` when it is whole and a `kind`; else
    make() it and keep it."""
    path = (root or cache_root()) / "renders" / f"{name}.pickle"
    value = _load(path, kind)
    if value is not None:
        return value
    value = make()
    _store(path, value)
    return value


def _load(path: Path, kind: type[T]) -> T | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head, payload = data[:len(_FORMAT) + _DIGEST_BYTES], data[len(_FORMAT) + _DIGEST_BYTES:]
    if head != _FORMAT + hashlib.sha256(payload).digest():
        return None
    try:
        # Our own file, checked against its digest: what pickle.loads runs
        # was written by this code into the user's own cache.
        value = pickle.loads(payload)
    except Exception:  # any unreadable pickle is a miss
        return None
    return value if isinstance(value, kind) else None


def _store(path: Path, value: object) -> None:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_atomic(path, _FORMAT + hashlib.sha256(payload).digest() + payload)
    except (OSError, UserError):
        pass  # a cache that cannot be written costs time, nothing else

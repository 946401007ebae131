"""The probe's initramfs: a static /init (probe_init.c) and its requests.

The probe is built once per compiler and source (cached like the shims)
and packed, with the requests the boot is to answer, into a newc cpio
archive, the format the kernel unpacks an initrd from.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.core.errors import UserError
from harness.core.paths import cache_root

_SOURCE = Path(__file__).resolve().parent / "probe_init.c"
_BUILD_TIMEOUT_S = 120
_DIR, _FILE, _CHAR = 0o040755, 0o100755, 0o020600


def probe_binary() -> Path:
    """The static probe, built if this compiler and source have not built it yet."""
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        raise UserError(f"the boot probe needs a C compiler ({cc} not found): apt-get install gcc")
    source = _SOURCE.read_bytes()
    digest = hashlib.sha256(source + cc.encode()).hexdigest()[:20]
    target = cache_root() / "probe" / digest / "init"
    if target.is_file() and target.stat().st_size > 0:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        built = Path(work) / "init"
        try:
            result = subprocess.run([cc, "-static", "-O2", "-o", str(built), str(_SOURCE)],
                                    capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S,
                                    check=False)
        except subprocess.TimeoutExpired:
            raise UserError(f"building the boot probe took over {_BUILD_TIMEOUT_S} s: "
                            "try again on a less busy machine") from None
        if result.returncode != 0:
            first = next((ln for ln in result.stderr.splitlines() if "error" in ln),
                         result.stderr.strip()[:200])
            raise UserError(f"cannot build the static boot probe ({first}): install "
                            "libc6-dev (static libc), or set CC")
        built.replace(target)  # atomic: a reader sees a whole binary or none
    return target


def initramfs(requests: list[str], into: Path) -> Path:
    """A cpio holding /init (the probe), /requests and what /init needs."""
    entries: list[tuple[str, int, bytes, tuple[int, int]]] = [
        ("dev", _DIR, b"", (0, 0)), ("dev/console", _CHAR, b"", (5, 1)),
        ("proc", _DIR, b"", (0, 0)), ("sys", _DIR, b"", (0, 0)),
        ("init", _FILE, probe_binary().read_bytes(), (0, 0)),
        ("requests", 0o100644, ("\n".join(requests) + "\n").encode(), (0, 0))]
    data = b"".join(_entry(i + 1, *entry) for i, entry in enumerate(entries))
    data += _entry(len(entries) + 1, "TRAILER!!!", 0, b"", (0, 0))
    into.write_bytes(data)
    return into


def _entry(ino: int, name: str, mode: int, data: bytes, rdev: tuple[int, int]) -> bytes:
    major, minor = rdev
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(name) + 1, 0)
    header = b"070701" + b"".join(b"%08x" % value for value in fields)
    out = header + name.encode() + b"\0"
    out += b"\0" * (-len(out) % 4) + data
    return out + b"\0" * (-len(out) % 4)

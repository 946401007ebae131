"""Debian's own kernel images, the oracle's real kernels, fetched with apt.

The kernel source debian:6.1=6.1.192-3 was built into the image package of
the same Debian version (linux-image-6.1.0-57-amd64 6.1.192-3: one source
package, linux, makes both).  `image_for` finds that package in apt's lists,
downloads it, checks the .deb against apt's SHA256 and keeps two things:
the vmlinux ELF unpacked from the bzImage's payload (QEMU boots it through
its PVH entry in a fraction of the bzImage's time) and the build's config.
The cache is verified like the sources' (debian.py): every use re-hashes
what it kept, and a damaged copy is fetched again.
"""

from __future__ import annotations

import contextlib
import json
import lzma
import re
import shutil
import subprocess
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import UserError
from harness.core.paths import cache_root
from harness.sources.debian import (
    DebianSpec,
    Progress,
    _Apt,
    _discard,
    _file_sha256,
    _make_work_dir,
)

__all__ = ["KernelImage", "image_for"]

_ARCH_FLAVOUR = "amd64"
_MANIFEST = "manifest.json"
# The bzImage setup header (Documentation/arch/x86/boot.rst): the payload's
# place is given relative to the protected-mode code, which starts after
# the setup sectors.
_SETUP_SECTS = 0x1F1
_PAYLOAD_OFFSET = 0x248
_MAGICS = {b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd", b"\x1f\x8b": "gzip"}


@dataclass(frozen=True)
class KernelImage:
    package: str
    version: str
    vmlinux: Path  # the ELF QEMU boots (PVH entry)
    config: dict[str, str]  # CONFIG_X -> value, "n" for "is not set"

    def option(self, name: str) -> str:
        return self.config.get(name, "n")


def image_for(spec: DebianSpec, progress: Progress | None = None,
              cache: Path | None = None) -> KernelImage:
    """The image Debian built from the same version as spec's source."""
    say = progress or (lambda _message: None)
    cache = cache or cache_root() / "images"
    apt = _Apt(spec)
    version = spec.version or apt.candidate(spec)
    for found in cache.glob(f"linux-image-*_{version}") if cache.is_dir() else ():
        image = _load(found)
        if image is not None:
            say(f"using cached {image.package} {version}")
            return image
    package = _image_package(apt, spec.series, version)
    sha256 = _deb_sha256(apt, package, version)
    apt.check_tools("apt-get", "dpkg-deb")
    return _fetch(apt, package, version, sha256, cache, say)


def _image_package(apt: _Apt, series: str, version: str) -> str:
    pattern = rf"^linux-image-{re.escape(series)}[.-].*-{_ARCH_FLAVOUR}$"
    names = apt.cache_query("search", "--names-only", pattern).split()
    names = [n for n in names if re.fullmatch(pattern[1:-1], n)]
    if names:
        for line in apt.cache_query("madison", *names).splitlines():
            fields = [part.strip() for part in line.split("|")]
            if len(fields) == 3 and fields[1] == version and fields[0] in names:
                return fields[0]
    raise UserError(
        f"apt knows no linux-image-*-{_ARCH_FLAVOUR} package of version {version} (the image "
        f"built with debian:{series}={version}): run 'apt-get update', or pin a version "
        f"'apt-cache madison linux-image-{series}-{_ARCH_FLAVOUR}' lists"
    )


def _deb_sha256(apt: _Apt, package: str, version: str) -> str:
    result = apt.run("apt-cache", "show", "--no-all-versions", f"{package}={version}")
    match = re.search(r"^SHA256: ([0-9a-f]{64})$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or match is None:
        raise UserError(f"apt's lists give no SHA256 for {package} {version}: run "
                        "'apt-get update', then try again")
    return match.group(1)


def _load(root: Path) -> KernelImage | None:
    """A cached image, re-hashed; None when absent or damaged (then removed)."""
    try:
        manifest = json.loads((root / _MANIFEST).read_text())
        files = manifest["files"]
        if any(_file_sha256(root / name) != digest for name, digest in files.items()):
            raise ValueError("changed")
        config = _parse_config((root / "config").read_text())
        return KernelImage(manifest["package"], manifest["version"], root / "vmlinux", config)
    except (OSError, ValueError, KeyError, TypeError):
        _discard(root.parent, root)
        return None


def _fetch(apt: _Apt, package: str, version: str, sha256: str, cache: Path,
           say: Progress) -> KernelImage:
    work = _make_work_dir(cache, f".tmp-{package}_{version}-")
    try:
        say(f"downloading {package} {version}")
        deb = apt.download(package, version, work / "download")
        if _file_sha256(deb) != sha256:
            raise UserError(f"the downloaded {package} {version} does not have apt's SHA256: "
                            "run 'apt-get update' and try again")
        tree = work / "image"
        tree.mkdir()
        bzimage, config = _unpack_deb(deb)
        (tree / "vmlinux").write_bytes(_vmlinux_of(bzimage, package))
        (tree / "config").write_bytes(config)
        manifest = {"package": package, "version": version, "deb_sha256": sha256,
                    "files": {name: _file_sha256(tree / name) for name in ("vmlinux", "config")}}
        (tree / _MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        final = cache / f"{package}_{version}"
        # A failed rename means another process installed it first: use its copy.
        with contextlib.suppress(OSError):
            tree.rename(final)
        image = _load(final)
        if image is None:
            raise UserError(f"{final} changed while it was being written: set "
                            "PERCPU_DIFF_CACHE to a private directory")
        return image
    except OSError as err:
        raise UserError(f"cannot keep {package} in {cache} ({err.strerror or err}): free some "
                        "space or set PERCPU_DIFF_CACHE to a writable directory") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _unpack_deb(deb: Path) -> tuple[bytes, bytes]:
    """The package's /boot/vmlinuz-* and /boot/config-*, streamed out of the .deb."""
    stream = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    found: dict[str, bytes] = {}
    assert stream.stdout is not None
    with stream, tarfile.open(fileobj=stream.stdout, mode="r|") as tar:
        for member in tar:
            kind = re.fullmatch(r"(?:\./)?boot/(vmlinuz|config)-[^/]+", member.name)
            reader = tar.extractfile(member) if kind and member.isfile() else None
            if kind and reader is not None:
                found[kind.group(1)] = reader.read()
    if set(found) != {"vmlinuz", "config"}:
        raise UserError(f"{deb.name} holds no /boot/vmlinuz-* and /boot/config-*: it is not a "
                        "kernel image package; pin another version")
    return found["vmlinuz"], found["config"]


def _vmlinux_of(bzimage: bytes, package: str) -> bytes:
    """The ELF inside a bzImage: its compressed payload, decompressed."""
    start = (bzimage[_SETUP_SECTS] + 1) * 512
    offset = int.from_bytes(bzimage[_PAYLOAD_OFFSET:_PAYLOAD_OFFSET + 4], "little")
    length = int.from_bytes(bzimage[_PAYLOAD_OFFSET + 4:_PAYLOAD_OFFSET + 8], "little")
    payload = bzimage[start + offset:start + offset + length]
    kind = next((k for magic, k in _MAGICS.items() if payload.startswith(magic)), None)
    try:
        if kind == "xz":
            elf = lzma.LZMADecompressor().decompress(payload)
        elif kind == "gzip":
            elf = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
        elif kind == "zstd":
            elf = _unzstd(payload)
        else:
            elf = b""
    except (lzma.LZMAError, zlib.error):
        elf = b""
    if not elf.startswith(b"\x7fELF"):
        raise UserError(f"cannot unpack the kernel of {package} (payload {kind or 'unknown'}): "
                        "install xz-utils and zstd, or pin another version")
    return elf


def _unzstd(payload: bytes) -> bytes:
    # The kernel appends the decompressed size after the frame; zstd reads
    # the frame and reports the 4 bytes as trailing garbage.
    if shutil.which("zstd") is None:
        raise UserError("unpacking this kernel needs zstd: apt-get install zstd")
    result = subprocess.run(["zstd", "-dcq"], input=payload[:-4], capture_output=True,
                            timeout=120, check=False)
    return result.stdout


def _parse_config(text: str) -> dict[str, str]:
    config: dict[str, str] = {}
    for line in text.splitlines():
        unset = re.fullmatch(r"# (CONFIG_\w+) is not set", line)
        if unset:
            config[unset.group(1)] = "n"
        elif line.startswith("CONFIG_") and "=" in line:
            name, value = line.split("=", 1)
            config[name] = value.strip('"')
    return config


def section_size(vmlinux: Path, wanted: str) -> int | None:
    """The size of one section of a 64-bit little-endian ELF, from its headers."""
    with vmlinux.open("rb") as elf:
        header = elf.read(64)
        if header[:5] != b"\x7fELF\x02":
            return None
        shoff = int.from_bytes(header[0x28:0x30], "little")
        entsize, count, names_index = (int.from_bytes(header[i:i + 2], "little")
                                       for i in (0x3A, 0x3C, 0x3E))
        elf.seek(shoff)
        table = elf.read(entsize * count)
        sections = [table[i * entsize:(i + 1) * entsize] for i in range(count)]
        if names_index >= count:
            return None
        names = sections[names_index]
        elf.seek(int.from_bytes(names[0x18:0x20], "little"))
        strings = elf.read(int.from_bytes(names[0x20:0x28], "little"))
    for section in sections:
        start = int.from_bytes(section[0:4], "little")
        if strings[start:strings.find(b"\0", start)] == wanted.encode():
            return int.from_bytes(section[0x20:0x28], "little")
    return None

"""Kernel sources from Debian's linux-source-X.Y packages, fetched with apt.

A source named debian:6.1 is the kernel tree in apt's newest (candidate)
linux-source-6.1; debian:6.1=6.1.170-3 pins one Debian version.  Only the
files percpu-diff reads are kept, so a package version costs about a
megabyte of disk once it has been fetched.

Design:

* apt does the trusted part.  Versions, sizes and the .deb's SHA256 come
  from apt's (signature-checked) package lists, `apt-get download` fetches
  the .deb, and the .deb's hash is checked against apt's before a byte of
  it is unpacked.  We never name a mirror or parse sources.list, so the
  user's apt configuration (proxies, mirrors, APT_CONFIG) is what is used.
* Nothing large stays on disk.  The .deb (~140 MB) holds a data tarball
  holding usr/src/linux-source-X.Y.tar.xz (~1.3 GB unpacked).  dpkg-deb
  streams the data tarball, tarfile walks it, and the inner tarball is
  decompressed as a stream (by `xz -T0` when it is on PATH: it uses every
  core and is about twice as fast as Python's lzma on two cores) and walked
  member by member, keeping only the requested paths.  The walk stops as
  soon as every requested path has been seen.  A path is recorded as one
  the package does not have only after a clean read to the very end (xz's
  and dpkg-deb's exit status, or Python's decompressor reaching the end
  marker): a cut-off stream otherwise looks like a tar that simply ends.
  Member names are only compared with the requested paths, never used to
  build a file name.
* The cache is verified, not trusted.  Each version lives in
  CACHE/<package>_<version>/ with a manifest.json recording the .deb's
  hash, each kept file's sha256 and which requested paths the package does
  not have.  Every use re-hashes the files, so a cache edited by hand or
  damaged on disk is noticed, discarded and fetched again.
* Writes are atomic.  A version is assembled in a temporary directory
  inside the cache and renamed into place, so a reader sees a complete
  version or none; on any error or Ctrl-C the temporary directory (the .deb
  included) is removed.  Two processes fetching the same version both
  succeed: the loser of the rename uses the winner's copy.
* A pinned version that is cached needs no apt at all, so a cache can be
  copied to a machine without apt (or without network) and used there.
  An unpinned one asks apt for its candidate each time (about half a
  second), so debian:6.1 follows `apt-get update`.
* Asking a cached version for a path it has not recorded fetches the
  package again, keeping the paths already recorded, so the cache only
  grows.  Versions are never removed; each costs about a megabyte.

apt is run with LC_ALL=C so that its messages can be parsed; every failure
is a one-line UserError saying what to do.
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import gzip
import hashlib
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from harness.core.errors import UserError
from harness.core.paths import cache_root

__all__ = ["DebianSource", "DebianSpec", "fetch", "parse_debian_arg"]

Progress = Callable[[str], None]

_SERIES = re.compile(r"\d+\.\d+")
# Debian policy's version alphabet; it also keeps a version safe to use as
# a directory name and as an apt argument (no '/', no leading '-').
_VERSION = re.compile(r"\d[A-Za-z0-9.+~:-]*")
_SYNTAX = "write debian:X.Y or debian:X.Y=VERSION, e.g. debian:6.1"
_MANIFEST = "manifest.json"
# The kernel source tarball inside the package's data tarball.
_INNER_TARBALL = re.compile(r"(\./)?usr/src/linux-source-[^/]+\.tar(\.[A-Za-z0-9]+)?")
_KNOWN_SHOWN = 5  # versions listed when a pinned one is unknown
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DebianSpec:
    series: str  # kernel series, "6.1"
    version: str | None  # pinned Debian version, or None for apt's candidate

    def __post_init__(self) -> None:
        # Users' text is checked by parse_debian_arg; this guards code that
        # builds a spec itself, since the version ends up in a path.
        if not _SERIES.fullmatch(self.series):
            raise ValueError(f"Debian kernel series {self.series!r} is not X.Y")
        if self.version is not None and not _VERSION.fullmatch(self.version):
            raise ValueError(f"Debian version {self.version!r} is malformed")

    @property
    def package(self) -> str:
        return f"linux-source-{self.series}"


@dataclass(frozen=True)
class DebianSource:
    package: str
    version: str
    deb_sha256: str
    root: Path  # cache directory holding the kept files, laid out as in the kernel tree
    files: dict[str, str]  # path -> text, for every requested path the package has


def parse_debian_arg(text: str) -> DebianSpec:
    """Parse what follows "debian:" in a source name: SERIES or SERIES=VERSION."""
    name = f"debian:{text}"
    series, equals, version = text.partition("=")
    if not series:
        raise UserError(f"source '{name}' names no kernel series: {_SYNTAX}")
    if not _SERIES.fullmatch(series):
        raise UserError(
            f"source '{name}': '{series}' is not a kernel series like 6.1 or 6.12: {_SYNTAX}"
        )
    if not equals:
        return DebianSpec(series, None)
    if not version:
        raise UserError(
            f"source '{name}' names no version after '=': write debian:{series} for apt's "
            f"newest, or debian:{series}=VERSION as 'apt-cache policy linux-source-{series}' "
            "lists it"
        )
    if not _VERSION.fullmatch(version):
        raise UserError(
            f"source '{name}': '{version}' is not a Debian version: write debian:{series}="
            f"VERSION with a version 'apt-cache policy linux-source-{series}' lists"
        )
    return DebianSpec(series, version)


def listed_versions(series: str) -> list[str]:
    """Every version of linux-source-<series> apt's lists hold, newest first
    (what the Debian sweep pins, one source per version)."""
    spec = DebianSpec(series, None)
    return _Apt(spec).known_versions(spec.package)


def fetch(
    spec: DebianSpec,
    paths: Sequence[str],
    cache: Path | None = None,
    progress: Progress | None = None,
) -> DebianSource:
    """The requested paths of spec's package, from the cache or downloaded into it."""
    wanted = _wanted_paths(paths)
    if cache is None:
        cache = cache_root() / "debian"
    say = progress or (lambda _message: None)
    package = spec.package

    # A pinned version needs apt only if it is not cached.
    cached = None if spec.version is None else _Cached.load(cache, package, spec.version)
    if cached is not None and cached.covers(wanted):
        say(f"using cached {package} {cached.version}")
        return cached.source(wanted)

    apt = _Apt(spec)
    version = spec.version or apt.candidate(spec)
    if cached is None:
        cached = _Cached.load(cache, package, version)
        if cached is not None and cached.covers(wanted):
            say(f"using cached {package} {version}")
            return cached.source(wanted)
    keep: tuple[str, ...] = ()
    if cached is not None:
        note = f"cached {package} {version} {cached.problem(wanted)}; fetching it again"
        if progress is not None:
            progress(note)
        elif cached.damage is not None:
            print(f"note: {note}", file=sys.stderr)
        # Keep what the cache held, so asking for new paths never loses old ones.
        keep = cached.recorded

    deb_sha256, size = apt.deb_facts(spec, version)
    apt.check_tools("apt-get", "dpkg-deb")
    return _fetch_into_cache(apt, spec, version, deb_sha256, size, wanted, keep, cache, say)


def _wanted_paths(paths: Sequence[str]) -> list[str]:
    # Requested paths come from code, not users: a bad one is a harness bug.
    for path in paths:
        if not _plain(path):
            raise ValueError(f"requested path {path!r} is not a plain path inside the tree")
    return list(dict.fromkeys(paths))


def _plain(path: str) -> bool:
    """A relative path that stays inside the tree and is not the manifest."""
    parts = path.split("/")
    return not (
        path.startswith("/")
        or {"", ".", ".."} & set(parts)
        or any(ch in path for ch in "\n\0")
        or path == _MANIFEST
    )


# --- the cache ----------------------------------------------------------------


def _version_dir(cache: Path, package: str, version: str) -> Path:
    return cache / f"{package}_{version}"


@dataclass(frozen=True)
class _Cached:
    """One cached package version, with the result of re-hashing it."""

    root: Path
    package: str
    version: str
    deb_sha256: str
    files: dict[str, bytes]  # every file the manifest records, read back and verified
    absent: frozenset[str]
    damage: str | None  # why the copy cannot be trusted, or None
    recorded: tuple[str, ...] = ()  # paths the manifest covers, even if damaged

    @classmethod
    def load(cls, cache: Path, package: str, version: str) -> _Cached | None:
        """The cached version, verified; None if it is not cached at all."""
        root = _version_dir(cache, package, version)
        try:
            raw = (root / _MANIFEST).read_bytes()
        except FileNotFoundError:
            if root.is_dir():
                return cls._damaged(root, package, version, "has no manifest")
            return None
        except OSError as err:
            if err.errno == errno.ENOTDIR:  # the cache path is a file: nothing cached
                return None
            return cls._damaged(root, package, version, f"cannot be read ({err.strerror})")
        try:
            manifest = json.loads(raw)
            recorded = manifest["files"]
            absent = manifest["absent"]
            deb_sha256 = manifest["deb_sha256"]
            ok = (
                manifest["package"] == package
                and manifest["version"] == version
                and isinstance(deb_sha256, str)
                and isinstance(recorded, dict)
                and all(isinstance(h, str) for h in recorded.values())
                and isinstance(absent, list)
                # A path leaving the tree could not have been written by us.
                and all(isinstance(p, str) and _plain(p) for p in [*recorded, *absent])
            )
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            return cls._damaged(root, package, version, "has a malformed manifest")
        known = (*recorded, *absent)
        files: dict[str, bytes] = {}
        for path, digest in sorted(recorded.items()):
            try:
                data = (root / path).read_bytes()
            except OSError:
                return cls._damaged(root, package, version, f"lacks {path}", known)
            if _sha256(data) != digest:
                return cls._damaged(root, package, version, f"has a changed {path}", known)
            files[path] = data
        return cls(root, package, version, deb_sha256, files, frozenset(absent), None, known)

    @classmethod
    def _damaged(
        cls, root: Path, package: str, version: str, damage: str, known: tuple[str, ...] = ()
    ) -> _Cached:
        return cls(root, package, version, "", {}, frozenset(), damage, known)

    def covers(self, wanted: Sequence[str]) -> bool:
        return self.damage is None and not self._uncovered(wanted)

    def _uncovered(self, wanted: Sequence[str]) -> list[str]:
        return [p for p in wanted if p not in self.files and p not in self.absent]

    def problem(self, wanted: Sequence[str]) -> str:
        if self.damage is not None:
            return f"is damaged ({self.damage})"
        missing = self._uncovered(wanted)
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        return f"lacks {missing[0]}{more}"

    def source(self, wanted: Sequence[str]) -> DebianSource:
        return DebianSource(
            package=self.package,
            version=self.version,
            deb_sha256=self.deb_sha256,
            root=self.root,
            files={p: _decode(self.files[p]) for p in wanted if p in self.files},
        )


def _fetch_into_cache(
    apt: _Apt,
    spec: DebianSpec,
    version: str,
    deb_sha256: str,
    size: int,
    wanted: list[str],
    keep: Sequence[str],
    cache: Path,
    say: Progress,
) -> DebianSource:
    """Download, check and unpack wanted and keep; return wanted."""
    package = spec.package
    extract = list(dict.fromkeys([*wanted, *keep]))
    work = _make_work_dir(cache, f".tmp-{package}_{version}-")
    try:
        say(f"downloading {package} {version} ({size / 1e6:.0f} MB)")
        deb = apt.download(package, version, work / "download")
        actual = _file_sha256(deb)
        if actual != deb_sha256:
            raise UserError(
                f"the downloaded {package} {version} has sha256 {actual[:16]}..., not apt's "
                f"{deb_sha256[:16]}...: run 'apt-get update' and try again (a proxy or mirror "
                "may be serving a stale file)"
            )
        tree = work / "tree"
        say(f"extracting {len(extract)} files")
        found = _extract(apt, deb, tree, extract, work / "errors", cache)
        manifest = {
            "package": package,
            "version": version,
            "deb_sha256": deb_sha256,
            "files": {path: _sha256(data) for path, data in sorted(found.items())},
            "absent": [path for path in extract if path not in found],
        }
        _write(tree / _MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode(), cache)
        return _install(tree, cache, package, version, wanted)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _install(
    tree: Path, cache: Path, package: str, version: str, wanted: list[str]
) -> DebianSource:
    """Rename the assembled tree into place; if another process got there first, use its."""
    final = _version_dir(cache, package, version)
    for _attempt in range(3):
        try:
            tree.rename(final)
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise _cache_error(cache, err) from None
        else:
            cached = _Cached.load(cache, package, version)
            if cached is None or not cached.covers(wanted):
                raise UserError(
                    f"{final} changed while it was being written: check that nothing else "
                    "writes to the cache, or set PERCPU_DIFF_CACHE to a private directory"
                )
            return cached.source(wanted)
        cached = _Cached.load(cache, package, version)
        if cached is not None and cached.covers(wanted):
            return cached.source(wanted)  # another process fetched it meanwhile
        _discard(cache, final)
    raise UserError(
        f"cannot put {package} {version} into {cache}: another process keeps replacing it; "
        "set PERCPU_DIFF_CACHE to a private directory"
    )


def _discard(cache: Path, root: Path) -> None:
    # Renamed out of the way first, so no reader ever sees it half deleted.
    trash = _make_work_dir(cache, ".trash-")
    try:
        with contextlib.suppress(FileNotFoundError):
            root.rename(trash / "old")
    except OSError as err:
        raise _cache_error(cache, err) from None
    finally:
        shutil.rmtree(trash, ignore_errors=True)


def _make_work_dir(cache: Path, prefix: str) -> Path:
    try:
        cache.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=cache))
    except OSError as err:
        raise _cache_error(cache, err) from None


def _write(target: Path, data: bytes, cache: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    except OSError as err:
        raise _cache_error(cache, err) from None


def _cache_error(cache: Path, err: OSError) -> UserError:
    return UserError(
        f"cannot write to the cache {cache} ({err.strerror or err}): free some space or make "
        "it writable, or set PERCPU_DIFF_CACHE to a writable directory"
    )


# --- apt ------------------------------------------------------------------------


class _Apt:
    """apt-cache, apt-get and dpkg-deb, run with a parseable locale."""

    def __init__(self, spec: DebianSpec) -> None:
        self.spec = spec
        env = dict(os.environ)
        env.pop("LANGUAGE", None)
        env["LC_ALL"] = "C"
        self.env = env
        self.check_tools("apt-cache")

    def check_tools(self, *tools: str) -> None:
        for tool in tools:
            if shutil.which(tool, path=self.env.get("PATH", os.defpath)) is None:
                raise self.missing(tool)

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                args,
                cwd=cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                check=False,
            )
        except FileNotFoundError:
            raise self.missing(args[0]) from None

    def missing(self, tool: str) -> UserError:
        name = f"debian:{self.spec.series}" + (f"={self.spec.version}" if self.spec.version else "")
        return UserError(
            f"{name} needs Debian's apt ({tool} not found): run percpu-diff on Debian or "
            "Ubuntu, or name a kernel tree with tree:PATH@REV"
        )

    def cache_query(self, *args: str) -> str:
        result = self.run("apt-cache", *args)
        if result.returncode != 0:
            raise UserError(
                f"apt-cache {args[0]} failed ({_apt_error(result)}): run 'apt-get update' "
                "(as root), then try again"
            )
        return result.stdout

    def candidate(self, spec: DebianSpec) -> str:
        """The version apt would install of spec's package."""
        out = self.cache_query("policy", spec.package)
        match = re.search(r"^\s*Candidate:\s*(\S+)", out, re.MULTILINE)
        if match is None:
            raise self.unknown_package(spec)
        version = match.group(1)
        if version == "(none)" or not _VERSION.fullmatch(version):
            raise UserError(
                f"apt has no installable version of {spec.package}: run 'apt-get update', or "
                "add a Debian suite that carries it (bookworm-security or trixie) to apt's sources"
            )
        return version

    def known_versions(self, package: str) -> list[str]:
        """Versions of package in apt's lists, as apt orders them (newest first)."""
        versions = []
        for line in self.cache_query("madison", package).splitlines():
            fields = [field.strip() for field in line.split("|")]
            # madison also lists source packages of that name; only binaries can be fetched.
            if len(fields) == 3 and fields[0] == package and not fields[2].endswith("Sources"):
                versions.append(fields[1])
        return list(dict.fromkeys(versions))

    def deb_facts(self, spec: DebianSpec, version: str) -> tuple[str, int]:
        """The .deb's SHA256 and size, from apt's lists."""
        # An unknown package or version is an error (or empty output) here;
        # madison below tells which it is.
        result = self.run("apt-cache", "show", "--no-all-versions", f"{spec.package}={version}")
        record = result.stdout.strip().split("\n\n")[0] if result.returncode == 0 else ""
        fields = dict(
            line.split(": ", 1) for line in record.splitlines() if ": " in line and line[0] != " "
        )
        sha256 = fields.get("SHA256", "").strip().lower()
        size = fields.get("Size", "").strip()
        if fields.get("Version") == version and re.fullmatch(r"[0-9a-f]{64}", sha256):
            return sha256, int(size) if size.isdigit() else 0
        known = self.known_versions(spec.package)
        if not known:
            raise self.unknown_package(spec)
        if version not in known:
            shown = ", ".join(known[:_KNOWN_SHOWN]) + (", ..." if len(known) > _KNOWN_SHOWN else "")
            raise UserError(
                f"{spec.package} has no version {version} in apt's lists (known: {shown}): pin "
                "one of those, or run 'apt-get update'"
            )
        raise UserError(
            f"apt's lists give no SHA256 for {spec.package} {version}: run 'apt-get update', "
            "then try again"
        )

    def unknown_package(self, spec: DebianSpec) -> UserError:
        if not self.lists_have_packages():
            return UserError(
                "apt's package lists are empty: run 'apt-get update' (as root), then try again"
            )
        return UserError(
            f"apt knows no package {spec.package}: run 'apt-get update', or add a Debian suite "
            "that carries it (bookworm-security or trixie) to apt's sources"
        )

    def lists_have_packages(self) -> bool:
        # `apt-cache policy` lists the package indexes apt read; with empty
        # lists only dpkg's status file (installed packages) is left.
        out = self.cache_query("policy")
        section = out.split("Package files:", 1)[-1].split("Pinned packages:", 1)[0]
        return any(line.rstrip().endswith(" Packages") for line in section.splitlines())

    def download(self, package: str, version: str, where: Path) -> Path:
        where.mkdir()
        options = []
        if os.geteuid() == 0:
            # apt drops to the _apt user to download, which cannot write our
            # private directory; root may as well download as itself.
            options = ["-o", "APT::Sandbox::User=root"]
        result = self.run(
            "apt-get", "download", "-q", *options, f"{package}={version}", cwd=where
        )
        debs = list(where.glob("*.deb"))
        if result.returncode != 0 or len(debs) != 1:
            raise UserError(
                f"cannot download {package} {version} ({_apt_error(result)}): check the "
                "network, or run 'apt-get update'"
            )
        return debs[0]


def _apt_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E:")]
    if errors or lines:
        return (errors or lines)[0]
    return f"exit status {result.returncode}"


# --- unpacking ------------------------------------------------------------------


class _ExtractError(Exception):
    pass


def _extract(
    apt: _Apt, deb: Path, tree: Path, wanted: list[str], errors_path: Path, cache: Path
) -> dict[str, bytes]:
    """Write the requested paths the package has under tree; return their bytes."""
    found: dict[str, bytes] = {}
    with (
        errors_path.open("w+b") as errors,
        subprocess.Popen(
            ["dpkg-deb", "--fsys-tarfile", str(deb)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=apt.env,
        ) as dpkg,
    ):
        assert dpkg.stdout is not None
        try:
            with tarfile.open(fileobj=dpkg.stdout, mode="r|") as outer:
                inner = next((m for m in outer if _INNER_TARBALL.fullmatch(m.name)), None)
                if inner is None or not inner.isfile():
                    raise _ExtractError("it holds no usr/src/linux-source-*.tar*")
                stream = outer.extractfile(inner)
                assert stream is not None
                complete = _scan_inner(stream, inner.name, apt, errors, tree, wanted, found)
            if not complete:
                # Paths are only recorded as absent if all of the package was read.
                while dpkg.stdout.read(_CHUNK):
                    pass
                if dpkg.wait() != 0:
                    raise _ExtractError(f"dpkg-deb exited with status {dpkg.returncode}")
        except (
            _ExtractError,
            tarfile.TarError,
            EOFError,
            OSError,
            lzma.LZMAError,
            zlib.error,
        ) as err:
            if isinstance(err, OSError) and err.filename is not None:
                raise _cache_error(cache, err) from None
            errors.seek(0)
            detail = errors.read().decode("utf-8", "replace").strip().splitlines()
            raise UserError(
                f"cannot unpack {deb.name} ({detail[0] if detail else err}): try again, and if "
                "it keeps failing pin another version with debian:X.Y=VERSION"
            ) from None
        finally:
            # Stopping early leaves dpkg-deb blocked on a full pipe.
            if dpkg.poll() is None:
                dpkg.kill()
    return found


def _scan_inner(
    stream: IO[bytes],
    name: str,
    apt: _Apt,
    errors: IO[bytes],
    tree: Path,
    wanted: list[str],
    found: dict[str, bytes],
) -> bool:
    """Extract from the kernel tarball; True if every wanted path was found."""
    suffix = Path(name).suffix
    xz = shutil.which("xz", path=apt.env.get("PATH", os.defpath))
    if suffix == ".xz" and xz is not None:
        return _scan_with_xz(xz, stream, errors, tree, wanted, found)
    # These decompressors raise on a truncated stream.  tarfile's own "r|xz"
    # would take a cut-off stream for the end of the archive, and so turn
    # files the package has into files it "does not have".
    if suffix == ".xz":
        with lzma.LZMAFile(stream) as plain:
            return _pick_members(plain, tree, wanted, found)
    if suffix == ".bz2":
        with bz2.BZ2File(stream) as plain:
            return _pick_members(plain, tree, wanted, found)
    if suffix == ".gz":
        with gzip.GzipFile(fileobj=stream) as plain:
            return _pick_members(plain, tree, wanted, found)
    if suffix == ".tar":
        return _pick_members(stream, tree, wanted, found)
    raise _ExtractError(f"{name} is compressed in a way percpu-diff cannot read")


def _scan_with_xz(
    xz: str,
    stream: IO[bytes],
    errors: IO[bytes],
    tree: Path,
    wanted: list[str],
    found: dict[str, bytes],
) -> bool:
    with subprocess.Popen(
        [xz, "--decompress", "--stdout", "--threads=0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=errors,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        feeder = _Feeder(stream, proc.stdin)
        try:
            complete = _pick_members(proc.stdout, tree, wanted, found)
            if not complete:
                status = proc.wait()
                feeder.join()
                if feeder.error is not None:
                    raise feeder.error
                # xz's exit status is what says the stream was whole.
                if status != 0:
                    raise _ExtractError(f"xz exited with status {status}")
            return complete
        finally:
            # Also reached when the reader stopped early: xz's death ends the feeder.
            if proc.poll() is None:
                proc.kill()
            feeder.join()


def _pick_members(
    tar_stream: IO[bytes] | gzip.GzipFile, tree: Path, wanted: list[str], found: dict[str, bytes]
) -> bool:
    """Write the wanted regular files under tree; True if all were found (and reading stopped)."""
    remaining = set(wanted)
    if not remaining:
        return True
    with tarfile.open(fileobj=tar_stream, mode="r|") as tar:
        for member in tar:
            # Names are "linux-source-6.1/mm/percpu.c": drop the top directory.
            name = member.name.removeprefix("./").partition("/")[2]
            if name not in remaining or not member.isfile():
                continue
            data_file = tar.extractfile(member)
            assert data_file is not None
            data = data_file.read()
            target = tree / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            found[name] = data
            remaining.discard(name)
            if not remaining:
                return True
    # Read to the end, so the decompressor checks the stream's end and integrity.
    while tar_stream.read(_CHUNK):
        pass
    return False


class _Feeder(threading.Thread):
    """Copies the compressed stream into xz while the main thread reads xz's output."""

    def __init__(self, source: IO[bytes], sink: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self.source = source
        self.sink = sink
        self.error: Exception | None = None
        self.start()

    def run(self) -> None:
        try:
            shutil.copyfileobj(self.source, self.sink, _CHUNK)
        except BrokenPipeError:
            pass  # xz was stopped: the reader has what it needs
        except Exception as err:  # reported by the main thread
            self.error = err
        finally:
            with contextlib.suppress(OSError):
                self.sink.close()


# --- bytes --------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


# Kernel sources are UTF-8 in practice, but a stray Latin-1 byte in a comment
# must not stop us, and must survive a round trip unchanged.
def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")

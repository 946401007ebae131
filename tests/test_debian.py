"""Tests for harness.debian: kernel sources from Debian's linux-source packages.

These use the machine's real apt: its package lists, its network access and
real downloads (about 140 MB each, two per run).  One session-wide fetch of
debian:6.1 is shared; tests that change a cache work on a copy of it.
Everything apt-related skips, visibly, where apt-get is not on PATH.

Missing tools are simulated with a PATH holding only chosen programs, and
empty package lists with an APT_CONFIG pointing apt at empty directories;
apt itself is never mocked.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.core.errors import UserError
from harness.sources import debian
from harness.sources.debian import DebianSource, DebianSpec, fetch, parse_debian_arg

PERCPU_C = "mm/percpu.c"
MISSING = "mm/no-such-file.c"  # a path no kernel has, to exercise "absent"
PATHS = (PERCPU_C, "include/linux/percpu.h", "arch/x86/kernel/setup_percpu.c", MISSING)
SERIES = "6.1"

needs_apt = pytest.mark.skipif(
    shutil.which("apt-get") is None, reason="needs Debian's apt (apt-get not on PATH)"
)


def apt_cache(*args: str) -> str:
    env = {**os.environ, "LC_ALL": "C"}
    return subprocess.run(
        ["apt-cache", *args], capture_output=True, text=True, check=True, env=env
    ).stdout


def candidate(package: str) -> str:
    match = re.search(r"Candidate: (\S+)", apt_cache("policy", package))
    assert match, f"apt has no candidate for {package}"
    return match.group(1)


def only_tools(where: Path, *tools: str) -> str:
    """A PATH with just these programs (symlinked from the real PATH)."""
    where.mkdir()
    for tool in tools:
        real = shutil.which(tool)
        assert real, tool
        (where / tool).symlink_to(real)
    return str(where)


@dataclass
class Recorder:
    messages: list[str]

    def __call__(self, message: str) -> None:
        assert "\n" not in message
        self.messages.append(message)


def recorder() -> Recorder:
    return Recorder([])


@dataclass(frozen=True)
class Fetched:
    cache: Path
    source: DebianSource
    messages: list[str]


@pytest.fixture(scope="session")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> Fetched:
    """debian:6.1 (apt's candidate), downloaded once per session into a private cache."""
    if shutil.which("apt-get") is None:
        pytest.skip("needs Debian's apt (apt-get not on PATH)")
    cache = tmp_path_factory.mktemp("debian-cache")
    progress = recorder()
    source = fetch(parse_debian_arg(SERIES), PATHS, cache, progress)
    return Fetched(cache, source, progress.messages)


def copy_cache(fetched: Fetched, target: Path) -> Path:
    """A private copy of the session cache, safe to damage."""
    shutil.copytree(fetched.cache, target, symlinks=True)
    return target / fetched.source.root.name


def manifest(root: Path) -> dict[str, object]:
    data = json.loads((root / "manifest.json").read_text())
    assert isinstance(data, dict)
    return data


def entries(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir())


# --- parsing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "series", "version"),
    [
        ("6.1", "6.1", None),
        ("6.12", "6.12", None),
        ("6.1=6.1.170-3", "6.1", "6.1.170-3"),
        ("6.12=6.12.117-1~deb12u1", "6.12", "6.12.117-1~deb12u1"),
        ("4.19=1:4.19.0+dfsg-1", "4.19", "1:4.19.0+dfsg-1"),
    ],
)
def test_parse_good(text: str, series: str, version: str | None) -> None:
    spec = parse_debian_arg(text)
    assert spec == DebianSpec(series, version)
    assert spec.package == f"linux-source-{series}"


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        ("debian:", "names no kernel series"),
        ("debian:=6.1.170-3", "names no kernel series"),
        ("debian:six", "'six' is not a kernel series"),
        ("debian:6", "'6' is not a kernel series"),
        ("debian:6.1.2", "'6.1.2' is not a kernel series"),
        ("debian:v6.1", "'v6.1' is not a kernel series"),
        ("debian:6.1=", "names no version after '='"),
        ("debian:6.1=-o", "'-o' is not a Debian version"),
        ("debian:6.1=../../etc", "'../../etc' is not a Debian version"),
        ("debian:6.1=6.1 170", "'6.1 170' is not a Debian version"),
        ("debian:6.1=6.1/170", "'6.1/170' is not a Debian version"),
    ],
)
def test_parse_bad(name: str, complaint: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_debian_arg(name.removeprefix("debian:"))
    message = str(caught.value)
    assert complaint in message
    assert f"source '{name}'" in message
    assert "debian:" in message.partition(": ")[2]  # says what to write instead


def test_spec_built_in_code_is_checked() -> None:
    with pytest.raises(ValueError, match=r"not X\.Y"):
        DebianSpec("6", None)
    with pytest.raises(ValueError, match="malformed"):
        DebianSpec("6.1", "x/../y")


def test_requested_paths_must_be_plain(tmp_path: Path) -> None:
    for bad in ("../mm/percpu.c", "/etc/passwd", "mm//percpu.c", "manifest.json", ""):
        with pytest.raises(ValueError, match="plain path"):
            fetch(DebianSpec("6.1", "6.1.170-3"), [bad], tmp_path)


# --- a real fetch -------------------------------------------------------------


@needs_apt
def test_fetch_gives_the_packaged_tree(fetched: Fetched) -> None:
    source = fetched.source
    assert source.package == "linux-source-6.1"
    assert source.version == candidate("linux-source-6.1")
    assert "pcpu_setup_first_chunk" in source.files[PERCPU_C]
    assert set(source.files) == set(PATHS) - {MISSING}
    for path, text in source.files.items():
        assert (source.root / path).read_bytes() == text.encode("utf-8", "surrogateescape")
    assert source.root == fetched.cache / f"linux-source-6.1_{source.version}"
    # The .deb's hash is apt's, and only extracted files and the manifest stay.
    show = apt_cache("show", "--no-all-versions", f"linux-source-6.1={source.version}")
    assert f"SHA256: {source.deb_sha256}" in show
    assert entries(fetched.cache) == [source.root.name]
    kept = sorted(str(p.relative_to(source.root)) for p in source.root.rglob("*") if p.is_file())
    assert kept == sorted([*source.files, "manifest.json"])
    assert fetched.messages[0].startswith(f"downloading linux-source-6.1 {source.version} (")
    assert fetched.messages[0].endswith(" MB)")
    assert fetched.messages[1] == f"extracting {len(PATHS)} files"


@needs_apt
def test_manifest_records_hashes_and_absent_paths(fetched: Fetched) -> None:
    root = fetched.source.root
    data = manifest(root)
    assert data["package"] == "linux-source-6.1"
    assert data["version"] == fetched.source.version
    assert data["deb_sha256"] == fetched.source.deb_sha256
    assert data["absent"] == [MISSING]
    files = data["files"]
    assert isinstance(files, dict)
    assert set(files) == set(fetched.source.files)
    for path, digest in files.items():
        assert hashlib.sha256((root / path).read_bytes()).hexdigest() == digest


@needs_apt
def test_second_fetch_uses_the_cache(
    fetched: Fetched, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without apt-get and dpkg-deb, any download or unpacking would fail.
    monkeypatch.setenv("PATH", only_tools(tmp_path / "bin", "apt-cache"))
    inode = fetched.source.root.stat().st_ino
    progress = recorder()
    again = fetch(parse_debian_arg(SERIES), PATHS[:2], fetched.cache, progress)
    assert progress.messages == [f"using cached linux-source-6.1 {fetched.source.version}"]
    assert again.root == fetched.source.root
    assert fetched.source.root.stat().st_ino == inode
    assert again.files == {p: fetched.source.files[p] for p in PATHS[:2]}
    assert again.deb_sha256 == fetched.source.deb_sha256


@needs_apt
def test_pinned_cached_version_needs_no_apt(
    fetched: Fetched, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    root = copy_cache(fetched, cache)
    monkeypatch.setenv("PATH", only_tools(tmp_path / "bin"))
    pinned = parse_debian_arg(f"{SERIES}={fetched.source.version}")
    source = fetch(pinned, [PERCPU_C, MISSING], cache)
    assert source.root == root
    assert source.files == {PERCPU_C: fetched.source.files[PERCPU_C]}
    # ... but the unpinned name asks apt for its candidate.
    with pytest.raises(UserError, match=r"^debian:6\.1 needs Debian's apt \(apt-cache not found\)"):
        fetch(parse_debian_arg(SERIES), [PERCPU_C], cache)


@needs_apt
def test_default_cache_is_under_the_cache_root(
    fetched: Fetched, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERCPU_DIFF_CACHE", str(tmp_path / "root"))
    root = copy_cache(fetched, tmp_path / "root" / "debian")
    pinned = DebianSpec(SERIES, fetched.source.version)
    assert fetch(pinned, [PERCPU_C]).root == root


# --- a damaged cache ----------------------------------------------------------

Damage = Callable[[Path], None]


def change_file(root: Path) -> None:
    with (root / PERCPU_C).open("a") as file:
        file.write("/* edited */\n")


def remove_file(root: Path) -> None:
    (root / "include/linux/percpu.h").unlink()


def break_manifest(root: Path) -> None:
    (root / "manifest.json").write_text('{"package": "linux-source-6.1"')


def remove_manifest(root: Path) -> None:
    (root / "manifest.json").unlink()


def path_outside(root: Path) -> None:
    data = manifest(root)
    data["absent"] = ["../../escape.c"]
    (root / "manifest.json").write_text(json.dumps(data))


def wrong_package(root: Path) -> None:
    data = manifest(root)
    data["package"] = "linux-source-6.12"
    (root / "manifest.json").write_text(json.dumps(data))


@needs_apt
@pytest.mark.parametrize(
    ("damage", "note"),
    [
        (change_file, "has a changed mm/percpu.c"),
        (remove_file, "lacks include/linux/percpu.h"),
        (break_manifest, "has a malformed manifest"),
        (remove_manifest, "has no manifest"),
        (wrong_package, "has a malformed manifest"),
        (path_outside, "has a malformed manifest"),
    ],
)
def test_damaged_cache_is_not_used(
    fetched: Fetched, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: Damage, note: str
) -> None:
    cache = tmp_path / "cache"
    root = copy_cache(fetched, cache)
    damage(root)
    # Fetching again needs apt-get, which is missing: proof the copy was refused.
    monkeypatch.setenv("PATH", only_tools(tmp_path / "bin", "apt-cache"))
    progress = recorder()
    with pytest.raises(UserError, match=r"\(apt-get not found\)"):
        fetch(DebianSpec(SERIES, fetched.source.version), [PERCPU_C], cache, progress)
    version = fetched.source.version
    assert progress.messages == [
        f"cached linux-source-6.1 {version} is damaged ({note}); fetching it again"
    ]
    assert entries(cache) == [root.name]  # the failed attempt left nothing behind


@needs_apt
def test_new_path_is_fetched_not_guessed(
    fetched: Fetched, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    copy_cache(fetched, cache)
    monkeypatch.setenv("PATH", only_tools(tmp_path / "bin", "apt-cache"))
    progress = recorder()
    with pytest.raises(UserError, match=r"\(apt-get not found\)"):
        fetch(DebianSpec(SERIES, fetched.source.version), [PERCPU_C, "mm/slab.c"], cache, progress)
    assert progress.messages == [
        f"cached linux-source-6.1 {fetched.source.version} lacks mm/slab.c; fetching it again"
    ]


@needs_apt
def test_changed_file_is_repaired(
    fetched: Fetched,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = tmp_path / "cache"
    root = copy_cache(fetched, cache)
    change_file(root)
    # Without xz on PATH the inner tarball is decompressed by Python: this
    # download also covers that path.
    tools = ("apt-cache", "apt-get", "dpkg-deb")
    monkeypatch.setenv("PATH", only_tools(tmp_path / "bin", *tools))
    source = fetch(DebianSpec(SERIES, None), [PERCPU_C], cache)
    assert capsys.readouterr().err == (
        f"note: cached linux-source-6.1 {source.version} is damaged (has a changed {PERCPU_C}); "
        "fetching it again\n"
    )
    assert source.files == {PERCPU_C: fetched.source.files[PERCPU_C]}
    assert (root / PERCPU_C).read_text() == fetched.source.files[PERCPU_C]
    # Paths the damaged copy held are kept, including the absent one.
    assert manifest(root) == manifest(fetched.source.root)
    assert entries(cache) == [root.name]


# --- unpacking ----------------------------------------------------------------


def fake_deb(where: Path, cut: bool) -> Path:
    """A package shaped like linux-source (invented contents).

    cut: the tarball stops, without xz's end marker, right after mm/percpu.c,
    so what does get decompressed is a well-formed tar that merely ends early.
    """
    tarball = io.BytesIO()
    with tarfile.open(fileobj=tarball, mode="w") as tar:
        for name, data in [
            (f"linux-source-9.9/{PERCPU_C}", b"int pcpu_fake;\n"),
            ("linux-source-9.9/mm/later.c", b"int later;\n"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = tarball.getvalue()
    packed = lzma.compress(raw[:1024], lzma.FORMAT_XZ)[:-12] if cut else lzma.compress(raw)
    package = where / "pkg"
    (package / "DEBIAN").mkdir(parents=True)
    (package / "DEBIAN" / "control").write_text(
        "Package: linux-source-9.9\nVersion: 9.9.1-1\nArchitecture: all\n"
        "Maintainer: Percpu Test <test@example.invalid>\nDescription: invented\n"
    )
    (package / "usr" / "src").mkdir(parents=True)
    (package / "usr" / "src" / "linux-source-9.9.tar.xz").write_bytes(packed)
    deb = where / "fake.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "--build", str(package), str(deb)],
        check=True,
        capture_output=True,
    )
    return deb


@needs_apt
@pytest.mark.parametrize("with_xz", [True, False], ids=["xz", "python-lzma"])
def test_cut_tarball_is_an_error_not_absent_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_xz: bool
) -> None:
    whole, cut = fake_deb(tmp_path / "whole", False), fake_deb(tmp_path / "cut", True)
    tools = ("apt-cache", "dpkg-deb", "xz") if with_xz else ("apt-cache", "dpkg-deb")
    monkeypatch.setenv("PATH", only_tools(tmp_path / "bin", *tools))
    apt = debian._Apt(DebianSpec("9.9", None))
    wanted = [PERCPU_C, MISSING]
    found = debian._extract(apt, whole, tmp_path / "t1", wanted, tmp_path / "e1", tmp_path)
    assert found == {PERCPU_C: b"int pcpu_fake;\n"}
    assert (tmp_path / "t1" / PERCPU_C).read_bytes() == found[PERCPU_C]
    # A path is never called absent on the strength of a cut-off tarball.
    with pytest.raises(UserError, match=r"^cannot unpack fake\.deb \("):
        debian._extract(apt, cut, tmp_path / "t3", wanted, tmp_path / "e3", tmp_path)


# --- errors -------------------------------------------------------------------


@needs_apt
def test_unknown_pinned_version(tmp_path: Path) -> None:
    with pytest.raises(UserError) as caught:
        fetch(DebianSpec(SERIES, "6.1.999-1"), [PERCPU_C], tmp_path)
    message = str(caught.value)
    assert message.startswith("linux-source-6.1 has no version 6.1.999-1 in apt's lists (known: ")
    assert message.endswith("): pin one of those, or run 'apt-get update'")
    shown = message.partition("(known: ")[2].partition(")")[0].split(", ")
    known = [
        line.split("|")[1].strip() for line in apt_cache("madison", "linux-source-6.1").splitlines()
    ]
    assert shown[0] == candidate("linux-source-6.1")
    if len(known) > 5:
        assert shown == [*known[:5], "..."]
    else:
        assert shown == known
    assert entries(tmp_path) == []


@needs_apt
@pytest.mark.parametrize("text", ["2.4", "2.4=2.4.27-1"])
def test_unknown_package(tmp_path: Path, text: str) -> None:
    with pytest.raises(UserError) as caught:
        fetch(parse_debian_arg(text), [PERCPU_C], tmp_path)
    assert str(caught.value) == (
        "apt knows no package linux-source-2.4: run 'apt-get update', or add a Debian suite "
        "that carries it (bookworm-security or trixie) to apt's sources"
    )


@needs_apt
@pytest.mark.parametrize("text", ["6.1", "6.1=6.1.170-3"])
def test_empty_package_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "apt-cache").mkdir()
    config = tmp_path / "apt.conf"
    config.write_text(
        f'Dir::State::Lists "{tmp_path}/lists/";\nDir::Cache "{tmp_path}/apt-cache/";\n'
    )
    monkeypatch.setenv("APT_CONFIG", str(config))
    with pytest.raises(UserError) as caught:
        fetch(parse_debian_arg(text), [PERCPU_C], tmp_path / "cache")
    assert str(caught.value) == (
        "apt's package lists are empty: run 'apt-get update' (as root), then try again"
    )


def test_no_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", only_tools(tmp_path / "bin"))
    with pytest.raises(UserError) as caught:
        fetch(parse_debian_arg("6.1=6.1.170-3"), [PERCPU_C], tmp_path / "cache")
    assert str(caught.value) == (
        "debian:6.1=6.1.170-3 needs Debian's apt (apt-cache not found): run percpu-diff on "
        "Debian or Ubuntu, or name a kernel tree with tree:PATH@REV"
    )


@needs_apt
def test_failed_download_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy nobody listens on: apt fails to connect, quickly and for real.
    config = tmp_path / "apt.conf"
    config.write_text(
        'Acquire::http::Proxy "http://127.0.0.1:9/";\n'
        'Acquire::https::Proxy "http://127.0.0.1:9/";\n'
        'Acquire::Retries "0";\n'
    )
    monkeypatch.setenv("APT_CONFIG", str(config))
    cache = tmp_path / "cache"
    progress = recorder()
    with pytest.raises(UserError) as caught:
        fetch(DebianSpec(SERIES, "6.1.170-3"), [PERCPU_C], cache, progress)
    message = str(caught.value)
    assert message.startswith("cannot download linux-source-6.1 6.1.170-3 (E: ")
    assert message.endswith("): check the network, or run 'apt-get update'")
    assert progress.messages[0].startswith("downloading linux-source-6.1 6.1.170-3 (")
    assert entries(cache) == []


@needs_apt
def test_unwritable_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.write_text("a file where the cache directory should be\n")
    with pytest.raises(UserError, match=r"^cannot write to the cache .*PERCPU_DIFF_CACHE"):
        fetch(DebianSpec(SERIES, "6.1.170-3"), [PERCPU_C], cache)


def test_module_names_no_mirror() -> None:
    # Which mirror to use is apt's business, configured by the user.
    for path in (Path(debian.__file__), Path(__file__)):
        text = path.read_text()
        assert not re.search(r"https?://(?!127\.0\.0\.1)", text), path

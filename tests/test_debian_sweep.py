"""The Debian sweep: every version of linux-source-6.1 and -6.12 that apt's
lists hold (the candidates and the older pinned versions) builds, boots
each scenario its code has (the x86 and arch_numa flows included) and
agrees with its model over generated cases at NR_CPUS 64.  This is the
CI's sweep of real kernels: CI has no kernel tree, but it has apt.

The packages are fetched two at a time up front (a fetch is mostly one
core unpacking xz) into the test session's cache.  Skipped, visibly,
where apt is missing.  PERCPU_DIFF_SWEEP_CASES sets the cases per
scenario (default 30 here).
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
from sweep import bad_scenarios, verdicts

from harness.sources import debian, snapshot

SERIES = ("6.1", "6.12")
COUNT = int(os.environ.get("PERCPU_DIFF_SWEEP_CASES", "30"))
HAS_APT = shutil.which("apt-cache") is not None and shutil.which("apt-get") is not None

pytestmark = pytest.mark.skipif(not HAS_APT, reason="needs Debian's apt (apt-get not on PATH)")


def listed() -> list[str]:
    """debian:X.Y=VERSION for every version apt lists, oldest series first."""
    if not HAS_APT:
        return []
    return [f"{series}={version}" for series in SERIES
            for version in debian.listed_versions(series)]


VERSIONS = listed()


@pytest.fixture(scope="module")
def fetched() -> None:
    """Every listed package in the session's cache, fetched two at a time."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda text: snapshot.load_snapshot(
            snapshot.parse_source_arg(f"debian:{text}")), VERSIONS))


def test_apt_lists_both_series() -> None:
    for series in SERIES:
        assert any(v.startswith(f"{series}=") for v in VERSIONS), (
            f"apt lists no linux-source-{series}: the sweep would be empty")


@pytest.mark.parametrize("version", VERSIONS)
def test_every_listed_version_builds_boots_and_agrees(fetched: None, version: str) -> None:
    spec = snapshot.parse_source_arg(f"debian:{version}")
    counts = verdicts(spec, COUNT, 64, sanitize=False)
    assert set(counts) >= {"embed", "page", "x86", "arch_numa"}, (
        f"debian:{version}: scenarios {sorted(counts)}")
    assert bad_scenarios(counts) == {}, f"debian:{version}: {bad_scenarios(counts)}"

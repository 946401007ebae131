"""Per-case cost of the shim: cases per second through one fork server.

    python benchmarks/bench_shim.py --dir tests/fixtures/kernels/alloc_info
    python benchmarks/bench_shim.py --tree ~/linux --rev fd1e8a1fe2b5 [--sanitize]

Each scenario boots in the shim it needs (an arch flow has one of its own,
built with its page size and CONFIG_NUMA), as a run would build it.
Prints figures; it asserts nothing (speed is shown, not tested).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from harness.compile import shims
from harness.core import cases
from harness.run import server
from harness.sources import snapshot


def batch(scenario: str, nr_cpus: int, count: int) -> list[cases.Case]:
    """`count` cases of one scenario over every third, second or single cpu."""
    arch = scenario in cases.ARCH_SCENARIOS
    return [
        cases.Case(
            f"{scenario}-{i}", scenario, nr_cpus, tuple(range(0, nr_cpus, 1 + i % 3)),
            atom_size=(2 << 20) if scenario == "lpage" else 4096,
            page_size=cases.ARCH_PAGE_SIZE[scenario] if arch else 4096,
            static_size=max(40960, cases.ARCH_MIN_STATIC.get(scenario, 0)),
        ).validate()
        for i in range(count)
    ]


def scenarios_of(snap: snapshot.Snapshot) -> list[str]:
    """The generic scenarios the source has, and the arch flows whose files
    it has."""
    return [*shims.render(snap).scenarios, *shims.arches(snap)]


def bench_scenario(snap: snapshot.Snapshot, scenario: str, nr_cpus: int, count: int,
                   sanitize: bool) -> str:
    todo = batch(scenario, nr_cpus, count)
    case = todo[0]
    config = shims.config_for(nr_cpus, case.page_shift, sanitize, case.arch, case.numa)
    shim = shims.build(shims.render(snap, arch=case.arch), config)
    start = time.perf_counter()
    results = list(server.run_cases(shim, todo))
    elapsed = time.perf_counter() - start
    ok = sum(r["outcome"]["kind"] == "ok" for r in results)
    inner = sorted(r.get("elapsed_us", 0) for r in results)
    return (f"{scenario:7} {'sanitized' if sanitize else 'plain':9} NR_CPUS={nr_cpus}: "
            f"{len(results)} cases in {elapsed:.2f} s = {len(results) / elapsed:,.0f} cases/s "
            f"({ok} ok); fork-to-exit median {inner[len(inner) // 2]} us")


def bench_build(snap: snapshot.Snapshot, nr_cpus: int, sanitize: bool) -> str:
    t0 = time.perf_counter()
    rendered = shims.render(snap)
    t1 = time.perf_counter()
    shim = shims.build(rendered, shims.BuildConfig(nr_cpus, sanitize=sanitize))
    t2 = time.perf_counter()
    shims.build(rendered, shims.BuildConfig(nr_cpus, sanitize=sanitize))
    t3 = time.perf_counter()
    return (f"source {snap.label}: render {1000 * (t1 - t0):.1f} ms, "
            f"build {'(cached) ' if shim.cached else ''}{1000 * (t2 - t1):.0f} ms, "
            f"rebuild (cache hit) {1000 * (t3 - t2):.1f} ms")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", type=Path)
    ap.add_argument("--rev")
    ap.add_argument("--dir", type=Path)
    ap.add_argument("--sanitize", action="store_true")
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--nr-cpus", type=int, default=64)
    args = ap.parse_args(argv)
    if args.dir:
        spec = snapshot.SourceSpec("dir", args.dir)
    else:
        spec = snapshot.SourceSpec("tree", args.tree, args.rev)
    snap = snapshot.load_snapshot(spec)
    print(bench_build(snap, args.nr_cpus, args.sanitize), flush=True)
    for scenario in scenarios_of(snap):
        print(bench_scenario(snap, scenario, args.nr_cpus, args.cases, args.sanitize),
              flush=True)


if __name__ == "__main__":
    main()

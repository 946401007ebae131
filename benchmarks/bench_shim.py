"""Per-case cost of the shim: cases per second through one fork server.

    python benchmarks/bench_shim.py --dir tests/fixtures/kernels/alloc_info
    python benchmarks/bench_shim.py --tree ~/linux --rev fd1e8a1fe2b5 [--sanitize]

Prints figures; it asserts nothing (speed is shown, not tested).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from harness import build, cases, run, sources


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", type=Path)
    ap.add_argument("--rev")
    ap.add_argument("--dir", type=Path)
    ap.add_argument("--sanitize", action="store_true")
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--nr-cpus", type=int, default=64)
    args = ap.parse_args()
    if args.dir:
        spec = sources.SourceSpec("dir", args.dir)
    else:
        spec = sources.SourceSpec("tree", args.tree, args.rev)
    snap = sources.load_snapshot(spec)

    t0 = time.perf_counter()
    rendered = build.render(snap)
    t1 = time.perf_counter()
    shim = build.build(rendered, build.BuildConfig(args.nr_cpus, sanitize=args.sanitize))
    t2 = time.perf_counter()
    build.build(rendered, build.BuildConfig(args.nr_cpus, sanitize=args.sanitize))
    t3 = time.perf_counter()
    print(f"source {snap.label}: render {1000 * (t1 - t0):.1f} ms, "
          f"build {'(cached) ' if shim.cached else ''}{1000 * (t2 - t1):.0f} ms, "
          f"rebuild (cache hit) {1000 * (t3 - t2):.1f} ms")

    for scenario in cases.SCENARIOS:
        batch = [
            cases.Case(f"{scenario}-{i}", scenario, args.nr_cpus,
                       tuple(range(0, args.nr_cpus, 1 + i % 3)),
                       atom_size=(2 << 20) if scenario == "lpage" else 4096)
            for i in range(args.cases)
        ]
        start = time.perf_counter()
        results = list(run.run_cases(shim, batch))
        elapsed = time.perf_counter() - start
        ok = sum(r["outcome"]["kind"] == "ok" for r in results)
        inner = sorted(r.get("elapsed_us", 0) for r in results)
        print(f"{scenario:6} {'sanitized' if args.sanitize else 'plain':9} "
              f"NR_CPUS={args.nr_cpus}: {len(results)} cases in {elapsed:.2f} s = "
              f"{len(results) / elapsed:,.0f} cases/s ({ok} ok); "
              f"fork-to-exit median {inner[len(inner) // 2]} us")


if __name__ == "__main__":
    main()

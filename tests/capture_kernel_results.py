"""Capture real-kernel results so CI can check the models without a tree.

Run by hand with a tree holding the 2009 history; it rewrites
tests/test_data/kernel_results/<generation>.jsonl.gz, one line per case:
the case (as TOML) and the kernel's compared fields (harness/judge/compare.py),
which are numbers and the boot log - never kernel source.

    .venv/bin/python tests/capture_kernel_results.py --tree PATH_TO_LINUX
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

from harness.campaign import generate, runner
from harness.compile import shims
from harness.core import cases, kernel_files
from harness.judge import compare
from harness.run import server
from harness.sources import snapshot

HERE = Path(__file__).resolve().parent
OUT = HERE / "test_data" / "kernel_results"
REVISIONS = ("fd1e8a1fe2b5^", "fd1e8a1fe2b5")
SEED = 2009


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tree", type=Path, required=True)
    ap.add_argument("--per-scenario", type=int, default=40, help="generated cases per NR_CPUS")
    args = ap.parse_args()
    named = sorted(p for p in (HERE.parent / "cases").glob("*.toml") if p.name != "triage.toml")
    OUT.mkdir(parents=True, exist_ok=True)
    for rev in REVISIONS:
        snap = snapshot.load_snapshot(snapshot.SourceSpec("tree", args.tree, rev))
        rendered = shims.render(snap)
        batch = [cases.load_case(p) for p in named]
        for nr_cpus in (8, 64):
            for scenario in cases.SCENARIOS:
                batch += generate.generate(args.per_scenario, SEED, scenario, nr_cpus)
        batch += generate.arch_matrix()
        lines = []
        for key in sorted({runner.shim_key(c) for c in batch}):
            nr_cpus, page_shift, arch, numa = key
            if arch in kernel_files.ARCH_FILES and not snap.has(kernel_files.ARCH_FILES[arch]):
                continue  # an arch flow of later kernels (arch_numa): nothing to capture
            group = [c for c in batch if runner.shim_key(c) == key]
            shim = shims.build(shims.render(snap, arch=arch),
                               shims.config_for(nr_cpus, page_shift, False, arch, numa))
            for case, result in zip(group, server.run_cases(shim, group), strict=True):
                lines.append(json.dumps({
                    "case": cases.case_to_toml(case),
                    "named": case in batch[:len(named)],
                    "source": snap.label.split("@")[-1],
                    "kernel": compare.fields(result),
                }, sort_keys=True))
        path = OUT / f"{rendered.api.generation}.jsonl.gz"
        # mtime=0: the same results give the same bytes, so git sees no change
        with gzip.GzipFile(path, "wb", mtime=0) as sink:
            sink.write(("\n".join(lines) + "\n").encode())
        print(f"{path}: {len(lines)} results from {snap.label}")


if __name__ == "__main__":
    main()

"""Capture the call traces of real arch flows, for tests/test_arch.py.

Run by hand with a tree holding the 2009 history.  Each sample is a case
built to end one allocator attempt a known way; the expected path is
written here, by reading the arch file, and the script refuses to write a
trace that does not show it.  The traces hold function names, integer
arguments and return values - never kernel source.

    .venv/bin/python tests/capture_arch_traces.py --tree PATH_TO_LINUX
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from harness.compile import shims
from harness.core import attempts, cases
from harness.run import server
from harness.sources import snapshot

HERE = Path(__file__).resolve().parent
OUT = HERE / "test_data" / "arch_traces.json"
OLD, NEW = "fd1e8a1fe2b5^", "fd1e8a1fe2b5"
TWO_NODES: dict[str, Any] = {"possible": (0, 1, 2, 3, 4, 5), "cpu_node": (0, 0, 0, 1, 1, 1),
                             "distance": ((10, 20), (20, 10)), "numa": True}
# name, revision, case fields, the path the arch file's logic gives
SAMPLES: list[tuple[str, str, dict[str, Any], str]] = [
    ("one-node", NEW, {"numa": True}, "lpage:not-numa > embed:ok"),
    ("no-numa-build", OLD, {}, "lpage:not-built > embed:ok"),
    ("two-nodes", NEW, TWO_NODES, "lpage:ok"),
    ("two-nodes-small-vmalloc-old", OLD, {**TWO_NODES, "vmalloc_size": 8 << 20},
     "lpage:vmalloc-limit > embed:numa > page:ok"),
    ("two-nodes-small-vmalloc-new", NEW, {**TWO_NODES, "vmalloc_size": 8 << 20},
     "lpage:vmalloc-limit > embed:numa > page:did-not-return"),
    ("no-pse", OLD, {**TWO_NODES, "pse": False}, "lpage:no-pse > embed:no-pse > page:ok"),
    ("lpage-chosen-build-fails", NEW, {**TWO_NODES, "percpu_alloc": "lpage", "fail_bootmem": 0},
     "lpage:build-failed > page:did-not-return"),
    ("lpage-chosen-unit-map-fails", OLD,
     {**TWO_NODES, "percpu_alloc": "lpage", "fail_bootmem": 0},
     "lpage:alloc-failed > page:ok"),
    ("lpage-chosen-large-page-fails", OLD,
     {**TWO_NODES, "percpu_alloc": "lpage", "fail_bootmem": 1},
     "lpage:alloc-failed > page:ok"),
    ("embed-chosen-on-numa", NEW, {**TWO_NODES, "percpu_alloc": "embed"}, "embed:ok"),
    ("page-chosen", OLD, {"percpu_alloc": "page"}, "page:ok"),
    ("sparc64", NEW, {"scenario": "sparc64", "page_size": 8192}, "(no choice)"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tree", type=Path, required=True)
    args = ap.parse_args()
    out = []
    for name, rev, fields, expected in SAMPLES:
        fields = {"scenario": "x86", "nr_cpus": 8, "static_size": 65536, **fields}
        case = cases.Case(name=name, **fields).validate()
        snap = snapshot.load_snapshot(snapshot.SourceSpec("tree", args.tree, rev))
        shim = shims.build(shims.render(snap, arch=case.arch),
                           shims.config_for(8, case.page_shift, False, case.arch, case.numa))
        result = server.run_one(shim, case)
        got = attempts.path(result)
        if got != expected:
            sys.exit(f"{name} at {rev}: expected {expected}, the kernel took {got}")
        out.append({"name": name, "revision": rev, "case": cases.case_to_toml(case),
                    "path": expected, "trace": result["trace"]})
        print(f"{name:32} {rev:14} {expected}")
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"{OUT}: {len(out)} traces")


if __name__ == "__main__":
    main()

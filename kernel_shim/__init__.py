"""The C half of percpu-diff: stub headers that mirror kernel include paths
(kernel_shim/include) and the runtime that simulates a boot
(kernel_shim/runtime).  Kernel code itself is never stored here; it is
extracted from the user's source at run time."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
INCLUDE = ROOT / "include"
RUNTIME = ROOT / "runtime"

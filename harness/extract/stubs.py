"""Which contract a stub keeps, where the kernel kept one name for two.

Most stubs need no choice: a macro in kernel_shim/include is expanded only
where the source calls it, and where a name's signature changed the
argument's C type picks (memblock_free()).  What a call returns is not in
the call, though: map_kernel_range_noflush() returned the number of pages
it mapped until 5.7 and 0 from 5.8 on, and mm/percpu.c passes that on as
its own return value.  The answer is in the revision's mm/vmalloc.c, read
here; each contract becomes a define the stub headers test.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from harness.core.kernel_files import VMALLOC_C
from harness.extract import ctext

# map_kernel_range_noflush() returns 0 on success, not the pages mapped.
MAP_RETURNS_ZERO = "SHIM_MAP_KERNEL_RANGE_RETURNS_ZERO"

_RETURN = re.compile(r"\breturn\b([^;]*);")


def stub_defines(files: Mapping[str, str]) -> tuple[str, ...]:
    """The stub contracts a source's files ask for, as preprocessor names."""
    defines: list[str] = []
    vmalloc_c = files.get(VMALLOC_C)
    if vmalloc_c is not None and map_returns_zero(vmalloc_c):
        defines.append(MAP_RETURNS_ZERO)
    return tuple(defines)


def map_returns_zero(vmalloc_c: str) -> bool:
    """Whether this mm/vmalloc.c's map_kernel_range_noflush() ends in `return 0;`
    (5.8 - 5.12) rather than handing on the count of pages mapped.  A revision
    without the function (5.13 on) keeps the older stub, which it never calls."""
    definitions = [item for item in ctext.split(vmalloc_c, VMALLOC_C).items
                   if item.kind == "function" and item.name == "map_kernel_range_noflush"]
    if not definitions:
        return False
    returns = _RETURN.findall(definitions[-1].text)
    return bool(returns) and returns[-1].strip() == "0"

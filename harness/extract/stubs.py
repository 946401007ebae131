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

from harness.core.kernel_files import VMALLOC_C, X86_KCONFIG
from harness.extract import ctext

# map_kernel_range_noflush() returns 0 on success, not the pages mapped.
MAP_RETURNS_ZERO = "SHIM_MAP_KERNEL_RANGE_RETURNS_ZERO"
# The generic scenarios build every first chunk allocator; until 08fc4580610
# ("percpu: generalize first chunk allocator selection", Aug 2009) the
# large page one was built only with CONFIG_NEED_MULTIPLE_NODES.
LPAGE_NEEDS_NODES = "SHIM_LPAGE_NEEDS_MULTIPLE_NODES"
LPAGE_ROOTS = ("pcpu_lpage_first_chunk", "pcpu_lpage_build_unit_map")
# The generic scenarios' fc callbacks take from memblock where the source
# itself allocates from memblock (3.13 on), from bootmem before.
FC_FROM_MEMBLOCK = "SHIM_FC_FROM_MEMBLOCK"
_MEMBLOCK_ALLOC = re.compile(r"^memblock_(?:virt_)?alloc")

_RETURN = re.compile(r"\breturn\b([^;]*);")

# x86's bootmem interface is mm/nobootmem.c's, over memblock (2.6.35 -
# 4.19): its arch flow's __alloc_bootmem*_nopanic() and free_bootmem()
# take the shim's memblock stubs.  The same name is the model's fact.
ARCH_NO_BOOTMEM = "SHIM_ARCH_NO_BOOTMEM"
X86_NO_BOOTMEM = "x86_no_bootmem"
# Kconfig: "config NO_BOOTMEM" turned on by x86 itself (def_bool y, or a
# default y prompt as when it was introduced), or selected by config X86.
_NO_BOOTMEM_ON = re.compile(r"^config NO_BOOTMEM\n(?:[ \t]+\S.*\n)*?[ \t]+(?:def_bool|default) y\b"
                            r"|^[ \t]+select NO_BOOTMEM\b", re.MULTILINE)


def stub_defines(files: Mapping[str, str], c_file: ctext.SourceFile | None = None
                 ) -> tuple[str, ...]:
    """The stub contracts and configuration a source's files ask for, as
    preprocessor names (c_file: mm/percpu.c as cut, for the generic build)."""
    defines: list[str] = []
    vmalloc_c = files.get(VMALLOC_C)
    if vmalloc_c is not None and map_returns_zero(vmalloc_c):
        defines.append(MAP_RETURNS_ZERO)
    if c_file is not None and lpage_needs_nodes(c_file):
        defines.append(LPAGE_NEEDS_NODES)
    if c_file is not None and allocates_from_memblock(c_file):
        defines.append(FC_FROM_MEMBLOCK)
    return tuple(defines)


def x86_no_bootmem(files: Mapping[str, str]) -> bool:
    """Whether the revision's arch/x86/Kconfig turns on CONFIG_NO_BOOTMEM."""
    kconfig = files.get(X86_KCONFIG)
    return kconfig is not None and _NO_BOOTMEM_ON.search(kconfig) is not None


def arch_stub_defines(files: Mapping[str, str], arch: str) -> tuple[str, ...]:
    """The stub contracts an arch flow's translation unit asks for."""
    return (ARCH_NO_BOOTMEM,) if arch == "x86" and x86_no_bootmem(files) else ()


def arch_stub_facts(files: Mapping[str, str], arch: str) -> dict[str, int]:
    """The same contracts, as the facts the model of the arch flow reads."""
    return {X86_NO_BOOTMEM: 1} if ARCH_NO_BOOTMEM in arch_stub_defines(files, arch) else {}


def allocates_from_memblock(c_file: ctext.SourceFile) -> bool:
    """Whether mm/percpu.c calls memblock's allocators (memblock_alloc*(),
    memblock_virt_alloc*()) rather than bootmem's."""
    return any(_MEMBLOCK_ALLOC.match(name) for item in c_file.items for name in item.refs)


def lpage_needs_nodes(c_file: ctext.SourceFile) -> bool:
    """Whether mm/percpu.c builds its large page allocator only under
    #ifdef CONFIG_NEED_MULTIPLE_NODES."""
    return any(item.kind == "function" and item.names & set(LPAGE_ROOTS)
               and any("CONFIG_NEED_MULTIPLE_NODES" in line
                       for cond in item.conditions for line in cond.lines)
               for item in c_file.items)


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

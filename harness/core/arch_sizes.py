"""Sizes the arch flows are built with: what include/linux/percpu.h and the
arch files of 2009 define, for CONFIG_MODULES on 64-bit.

The models run the flows with them, the generator places cases on both
sides of the limits they set, and triage names the cases where a kernel
bug they trigger fires: one definition for all three.
"""

KB = 1 << 10
MB = 1 << 20

PERCPU_MODULE_RESERVE = 8 * KB
PERCPU_DYNAMIC_RESERVE = 20 * KB
# x86_64: module space in the first chunk, so modules' static percpu
# variables stay within reach of 32-bit relocations.
X86_FIRST_CHUNK_RESERVE = PERCPU_MODULE_RESERVE
X86_DYN_SIZE = PERCPU_MODULE_RESERVE + PERCPU_DYNAMIC_RESERVE - X86_FIRST_CHUNK_RESERVE
X86_PMD_SIZE = 2 * MB
# sparc64 gives every possible cpu a chunk of this size (PCPU_CHUNK_SIZE).
SPARC64_CHUNK_SIZE = 4 * MB
# The smallest unit mm/percpu.c makes (PCPU_MIN_UNIT_SIZE).
PCPU_MIN_UNIT_SIZE = 64 * KB


def page_align(size: int, page_size: int) -> int:
    """PFN_ALIGN: up to the next multiple of the page size."""
    return -(-size // page_size) * page_size

"""The files of a kernel tree percpu-diff reads.

Sources fetch them and extraction cuts code out of them; both stand on
this list.
"""

PERCPU_C = "mm/percpu.c"
PERCPU_H = "include/linux/percpu.h"
# The modern generation's chunk and helpers live in a header of mm/'s own,
# and the vmalloc-backed chunk code in a C file percpu.c includes midway.
PERCPU_INTERNAL_H = "mm/percpu-internal.h"
PERCPU_VM_C = "mm/percpu-vm.c"
# What kernels before the percpu allocator (fbf59bc9d74) had instead: read
# only to tell such a kernel from a tree that is none.
ALLOCPERCPU_C = "mm/allocpercpu.c"
# Read for the stubs only: what map_kernel_range_noflush(), which the
# chunk code maps pages with until 5.12, returned in that revision.
VMALLOC_C = "mm/vmalloc.c"
# Read for the stubs only: whether x86's boot allocator is memblock behind
# the bootmem interface (CONFIG_NO_BOOTMEM, mm/nobootmem.c) in that revision.
X86_KCONFIG = "arch/x86/Kconfig"
# Arch flows: the arch file that sets up the percpu areas, built into a
# translation unit of its own (as in the kernel: its statics may clash with
# mm/percpu.c's, x86's pcpul_map() with the lpage allocator's pcpul_map).
ARCH_FILES = {
    "x86": "arch/x86/kernel/setup_percpu.c",
    "sparc64": "arch/sparc/kernel/smp_64.c",
    # The generic NUMA setup arm64 and riscv use (5.11 on).
    "arch_numa": "drivers/base/arch_numa.c",
}

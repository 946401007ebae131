#ifndef _SHIM_ASM_PAGE_H
#define _SHIM_ASM_PAGE_H
/* sparc64: 8K pages; a PMD entry maps PAGE_SIZE/8 pages. */
#ifndef SHIM_PAGE_SHIFT
#define SHIM_PAGE_SHIFT 13
#endif
#define PAGE_SHIFT SHIM_PAGE_SHIFT
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define PAGE_MASK (~(PAGE_SIZE - 1))
#define PMD_SHIFT (PAGE_SHIFT + (PAGE_SHIFT - 3))
#define PMD_SIZE (1UL << PMD_SHIFT)
#define PMD_MASK (~(PMD_SIZE - 1))
#define PMD_BITS (PAGE_SHIFT - 2)
#define PGDIR_SHIFT (PMD_SHIFT + PMD_BITS)
#define PGDIR_BITS (PAGE_SHIFT - 2)
#define __pa(x) shim_pa((const void *)(x))
#define __va(x) shim_va((unsigned long)(x))
#define __pa_symbol(x) __pa(x)
#endif

#ifndef _SHIM_ASM_PAGE_H
#define _SHIM_ASM_PAGE_H
/* PAGE_SHIFT is a build parameter: 12 for x86, 13 for sparc64. */
#ifndef SHIM_PAGE_SHIFT
#define SHIM_PAGE_SHIFT 12
#endif
#define PAGE_SHIFT SHIM_PAGE_SHIFT
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define PAGE_MASK (~(PAGE_SIZE - 1))
#define PMD_SHIFT 21
#define PMD_SIZE (1UL << PMD_SHIFT)
#define PMD_MASK (~(PMD_SIZE - 1))
#define __pa(x) shim_pa((const void *)(x))
#define __va(x) shim_va((unsigned long)(x))
#define __pa_symbol(x) __pa(x)
#endif

#ifndef _SHIM_LINUX_MM_H
#define _SHIM_LINUX_MM_H
#include <linux/kernel.h>
#include <linux/pfn.h>	/* PFN_ALIGN() and friends */
#include <linux/list.h>	/* struct list_head */
#include <linux/bitops.h>
#include <linux/cpumask.h>	/* for_each_possible_cpu() */
#include <linux/errno.h>
#include <asm/page.h>
typedef unsigned long pgprot_t;
#define PAGE_KERNEL ((pgprot_t)0x163)
#define virt_to_page(addr) shim_virt_to_page((const void *)(addr))
#define page_address(page) shim_page_address(page)
/*
 * map_kernel_range_noflush() (2.6.28 - 5.12): the chunk's pages mapped at
 * addr, returning the number of pages mapped until 5.7 and 0 from 5.8 on
 * (the revision's mm/vmalloc.c says which: harness/extract/stubs.py).
 * Not simulated: the page tables it walks and would allocate (the page
 * first chunk's populate_pte callback made them first), so it never fails.
 */
#ifdef SHIM_MAP_KERNEL_RANGE_RETURNS_ZERO
#define map_kernel_range_noflush(addr, size, prot, pages) \
	((void)shim_map_kernel_range(addr, size, pages), 0)
#else
#define map_kernel_range_noflush(addr, size, prot, pages) shim_map_kernel_range(addr, size, pages)
#endif
static inline void unmap_kernel_range_noflush(unsigned long addr, unsigned long size) { (void)addr; (void)size; }
#define offset_in_page(p) ((unsigned long)(p) & ~PAGE_MASK)
/* PAGE_ALIGNED() (mm.h, 3.x on): an address or size on a page boundary */
#define PAGE_ALIGNED(addr) (((unsigned long)(addr) & (PAGE_SIZE - 1)) == 0)
#define GFP_KERNEL 0xd0u
#define __GFP_HIGHMEM 0x02u
#define __GFP_ZERO 0x8000u
#endif

#ifndef _SHIM_X86_ASM_PGTABLE_H
#define _SHIM_X86_ASM_PGTABLE_H
#include <linux/mm.h>
#include <linux/vmalloc.h>	/* VMALLOC_START, VMALLOC_END */
/* A PMD maps one large page; the shim keeps one per 2M of the vmalloc
 * region so that what the lpage allocator maps can be read back. */
typedef struct { unsigned long pmd; } pmd_t;
#define PAGE_KERNEL_LARGE ((pgprot_t)0x1e3)
#define _PAGE_PSE 0x080UL
pmd_t *shim_x86_populate_extra_pmd(unsigned long vaddr);
void shim_x86_populate_extra_pte(unsigned long vaddr);
unsigned long shim_page_to_pfn(const struct page *page);
#define populate_extra_pmd(vaddr) shim_x86_populate_extra_pmd(vaddr)
#ifdef SHIM_X86_PTE_FROM_MEMBLOCK
/* 5.4 on (the arch file on memblock): x86_64's populate_extra_pte() fills
 * the missing levels with spp_getpage() pages from memblock_alloc(), and
 * panics when one cannot be had; the stub the modern generation's page
 * table callbacks use does that (runtime/vm.c). */
#define populate_extra_pte(vaddr) shim_fc_populate_pte_memblock(vaddr)
#else
#define populate_extra_pte(vaddr) shim_x86_populate_extra_pte(vaddr)
#endif
#define page_to_pfn(page) shim_page_to_pfn(page)
static inline pmd_t pfn_pmd(unsigned long pfn, pgprot_t prot)
{
	return (pmd_t){ (pfn << PAGE_SHIFT) | prot };
}
void shim_x86_set_pmd(pmd_t *pmdp, pmd_t v);
#define set_pmd(pmdp, v) shim_x86_set_pmd(pmdp, v)
#endif

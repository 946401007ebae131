/*
 * sparc64's kernel page tables, three levels with the pud folded: pgd and
 * pmd entries are 32 bits holding a physical address >> 11, pte pages hold
 * 64-bit entries.  Table pages are the bootmem pages the arch code
 * allocates itself, so a mapping can be walked back (shim_arch_translate).
 */
#ifndef _SHIM_SPARC64_ASM_PGTABLE_H
#define _SHIM_SPARC64_ASM_PGTABLE_H
#include <linux/mm.h>
typedef struct { unsigned long pte; } pte_t;
typedef struct { unsigned int pmd; } pmd_t;
typedef struct { unsigned int pgd; } pgd_t;
typedef pgd_t pud_t;
struct mm_struct { int unused; };
extern struct mm_struct init_mm;
#define PTRS_PER_PTE (1UL << (PAGE_SHIFT - 3))
#define PTRS_PER_PMD (1UL << PMD_BITS)
#define PTRS_PER_PGD (1UL << PGDIR_BITS)
extern pgd_t shim_sparc_pg_dir[PTRS_PER_PGD];
#define pte_val(x) ((x).pte)
#define pgd_index(a) (((a) >> PGDIR_SHIFT) & (PTRS_PER_PGD - 1))
#define pgd_offset_k(a) (&shim_sparc_pg_dir[pgd_index(a)])
#define pud_offset(pgd, a) ((pud_t *)(pgd))
#define pud_none(x) (!(x).pgd)
#define pud_populate(mm, pudp, table) ((pudp)->pgd = (unsigned int)(__pa(table) >> 11))
#define pmd_offset(pudp, a) \
	((pmd_t *)__va((unsigned long)(pudp)->pgd << 11) + (((a) >> PMD_SHIFT) & (PTRS_PER_PMD - 1)))
#define pmd_present(x) ((x).pmd != 0)
#define pmd_populate_kernel(mm, pmdp, table) ((pmdp)->pmd = (unsigned int)(__pa(table) >> 11))
#define pte_offset_kernel(pmdp, a) \
	((pte_t *)__va((unsigned long)(pmdp)->pmd << 11) + (((a) >> PAGE_SHIFT) & (PTRS_PER_PTE - 1)))
/* TTE bits: a physical address keeps bits 13..42 clear of them. */
#define _PAGE_VALID (1UL << 63)
#define _PAGE_SZ4MB_4U (3UL << 61)
#define _PAGE_CP_4U 0x20UL
#define _PAGE_CV_4U 0x10UL
#define _PAGE_P_4U 0x04UL
#define _PAGE_W_4U 0x02UL
#define _PAGE_SZ4MB_4V 0x03UL
#define _PAGE_CP_4V 0x400UL
#define _PAGE_CV_4V 0x200UL
#define _PAGE_P_4V 0x100UL
#define _PAGE_W_4V 0x40UL
#define SHIM_TTE_PADDR_MASK 0x000007ffffffe000UL
unsigned long shim_page_to_pfn(const struct page *page);
#define page_to_pfn(page) shim_page_to_pfn(page)
/* sun4v: the hypervisor's TTE format */
enum ultra_tlb_layout { spitfire = 0, cheetah = 1, cheetah_plus = 2, hypervisor = 3 };
extern enum ultra_tlb_layout tlb_type;
#endif

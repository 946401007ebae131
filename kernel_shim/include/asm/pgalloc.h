#ifndef _SHIM_ASM_PGALLOC_H
#define _SHIM_ASM_PGALLOC_H
#include <linux/mm.h>
#include <shim/runtime.h>
/*
 * Kernel page tables, simulated: four levels below the pgd, each a
 * PAGE_SIZE table of entries holding the next table's address (0: none).
 * The tables are the memblock pages the kernel code allocates itself; the
 * vmap of the page first chunk refuses an address whose pte table is
 * missing, as the kernel's "pte already populated" comment expects.
 */
typedef struct { unsigned long v; } pgd_t;
typedef struct { unsigned long v; } p4d_t;
typedef struct { unsigned long v; } pud_t;
typedef struct { unsigned long v; } pmd_t;
typedef struct { unsigned long v; } pte_t;
struct mm_struct { int shim_unused; };
extern struct mm_struct init_mm;
#define pgd_offset_k(addr) ((pgd_t *)shim_pgd_entry(addr))
#define p4d_offset(pgd, addr) ((p4d_t *)(pgd)->v + SHIM_PT_INDEX((addr), 3))
#define pud_offset(p4d, addr) ((pud_t *)(p4d)->v + SHIM_PT_INDEX((addr), 2))
#define pmd_offset(pud, addr) ((pmd_t *)(pud)->v + SHIM_PT_INDEX((addr), 1))
#define pgd_none(e) ((e).v == 0)
#define p4d_none(e) ((e).v == 0)
#define pud_none(e) ((e).v == 0)
#define pmd_none(e) ((e).v == 0)
#define pmd_present(e) ((e).v != 0)
#define pgd_populate(mm, pgd, p4d) ((void)(mm), (pgd)->v = (unsigned long)(p4d))
#define pgd_populate_kernel(addr, pgd, p4d) ((void)(addr), (pgd)->v = (unsigned long)(p4d))
#define p4d_populate(mm, p4d, pud) ((void)(mm), (p4d)->v = (unsigned long)(pud))
#define p4d_populate_kernel(addr, p4d, pud) ((void)(addr), (p4d)->v = (unsigned long)(pud))
#define pud_populate(mm, pud, pmd) ((void)(mm), (pud)->v = (unsigned long)(pmd))
#define pmd_populate_kernel(mm, pmd, pte) \
	((void)(mm), (pmd)->v = (unsigned long)(pte), shim_note_pte_table())
#endif

/*
 * sparc64 around setup_per_cpu_areas(): the trap-block offsets, the kernel
 * page directory pcpu_map_range() fills in, and the walk that reads a
 * mapping back so the static copies are checked where the code put them.
 */
#include <shim/config.h>
#include <linux/kernel.h>
#include <linux/bootmem.h>
#include <asm/pgtable.h>
#include <asm/percpu.h>
#include <asm/prom.h>
#include <asm/mdesc.h>

pgd_t shim_sparc_pg_dir[PTRS_PER_PGD];
unsigned long shim_sparc_per_cpu_base[NR_CPUS];
unsigned long __local_per_cpu_offset;
enum ultra_tlb_layout tlb_type = hypervisor;
struct mm_struct init_mm;

void shim_arch_prepare(void) {}

void of_fill_in_cpu_data(void) { shim_trace_leave(shim_trace_enter("of_fill_in_cpu_data")); }
void mdesc_fill_in_cpu_data(const void *mask)
{
	(void)mask;
	shim_trace_leave(shim_trace_enter("mdesc_fill_in_cpu_data"));
}

unsigned long shim_page_to_pfn(const struct page *page)
{
	return shim_pa(shim_page_address(page)) >> PAGE_SHIFT;
}

const void *shim_arch_translate(const void *addr)
{
	unsigned long a = (unsigned long)addr;
	pgd_t *pgd;
	pmd_t *pmd;
	pte_t *pte;

	if (a < (unsigned long)shim_vmalloc_base)
		return addr;
	pgd = pgd_offset_k(a);
	if (pud_none(*pgd))
		return NULL;
	pmd = pmd_offset(pgd, a);
	if (!pmd_present(*pmd))
		return NULL;
	pte = pte_offset_kernel(pmd, a);
	if (!(pte_val(*pte) & _PAGE_VALID))
		return NULL;
	return __va((pte_val(*pte) & SHIM_TTE_PADDR_MASK) + (a & ~PAGE_MASK));
}

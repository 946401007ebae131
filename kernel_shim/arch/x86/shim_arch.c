/*
 * x86_64 around setup_per_cpu_areas(): the per-cpu variables it fills in,
 * the boot-time arrays it copies them from, and the page-table helpers it
 * maps large pages with.  Built with the kernel stubs, linked beside the
 * arch file's real code.
 */
#include <shim/config.h>
#include <linux/kernel.h>
#include <linux/bootmem.h>
#include <asm/processor.h>

DEFINE_PER_CPU(union irq_stack_union, irq_stack_union);
DEFINE_PER_CPU(char *, irq_stack_ptr);
DEFINE_PER_CPU(int, node_number);
DEFINE_PER_CPU(u16, x86_cpu_to_apicid);
DEFINE_PER_CPU(u16, x86_bios_cpu_apicid);
DEFINE_PER_CPU(int, x86_cpu_to_node_map);
DEFINE_PER_CPU(u32, x86_cpu_to_acpiid);
DEFINE_PER_CPU(int, numa_node);
DEFINE_PER_CPU(struct pcpu_hot, pcpu_hot);

u16 shim_early_x86_cpu_to_apicid[NR_CPUS];
u16 shim_early_x86_bios_cpu_apicid[NR_CPUS];
int shim_early_x86_cpu_to_node_map[NR_CPUS];
u32 shim_early_x86_cpu_to_acpiid[NR_CPUS];
void *shim_early_ptr_x86_cpu_to_apicid;
void *shim_early_ptr_x86_bios_cpu_apicid;
void *shim_early_ptr_x86_cpu_to_node_map;
void *shim_early_ptr_x86_cpu_to_acpiid;
unsigned int boot_cpu_id;

/* One PMD per 2M of the simulated vmalloc region (1 TiB). */
#define SHIM_NR_PMDS (1UL << (40 - PMD_SHIFT))
static pmd_t pmds[SHIM_NR_PMDS];

void shim_arch_prepare(void)
{
	unsigned int c;

	boot_cpu_id = shim_boot_cpu();
	for_each_possible_cpu(c) {
		/* The APIC ids the firmware reported: any distinct values do. */
		shim_early_x86_cpu_to_apicid[c] = (u16)(c * 2 + 1);
		shim_early_x86_bios_cpu_apicid[c] = (u16)(c * 2 + 1);
		shim_early_x86_cpu_to_node_map[c] = cpu_to_node(c);
		shim_early_x86_cpu_to_acpiid[c] = (u32)c;
	}
	shim_early_ptr_x86_cpu_to_apicid = shim_early_x86_cpu_to_apicid;
	shim_early_ptr_x86_bios_cpu_apicid = shim_early_x86_bios_cpu_apicid;
	shim_early_ptr_x86_cpu_to_node_map = shim_early_x86_cpu_to_node_map;
	shim_early_ptr_x86_cpu_to_acpiid = shim_early_x86_cpu_to_acpiid;
}

bool shim_x86_cpu_has_pse(void)
{
	int ev = shim_trace_enter("cpu_has_pse");
	bool pse = shim_case.pse;

	SHIM_TRACE_RET(ev, pse);
	return pse;
}

void switch_to_new_gdt(int cpu)
{
	int ev = shim_trace_enter("switch_to_new_gdt");

	SHIM_TRACE_ARG(ev, "cpu", cpu);
	shim_trace_leave(ev);
}

void setup_node_to_cpumask_map(void) { shim_trace_leave(shim_trace_enter("setup_node_to_cpumask_map")); }
void setup_cpu_local_masks(void) { shim_trace_leave(shim_trace_enter("setup_cpu_local_masks")); }

pmd_t *shim_x86_populate_extra_pmd(unsigned long vaddr)
{
	unsigned long off = vaddr - (unsigned long)shim_vmalloc_base;

	if (vaddr < (unsigned long)shim_vmalloc_base || (off >> PMD_SHIFT) >= SHIM_NR_PMDS)
		panic("populate_extra_pmd: %#lx is outside the vmalloc area", vaddr);
	shim_fc_map(NULL, PMD_SIZE, (void *)vaddr);
	return &pmds[off >> PMD_SHIFT];
}

/*
 * A large page mapped at a vmalloc address.  The shim has no aliasing, so
 * the bytes the page holds are copied to the address as it is mapped, as
 * the generic map callback does (shim_fc_map): code that fills a page and
 * then maps it (the lpage allocator until a530b795861) reads its data back
 * at the mapped address, as does code that maps first and writes through
 * the mapping (after).  Writes through the page's own address after it is
 * mapped would not show at the mapping; no revision makes any.
 */
void shim_x86_set_pmd(pmd_t *pmdp, pmd_t v)
{
	unsigned long idx = (unsigned long)(pmdp - pmds);

	*pmdp = v;
	if (idx < SHIM_NR_PMDS && (v.pmd & _PAGE_PSE))
		shim_copy_held(shim_vmalloc_base + (idx << PMD_SHIFT),
			       shim_va(v.pmd & PAGE_MASK), PMD_SIZE);
}

void shim_x86_populate_extra_pte(unsigned long vaddr)
{
	shim_fc_populate_pte(vaddr);
}

unsigned long shim_page_to_pfn(const struct page *page)
{
	return shim_pa(shim_page_address(page)) >> PAGE_SHIFT;
}

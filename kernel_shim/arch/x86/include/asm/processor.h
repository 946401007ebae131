/* x86_64 as setup_per_cpu_areas() sees it. */
#ifndef _SHIM_X86_ASM_PROCESSOR_H
#define _SHIM_X86_ASM_PROCESSOR_H
#include <linux/types.h>
#include <linux/topology.h>
#include <asm/percpu.h>
#include <asm/pgtable.h>

/* x86_64: IRQ_STACK_ORDER 2 */
#define IRQ_STACK_SIZE (PAGE_SIZE << 2)
union irq_stack_union {
	char irq_stack[IRQ_STACK_SIZE];
	struct {
		char gs_base[40];
		unsigned long stack_canary;
	};
};
DECLARE_PER_CPU(union irq_stack_union, irq_stack_union);
DECLARE_PER_CPU(char *, irq_stack_ptr);
DECLARE_PER_CPU(int, node_number);
DECLARE_PER_CPU(u16, x86_cpu_to_apicid);
DECLARE_PER_CPU(u16, x86_bios_cpu_apicid);
DECLARE_PER_CPU(int, x86_cpu_to_node_map);
/* 4.9 on: the ACPI processor ids, copied like the APIC ids. */
DECLARE_PER_CPU(u32, x86_cpu_to_acpiid);
/* 6.2 - 6.14: the hot per-cpu fields in one cache line (asm/current.h);
 * setup_per_cpu_areas() writes only the cpu number, the rest is opaque. */
struct pcpu_hot {
	void *shim_task;
	int shim_preempt_count;
	int cpu_number;
	unsigned long shim_rest[6];
};
DECLARE_PER_CPU(struct pcpu_hot, pcpu_hot);
/* set_cpu_numa_node() (include/linux/topology.h, 2.6.35 on, with
 * CONFIG_USE_PERCPU_NUMA_NODE_ID as x86 has it): the cpu's copy of
 * numa_node takes the node, a write into its unit like the kernel's. */
DECLARE_PER_CPU(int, numa_node);
#define set_cpu_numa_node(cpu, node) ((void)(per_cpu(numa_node, (cpu)) = (node)))

/* The boot-time arrays the per-cpu copies are filled from. */
#define early_per_cpu_map(name, idx) (shim_early_##name[idx])
#define early_per_cpu_ptr(name) (shim_early_ptr_##name)
extern u16 shim_early_x86_cpu_to_apicid[NR_CPUS];
extern u16 shim_early_x86_bios_cpu_apicid[NR_CPUS];
extern int shim_early_x86_cpu_to_node_map[NR_CPUS];
extern u32 shim_early_x86_cpu_to_acpiid[NR_CPUS];
extern void *shim_early_ptr_x86_cpu_to_apicid;
extern void *shim_early_ptr_x86_bios_cpu_apicid;
extern void *shim_early_ptr_x86_cpu_to_node_map;
extern void *shim_early_ptr_x86_cpu_to_acpiid;

extern unsigned int boot_cpu_id;
/* A feature test the case decides; the flow's trace records the answer. */
#define cpu_has_pse shim_x86_cpu_has_pse()
bool shim_x86_cpu_has_pse(void);

/* CPU state the boot cpu reloads: nothing percpu-diff can observe. */
void switch_to_new_gdt(int cpu);
static inline void setup_stack_canary_segment(int cpu) { (void)cpu; }	/* x86_32 only */
/* 6.2 on: the boot cpu's GDT and GS base, switch_to_new_gdt() renamed. */
#define switch_gdt_and_percpu_base(cpu) switch_to_new_gdt(cpu)
/* 4.19 on: copies the kernel's half of swapper_pg_dir into the initial page
 * table; x86_64 has nothing to sync (pgtable_64.h: an empty inline). */
static inline void sync_initial_page_table(void) { }
void setup_node_to_cpumask_map(void);
void setup_cpu_local_masks(void);
#define nr_cpumask_bits NR_CPUS
#endif

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

/* The boot-time arrays the per-cpu copies are filled from. */
#define early_per_cpu_map(name, idx) (shim_early_##name[idx])
#define early_per_cpu_ptr(name) (shim_early_ptr_##name)
extern u16 shim_early_x86_cpu_to_apicid[NR_CPUS];
extern u16 shim_early_x86_bios_cpu_apicid[NR_CPUS];
extern int shim_early_x86_cpu_to_node_map[NR_CPUS];
extern void *shim_early_ptr_x86_cpu_to_apicid;
extern void *shim_early_ptr_x86_bios_cpu_apicid;
extern void *shim_early_ptr_x86_cpu_to_node_map;

extern unsigned int boot_cpu_id;
/* A feature test the case decides; the flow's trace records the answer. */
#define cpu_has_pse shim_x86_cpu_has_pse()
bool shim_x86_cpu_has_pse(void);

/* CPU state the boot cpu reloads: nothing percpu-diff can observe. */
void switch_to_new_gdt(int cpu);
static inline void setup_stack_canary_segment(int cpu) { (void)cpu; }	/* x86_32 only */
void setup_node_to_cpumask_map(void);
void setup_cpu_local_masks(void);
#define nr_cpumask_bits NR_CPUS
#endif

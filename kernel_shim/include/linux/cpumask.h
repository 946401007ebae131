#ifndef _SHIM_LINUX_CPUMASK_H
#define _SHIM_LINUX_CPUMASK_H
#include <linux/bitops.h>
#include <shim/runtime.h>
/* The possible mask and nr_cpu_ids come from the case being booted. */
#define nr_cpu_ids shim_nr_cpu_ids
#define cpu_possible(cpu) ((cpu) < NR_CPUS && test_bit((cpu), shim_possible_bits))
static inline unsigned int shim_next_possible(int cpu)
{
	for (cpu++; cpu < (int)shim_nr_cpu_ids; cpu++)
		if (test_bit(cpu, shim_possible_bits))
			return cpu;
	return shim_nr_cpu_ids;
}
#define for_each_possible_cpu(cpu) \
	for ((cpu) = shim_next_possible(-1); (cpu) < shim_nr_cpu_ids; (cpu) = shim_next_possible(cpu))
#define num_possible_cpus() ((int)shim_case.nr_possible)
#endif

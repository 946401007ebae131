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
/* The struct cpumask API of modern kernels over the same bits; masks are
 * nr_cpu_ids wide, as the kernel's small_cpumask_bits. */
struct cpumask { unsigned long bits[(NR_CPUS + 63) / 64]; };
#define cpumask_bits(m) ((m)->bits)
#define cpu_possible_mask ((const struct cpumask *)shim_possible_bits)
#define cpumask_pr_args(m) (int)nr_cpu_ids, cpumask_bits(m)
static inline void cpumask_clear(struct cpumask *m) { memset(m->bits, 0, sizeof(m->bits)); }
static inline void cpumask_copy(struct cpumask *d, const struct cpumask *s) { *d = *s; }
static inline void cpumask_clear_cpu(unsigned int cpu, struct cpumask *m) { __clear_bit(cpu, m->bits); }
static inline void cpumask_set_cpu(unsigned int cpu, struct cpumask *m) { __set_bit(cpu, m->bits); }
static inline unsigned int cpumask_first(const struct cpumask *m) { return find_first_bit(m->bits, nr_cpu_ids); }
static inline unsigned int cpumask_next(int n, const struct cpumask *m) { return find_next_bit(m->bits, nr_cpu_ids, n + 1); }
static inline bool cpumask_empty(const struct cpumask *m) { return cpumask_first(m) >= nr_cpu_ids; }
static inline bool cpumask_test_cpu(int cpu, const struct cpumask *m) { return test_bit(cpu, m->bits); }
/*
 * cpumask_scnprintf() (2.6.29 - 4.0; 4.1 on print masks with %*pb): the
 * mask as comma-separated 32-bit hex chunks, most significant first, over
 * nr_cpumask_bits bits, which is NR_CPUS without CONFIG_CPUMASK_OFFSTACK
 * (the shim's configuration); written as scnprintf() writes, cut at len - 1
 * characters and NUL-terminated, returning what was written (lib/bitmap.c's
 * bitmap_scnprintf()).  Not simulated: nothing; the format is printk.c's.
 */
static inline int cpumask_scnprintf(char *buf, int len, const struct cpumask *srcp)
{
	return shim_bitmap_scnprintf(buf, len, cpumask_bits(srcp), NR_CPUS);
}
#define for_each_cpu(cpu, m) \
	for ((cpu) = cpumask_first(m); (cpu) < nr_cpu_ids; (cpu) = cpumask_next((cpu), (m)))
#endif

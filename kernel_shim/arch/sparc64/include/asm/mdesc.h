#ifndef _SHIM_SPARC64_ASM_MDESC_H
#define _SHIM_SPARC64_ASM_MDESC_H
#include <linux/cpumask.h>
void mdesc_fill_in_cpu_data(const void *mask);
#define cpu_all_mask ((const void *)shim_possible_bits)
#endif

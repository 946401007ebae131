#ifndef _SHIM_ASM_PERCPU_H
#define _SHIM_ASM_PERCPU_H
/* asm-generic/percpu.h: the offsets live in __per_cpu_offset[]. */
#include <shim/percpu_vars.h>
extern unsigned long __per_cpu_offset[NR_CPUS];
#define per_cpu_offset(x) (__per_cpu_offset[x])
#endif

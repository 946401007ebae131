#ifndef _SHIM_ASM_PERCPU_H
#define _SHIM_ASM_PERCPU_H
/* sparc64 keeps each cpu's offset in its trap block and the running
 * cpu's in %g5. */
#include <shim/percpu_vars.h>
extern unsigned long shim_sparc_per_cpu_base[NR_CPUS];
#define __per_cpu_offset(cpu) (shim_sparc_per_cpu_base[(cpu)])
#define per_cpu_offset(x) (__per_cpu_offset(x))
extern unsigned long __local_per_cpu_offset;
#endif

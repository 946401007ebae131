#ifndef _SHIM_ASM_SECTIONS_H
#define _SHIM_ASM_SECTIONS_H
#include <shim/runtime.h>
/* Sized by the case: __per_cpu_end - __per_cpu_start is its static size. */
#define __per_cpu_start shim_per_cpu_start
#define __per_cpu_end shim_per_cpu_end
#define __per_cpu_load ((char *)SHIM_STATIC_LOAD)
#endif

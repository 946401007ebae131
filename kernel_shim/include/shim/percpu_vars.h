/*
 * Per-cpu variables.  In the kernel the linker places every DEFINE_PER_CPU
 * variable between __per_cpu_start and __per_cpu_end, and per_cpu(var, cpu)
 * is the variable's address shifted by the cpu's offset.  Here the
 * variables are linked into a section of their own; per_cpu() moves an
 * address from that section to the same place in the simulated static area
 * (__per_cpu_start, sized by the case), then shifts it by the offset the
 * kernel computed: the kernel's arithmetic, landing in the memory the first
 * chunk really holds, where the sanitizers watch it.
 */
#ifndef _SHIM_PERCPU_VARS_H
#define _SHIM_PERCPU_VARS_H
#include <shim/runtime.h>
extern char __start_shim_percpu[], __stop_shim_percpu[];
#define per_cpu_var(var) per_cpu__##var
#define DECLARE_PER_CPU(t, n) extern __typeof__(t) per_cpu__##n
#define DEFINE_PER_CPU(t, n) __attribute__((section("shim_percpu"))) __typeof__(t) per_cpu__##n
/* The placement variants (include/linux/percpu-defs.h: READ_MOSTLY 2.6.36
 * on, CACHE_HOT 6.15 on) only pick a subsection of the per-cpu area: here
 * every variable lands in the one section, which no observable depends on. */
#define DEFINE_PER_CPU_READ_MOSTLY(t, n) DEFINE_PER_CPU(t, n)
#define DECLARE_PER_CPU_READ_MOSTLY(t, n) DECLARE_PER_CPU(t, n)
#define DEFINE_PER_CPU_CACHE_HOT(t, n) DEFINE_PER_CPU(t, n)
#define DECLARE_PER_CPU_CACHE_HOT(t, n) DECLARE_PER_CPU(t, n)
#define DEFINE_PER_CPU_PAGE_ALIGNED(t, n) DEFINE_PER_CPU(t, n)
#define DECLARE_PER_CPU_PAGE_ALIGNED(t, n) DECLARE_PER_CPU(t, n)
#define DEFINE_PER_CPU_SHARED_ALIGNED(t, n) DEFINE_PER_CPU(t, n)
#define DECLARE_PER_CPU_SHARED_ALIGNED(t, n) DECLARE_PER_CPU(t, n)
#define EXPORT_PER_CPU_SYMBOL(var) extern int shim_export_percpu_##var
#define EXPORT_PER_CPU_SYMBOL_GPL(var) extern int shim_export_percpu_##var
#define SHIM_PERCPU_IMAGE(ptr) \
	((__typeof__(ptr))(shim_per_cpu_start + ((char *)(ptr) - __start_shim_percpu)))
#define SHIFT_PERCPU_PTR(ptr, off) ((__typeof__(ptr))((char *)SHIM_PERCPU_IMAGE(ptr) + (off)))
#define per_cpu(var, cpu) (*SHIFT_PERCPU_PTR(&per_cpu_var(var), per_cpu_offset(cpu)))
/* Bytes of per-cpu variables the flow writes: the static area must hold them. */
#define SHIM_PERCPU_VARS_SIZE ((unsigned long)(__stop_shim_percpu - __start_shim_percpu))
#endif

#ifndef _SHIM_LINUX_COMPILER_H
#define _SHIM_LINUX_COMPILER_H
/* Section and placement annotations mean nothing in userspace. */
#define __init
#define __initdata
#define __initconst
#define __ro_after_init
#define __weak __attribute__((weak))
#define __flatten
#define __read_mostly
#define __exit
#define __cpuinit
#define __ref
#define __user
#define __percpu
#define __iomem
#define __must_check
#define __maybe_unused __attribute__((unused))
#undef __always_inline
#define __always_inline inline __attribute__((always_inline))
#define noinline __attribute__((noinline))
#define ____cacheline_aligned_in_smp __attribute__((aligned(64)))
#define __cacheline_aligned
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define uninitialized_var(x) x = x
#define ACCESS_ONCE(x) (*(volatile __typeof__(x) *)&(x))
#endif

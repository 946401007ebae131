#ifndef _SHIM_LINUX_KERNEL_H
#define _SHIM_LINUX_KERNEL_H
#include <linux/types.h>
#include <limits.h>
#include <string.h>
#include <stdio.h>
#include <linux/bug.h>
#include <linux/printk.h>
#include <linux/log2.h>	/* as the kernel's: ilog2(), order_base_2() and friends */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN(x, a) (((x) + ((__typeof__(x))(a) - 1)) & ~((__typeof__(x))(a) - 1))
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define roundup(x, y) ((((x) + ((y) - 1)) / (y)) * (y))
#define rounddown(x, y) ((x) - ((x) % (y)))
/* round_up()/round_down() (kernel.h, 2.6.3x on): x rounded to a multiple
 * of y, a power of two as documented there, by masking in x's type (no
 * division; a y that is not a power of two gives whatever the mask gives,
 * as there).  round_up() wraps to 0 past the type's top, as there. */
#define round_up(x, y) (((x) + ((__typeof__(x))((y) - 1))) & ~((__typeof__(x))((y) - 1)))
#define round_down(x, y) ((x) & ~((__typeof__(x))((y) - 1)))
#define min(x, y) ({ __typeof__(x) _a = (x); __typeof__(y) _b = (y); (void)(&_a == &_b); _a < _b ? _a : _b; })
#define max(x, y) ({ __typeof__(x) _a = (x); __typeof__(y) _b = (y); (void)(&_a == &_b); _a > _b ? _a : _b; })
#define min_t(t, x, y) ({ t _a = (x); t _b = (y); _a < _b ? _a : _b; })
#define max_t(t, x, y) ({ t _a = (x); t _b = (y); _a > _b ? _a : _b; })
#define clamp(v, lo, hi) min(max(v, lo), hi)
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)
/* <linux/overflow.h>: the size of a struct with a flexible array member,
 * saturating at SIZE_MAX as the kernel's does */
#define struct_size(p, member, count) ({					\
	size_t __n = (count), __e = sizeof(*(p)->member), __s;			\
	__builtin_mul_overflow(__n, __e, &__s) ||				\
	__builtin_add_overflow(__s, sizeof(*(p)), &__s) ? SIZE_MAX : __s; })
#define SMP_CACHE_BYTES 64
#define L1_CACHE_BYTES 64
#endif

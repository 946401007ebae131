#ifndef _SHIM_LINUX_LOG2_H
#define _SHIM_LINUX_LOG2_H
#include <linux/bitops.h>
#define ilog2(n) ((int)__fls((unsigned long)(n)))
static inline int is_power_of_2(unsigned long n) { return n != 0 && (n & (n - 1)) == 0; }
#define rounddown_pow_of_two(n) (1UL << ilog2(n))
#define roundup_pow_of_two(n) ((n) <= 1 ? 1UL : 1UL << (ilog2((n) - 1) + 1))
/* the order of the smallest power of two not below n; 0 for 0 and 1 */
#define order_base_2(n) ilog2(roundup_pow_of_two(n))
#endif

#ifndef _SHIM_LINUX_BITOPS_H
#define _SHIM_LINUX_BITOPS_H
#include <linux/types.h>
#define BITS_TO_LONGS(nr) DIV_ROUND_UP(nr, BITS_PER_BYTE * sizeof(long))
#define BIT_WORD(nr) ((nr) / BITS_PER_LONG)
#define BIT_MASK(nr) (1UL << ((nr) % BITS_PER_LONG))
static inline int fls(int x) { return x ? 32 - __builtin_clz((unsigned int)x) : 0; }
static inline int fls64(unsigned long long x) { return x ? 64 - __builtin_clzll(x) : 0; }
static inline unsigned long __fls(unsigned long x) { return 63 - __builtin_clzl(x); }
static inline unsigned long __ffs(unsigned long x) { return __builtin_ctzl(x); }
static inline int test_bit(long nr, const unsigned long *addr) { return 1UL & (addr[BIT_WORD(nr)] >> (nr % BITS_PER_LONG)); }
static inline void __set_bit(long nr, unsigned long *addr) { addr[BIT_WORD(nr)] |= BIT_MASK(nr); }
static inline void __clear_bit(long nr, unsigned long *addr) { addr[BIT_WORD(nr)] &= ~BIT_MASK(nr); }
#define set_bit __set_bit
#define clear_bit __clear_bit
static inline int hweight_long(unsigned long w) { return __builtin_popcountl(w); }
#endif

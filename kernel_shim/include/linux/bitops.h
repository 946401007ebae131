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
/* <linux/find.h>: the first set (clear) bit at or after @offset, or @size */
static inline unsigned long shim_find_next(const unsigned long *addr, unsigned long size,
					   unsigned long offset, int want_set)
{
	for (; offset < size; offset++)
		if (test_bit(offset, addr) == want_set)
			return offset;
	return size;
}
#define find_next_bit(addr, size, offset) shim_find_next((addr), (size), (offset), 1)
#define find_next_zero_bit(addr, size, offset) shim_find_next((addr), (size), (offset), 0)
#define find_first_bit(addr, size) shim_find_next((addr), (size), 0, 1)
#define find_first_zero_bit(addr, size) shim_find_next((addr), (size), 0, 0)
/* Each run [b, e) of clear bits, from @b on. */
#define for_each_clear_bitrange_from(b, e, addr, size)				\
	for ((b) = find_next_zero_bit((addr), (size), (b)),			\
	     (e) = find_next_bit((addr), (size), (b));				\
	     (b) < (size);							\
	     (b) = find_next_zero_bit((addr), (size), (e)),			\
	     (e) = find_next_bit((addr), (size), (b)))
#define for_each_set_bitrange_from(b, e, addr, size)				\
	for ((b) = find_next_bit((addr), (size), (b)),				\
	     (e) = find_next_zero_bit((addr), (size), (b));			\
	     (b) < (size);							\
	     (b) = find_next_bit((addr), (size), (e)),				\
	     (e) = find_next_zero_bit((addr), (size), (b)))
/*
 * <linux/bitmap.h> of 5.6 - 5.19: the runs [rs, re) of clear (set) bits in
 * [start, end), each as long as it goes; the next*_region() form moves rs
 * to the next run's start and re to its end (both end when there is none).
 * The later for_each_*_bitrange() above are the same walk.
 */
static inline unsigned int shim_run_end(const unsigned long *map, unsigned int end,
					unsigned int from, int run_of_set)
{
	return from < end ? (unsigned int)shim_find_next(map, end, from + 1, !run_of_set) : end;
}
#define bitmap_next_clear_region(map, rs, re, end)				\
	(*(rs) = shim_find_next((map), (end), *(rs), 0),			\
	 *(re) = shim_run_end((map), (end), *(rs), 0), (void)0)
#define bitmap_next_set_region(map, rs, re, end)				\
	(*(rs) = shim_find_next((map), (end), *(rs), 1),			\
	 *(re) = shim_run_end((map), (end), *(rs), 1), (void)0)
#define bitmap_for_each_clear_region(map, rs, re, start, end)			\
	for ((rs) = shim_find_next((map), (end), (start), 0),			\
	     (re) = shim_run_end((map), (end), (rs), 0);			\
	     (rs) < (re);							\
	     (rs) = shim_find_next((map), (end), (re), 0),			\
	     (re) = shim_run_end((map), (end), (rs), 0))
#define bitmap_for_each_set_region(map, rs, re, start, end)			\
	for ((rs) = shim_find_next((map), (end), (start), 1),			\
	     (re) = shim_run_end((map), (end), (rs), 1);			\
	     (rs) < (re);							\
	     (rs) = shim_find_next((map), (end), (re), 1),			\
	     (re) = shim_run_end((map), (end), (rs), 1))
static inline int hweight_long(unsigned long w) { return __builtin_popcountl(w); }
#endif

#ifndef _SHIM_LINUX_BITMAP_H
#define _SHIM_LINUX_BITMAP_H
#include <linux/kernel.h>
#include <linux/bitops.h>
static inline void bitmap_zero(unsigned long *dst, unsigned int nbits) { memset(dst, 0, BITS_TO_LONGS(nbits) * sizeof(long)); }
static inline void bitmap_fill(unsigned long *dst, unsigned int nbits)
{
	unsigned int full = nbits / BITS_PER_LONG, rest = nbits % BITS_PER_LONG;
	memset(dst, 0xff, full * sizeof(long));
	if (rest)
		dst[full] = (1UL << rest) - 1;
}
static inline int bitmap_weight(const unsigned long *src, unsigned int nbits)
{
	int w = 0;
	for (unsigned int i = 0; i < nbits; i++)
		w += test_bit(i, src);
	return w;
}
static inline int bitmap_full(const unsigned long *src, unsigned int nbits) { return bitmap_weight(src, nbits) == (int)nbits; }
static inline void bitmap_set(unsigned long *map, unsigned int start, int len) { for (int i = 0; i < len; i++) __set_bit(start + i, map); }
static inline void bitmap_clear(unsigned long *map, unsigned int start, int len) { for (int i = 0; i < len; i++) __clear_bit(start + i, map); }
static inline void bitmap_copy(unsigned long *dst, const unsigned long *src, unsigned int nbits) { memcpy(dst, src, BITS_TO_LONGS(nbits) * sizeof(long)); }
#endif

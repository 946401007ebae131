#ifndef _SHIM_LINUX_MEMBLOCK_H
#define _SHIM_LINUX_MEMBLOCK_H
#include <linux/mm.h>
#include <linux/numa.h>
#include <asm/dma.h>
#include <shim/runtime.h>
/*
 * memblock, simulated (runtime/memblock.c): top-down first fit, zeroed,
 * exact frees, one pool for every node.  Each era's interface is a macro
 * here, so a source gets the one it calls; where two eras gave one name
 * two signatures (memblock_free()), the argument's type picks.  What each
 * keeps and leaves out is in the README's "Stubs by era".
 *
 * fail_bootmem counts the calls whose interface lets them fail, as the
 * case field says: memblock_alloc*() (NULL to the caller, 4.20 on),
 * memblock_virt_alloc*_nopanic() (3.13 - 4.19), and
 * memblock_alloc_or_panic(), which is memblock_alloc() with the caller's
 * panic moved inside (its kernel-doc).  memblock_virt_alloc() and
 * memblock_virt_alloc_node() panic inside the allocator, like bootmem's
 * alloc_bootmem(), and are not counted, as those are not.
 */
#define MEMBLOCK_LOW_LIMIT 0
#define MEMBLOCK_ALLOC_ACCESSIBLE 0

/* 4.20 on: memblock_alloc_try_nid() and its wrappers.  NULL when nothing
 * fits; min_addr is a preference (tried first, then dropped); max_addr is
 * ACCESSIBLE in every caller the shim builds, which is all of memory. */
#define memblock_alloc(size, align) \
	shim_memblock_alloc((size), (align), MEMBLOCK_LOW_LIMIT, NUMA_NO_NODE, __func__)
#define memblock_alloc_from(size, align, min_addr) \
	shim_memblock_alloc((size), (align), (min_addr), NUMA_NO_NODE, __func__)
#define memblock_alloc_try_nid(size, align, min_addr, max_addr, nid) \
	((void)(max_addr), shim_memblock_alloc((size), (align), (min_addr), (nid), __func__))

/* 6.13 on (mm/memblock.c __memblock_alloc_or_panic()): memblock_alloc(),
 * and panic("%s: Failed to allocate %pap bytes") naming the caller (%pap:
 * 0x and 16 hex digits). */
#define memblock_alloc_or_panic(bytes, align) \
	shim_memblock_alloc_or_panic((bytes), (align), __func__)
static inline void *shim_memblock_alloc_or_panic(unsigned long bytes, unsigned long align,
						 const char *caller)
{
	void *got = shim_memblock_alloc(bytes, align, MEMBLOCK_LOW_LIMIT, NUMA_NO_NODE, caller);

	if (!got)
		panic("%s: Failed to allocate 0x%016lx bytes\n", caller, bytes);
	return got;
}

/*
 * 3.13 - 4.19 with CONFIG_NO_BOOTMEM (include/linux/bootmem.h there;
 * mm/memblock.c memblock_virt_alloc_internal()): align 0 means
 * SMP_CACHE_BYTES, the low limit is 0 (BOOTMEM_LOW_LIMIT without bootmem),
 * a min_addr that cannot be met is dropped, memory is zeroed.  The
 * _nopanic ones return NULL; the others panic in
 * memblock_virt_alloc_try_nid().  Not simulated: the bootmem fallbacks of
 * !CONFIG_NO_BOOTMEM arches (the same names over __alloc_bootmem(),
 * bottom-up from MAX_DMA_ADDRESS), kmemleak, the slab-available kzalloc.
 */
#define memblock_virt_alloc(size, align) \
	shim_memblock_alloc_nofail((size), (align), MEMBLOCK_LOW_LIMIT, NUMA_NO_NODE, \
				   "memblock_virt_alloc_try_nid")
#define memblock_virt_alloc_node(size, nid) \
	shim_memblock_alloc_nofail((size), 0, MEMBLOCK_LOW_LIMIT, (nid), \
				   "memblock_virt_alloc_try_nid")
#define memblock_virt_alloc_nopanic(size, align) \
	shim_memblock_alloc((size), (align), MEMBLOCK_LOW_LIMIT, NUMA_NO_NODE, __func__)
#define memblock_virt_alloc_from_nopanic(size, align, min_addr) \
	shim_memblock_alloc((size), (align), (min_addr), NUMA_NO_NODE, __func__)
#define memblock_virt_alloc_node_nopanic(size, nid) \
	shim_memblock_alloc((size), 0, MEMBLOCK_LOW_LIMIT, (nid), __func__)
#define memblock_virt_alloc_try_nid_nopanic(size, align, min_addr, max_addr, nid) \
	((void)(max_addr), shim_memblock_alloc((size), (align), (min_addr), (nid), __func__))

/*
 * Frees: exactly the bytes named, no page rounding (memblock_remove_range()
 * of the reserved ranges), whichever era.  memblock_free() took a physical
 * base until 5.15 and takes the virtual pointer from 5.16 on (the physical
 * one became memblock_phys_free()); the argument's type says which the
 * source means.  memblock_free_early() (3.13 - 5.15) and
 * memblock_free_ptr() (5.15) are the same free.
 */
static inline const void *shim_memblock_phys_addr(unsigned long long base)
{
	return shim_va((unsigned long)base);
}
static inline const void *shim_memblock_virt_addr(const void *ptr) { return ptr; }
#define SHIM_MEMBLOCK_ADDR(addr) _Generic((addr),				\
	int: shim_memblock_phys_addr, unsigned int: shim_memblock_phys_addr,	\
	long: shim_memblock_phys_addr, unsigned long: shim_memblock_phys_addr,	\
	long long: shim_memblock_phys_addr,					\
	unsigned long long: shim_memblock_phys_addr,				\
	default: shim_memblock_virt_addr)(addr)
#define memblock_free(addr, size) shim_memblock_free(SHIM_MEMBLOCK_ADDR(addr), (size))
#define memblock_phys_free(base, size) shim_memblock_free(shim_memblock_phys_addr(base), (size))
#define memblock_free_early(base, size) \
	shim_memblock_free(shim_memblock_phys_addr(base), (size))
#define memblock_free_ptr(ptr, size) shim_memblock_free((ptr), (size))
#endif

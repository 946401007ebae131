#ifndef _SHIM_LINUX_MEMBLOCK_H
#define _SHIM_LINUX_MEMBLOCK_H
#include <linux/mm.h>
#include <linux/numa.h>
#include <asm/dma.h>
#include <shim/runtime.h>
/* memblock, simulated: top-down, zeroed, NULL on failure, exact frees. */
#define MEMBLOCK_LOW_LIMIT 0
#define MEMBLOCK_ALLOC_ACCESSIBLE 0
#define memblock_alloc(size, align) \
	shim_memblock_alloc((size), (align), MEMBLOCK_LOW_LIMIT, NUMA_NO_NODE, __func__)
#define memblock_alloc_from(size, align, min_addr) \
	shim_memblock_alloc((size), (align), (min_addr), NUMA_NO_NODE, __func__)
#define memblock_alloc_try_nid(size, align, min_addr, max_addr, nid) \
	((void)(max_addr), shim_memblock_alloc((size), (align), (min_addr), (nid), __func__))
#define memblock_free(ptr, size) shim_memblock_free((ptr), (size))
#endif

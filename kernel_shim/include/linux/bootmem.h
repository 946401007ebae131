#ifndef _SHIM_LINUX_BOOTMEM_H
#define _SHIM_LINUX_BOOTMEM_H
#include <linux/mm.h>	/* __pa(), PAGE_SIZE, SMP_CACHE_BYTES */
#include <shim/runtime.h>
/*
 * Boot memory is simulated (runtime/bootmem.c), as mm/bootmem.c gives it
 * out, 2009 - 3.x: first fit upwards from the goal (MAX_DMA_ADDRESS for
 * the alloc_bootmem*() forms), then from 0; blocks zeroed; the _nopanic
 * forms return NULL and are the ones fail_bootmem counts, the others panic;
 * free_bootmem() gives back whole pages only.  Not simulated: nobootmem.c,
 * the memblock-backed bootmem of x86 (2.6.35 on) and later other arches,
 * which places top-down and frees exact bytes; per-node bootmem maps (one
 * pool; __alloc_bootmem_node() records the node asked for).
 */
#include <asm/dma.h>
/* 3.13 - 4.19 declare the memblock_virt_alloc*() interface here. */
#include <linux/memblock.h>
#define alloc_bootmem(x) shim_bootmem_alloc((x), SMP_CACHE_BYTES, __pa(MAX_DMA_ADDRESS), false, __func__)
#define alloc_bootmem_nopanic(x) shim_bootmem_alloc((x), SMP_CACHE_BYTES, __pa(MAX_DMA_ADDRESS), true, __func__)
#define alloc_bootmem_pages(x) shim_bootmem_alloc((x), PAGE_SIZE, __pa(MAX_DMA_ADDRESS), false, __func__)
#define __alloc_bootmem(x, align, goal) shim_bootmem_alloc((x), (align), (goal), false, __func__)
#define __alloc_bootmem_nopanic(x, align, goal) shim_bootmem_alloc((x), (align), (goal), true, __func__)
#define __alloc_bootmem_node(pgdat, x, align, goal) shim_bootmem_alloc_node((pgdat), (x), (align), (goal), false, __func__)
#define __alloc_bootmem_node_nopanic(pgdat, x, align, goal) shim_bootmem_alloc_node((pgdat), (x), (align), (goal), true, __func__)
#define free_bootmem(addr, size) shim_bootmem_free((addr), (size))

/*
 * An arch whose Kconfig turns on CONFIG_NO_BOOTMEM (x86, 2.6.35 - 4.19;
 * harness/extract/stubs.py) gets the bootmem interface from mm/nobootmem.c,
 * over memblock: __alloc_bootmem_nopanic() and __alloc_bootmem_node_nopanic()
 * find memblock's highest free range at or above the goal (the node's first,
 * then any node's), drop the goal when nothing fits there, zero the block
 * and return NULL when nothing fits at all; free_bootmem() frees exactly
 * the bytes named.  One pool for every node, as memblock.c keeps it (the
 * node asked for is recorded).  Only the arch flow's translation unit is
 * built so: mm/percpu.c's own calls keep the bootmem of the generic build.
 * Not simulated: the slab-available kzalloc() fallback, kmemleak, the
 * panicking forms (the x86 flow calls none).
 */
#ifdef SHIM_ARCH_NO_BOOTMEM
#undef __alloc_bootmem_nopanic
#undef __alloc_bootmem_node_nopanic
#undef free_bootmem
#define __alloc_bootmem_nopanic(x, align, goal) \
	shim_memblock_alloc((x), (align), (goal), NUMA_NO_NODE, __func__)
#define __alloc_bootmem_node_nopanic(pgdat, x, align, goal) \
	shim_memblock_alloc((x), (align), (goal), (pgdat)->node_id, __func__)
#define free_bootmem(addr, size) shim_memblock_free(shim_va(addr), (size))
#endif
#endif

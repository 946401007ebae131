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
#endif

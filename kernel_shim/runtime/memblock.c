/*
 * memblock, the boot allocator of newer kernels, on the same arena, node
 * layout and held ranges as bootmem.c, so that both allocators' traffic is
 * reported alike.  It differs where the kernel's differs: top-down
 * placement within a node, zeroed memory, and frees of exactly the bytes
 * named.  Every call that may fail counts towards fail_bootmem; the
 * panicking memblock_virt_alloc() of 3.13 - 4.19 is not one.  Not
 * simulated: memblock never handing out the first page
 * (memblock_find_in_range_node() raises the lower limit to PAGE_SIZE),
 * memory mirroring, current_limit, kmemleak, bottom-up mode.
 */
#include "internal.h"

/*
 * The highest place for [size] at @align in free memory of @mem at or above
 * @min_addr: memblock's top-down search (__memblock_find_range_top_down()
 * over the free ranges of one node's memory).
 */
static bool memblock_fit_in(struct range mem, unsigned long min_addr, unsigned long size,
			    unsigned long align, unsigned long *found)
{
	unsigned long lo = mem.start > min_addr ? mem.start : min_addr;

	if (mem.end <= lo || mem.end - lo < size)
		return false;
	for (size_t i = held_first_ending_after(mem.end) + 1; i-- > 0;) {
		unsigned long gap_start = i ? bm.held[i - 1].end : 0;
		unsigned long gap_end = i < bm.nr_held && bm.held[i].start < mem.end ?
					bm.held[i].start : mem.end;
		unsigned long start;

		if (gap_end >= size) {
			start = (gap_end - size) & ~(align - 1);
			if (start >= gap_start && start >= lo) {
				*found = start;
				return true;
			}
		}
		if (gap_start <= lo)	/* the gaps below lie outside */
			break;
	}
	return false;
}

/* memblock_find_in_range_node(): in @nid's memory, or for NUMA_NO_NODE in
 * all of it from the top, node by node (regions of two nodes never merge). */
static bool memblock_find(int nid, unsigned long min_addr, unsigned long size,
			  unsigned long align, unsigned long *found)
{
	if (nid >= 0)
		return nid < bm.nr_mem_nodes &&
		       memblock_fit_in(bm.node_mem[nid], min_addr, size, align, found);
	for (int n = bm.nr_mem_nodes; n-- > 0;)
		if (memblock_fit_in(bm.node_mem[n], min_addr, size, align, found))
			return true;
	return false;
}

/*
 * memblock_alloc_range_nid() (and memblock_virt_alloc_internal(), 3.13 -
 * 4.19, and nobootmem.c's ___alloc_bootmem_node_nopanic()): the node asked
 * for, then any node (no caller the shim builds asks for exact_nid), both
 * at or above min_addr; then both again without the lower limit, as
 * memblock_alloc_internal() retries.
 */
static bool memblock_place(int nid, unsigned long min_addr, unsigned long size,
			   unsigned long align, unsigned long *found)
{
	for (;;) {
		if (memblock_find(nid, min_addr, size, align, found) ||
		    (nid >= 0 && memblock_find(-1, min_addr, size, align, found)))
			return true;
		if (!min_addr)
			return false;
		min_addr = 0;
	}
}

/* The allocation itself: highest fit, zeroed, NULL when nothing fits. */
static void *memblock_alloc_core(unsigned long size, unsigned long align, unsigned long min_addr,
				 int nid, const char *caller)
{
	unsigned long start, redzone_end;
	size_t next;

	if (!align)
		align = 64;
	if (align & (align - 1))
		shim_panic(__FILE__, __LINE__, "%s: memblock alignment %lu is not a power of two",
			   caller, align);
	if (size == 0 || !memblock_place(nid, min_addr, size, align, &start))
		return NULL;
	SHIM_UNPOISON(shim_arena_base + start, size);
	zero_block(start, start + size);
	/* A red zone after the block, up to the next block held, as
	 * bootmem.c keeps: a sanitized build reports a write past the end of
	 * what was asked for, which memblock's blocks, placed top-down below
	 * the previous ones, would otherwise let land unseen in the gap or in
	 * the block above.  The kernel has no red zones: this only sees. */
	redzone_end = start + size + REDZONE;
	next = held_first_ending_after(start + size);
	if (next < bm.nr_held && bm.held[next].start < redzone_end)
		redzone_end = bm.held[next].start;
	SHIM_POISON(shim_arena_base + start + size, redzone_end - (start + size));
	held_insert(start, start + size);
	bm.allocated += size;
	bm.nr_allocs++;
	if (nid >= 0 && nid < SHIM_MAX_NODES) {
		bm.node_directed = true;
		bm.node_bytes[nid] += size;
	}
	return shim_arena_base + start;
}

void *shim_memblock_alloc(unsigned long size, unsigned long align, unsigned long min_addr,
			  int nid, const char *caller)
{
	bool injected = shim_case.fail_bootmem >= 0 && bm.nopanic_calls++ == shim_case.fail_bootmem;
	void *got = injected ? NULL : memblock_alloc_core(size, align, min_addr, nid, caller);

	if (!got)
		bm.nr_failed++;
	return got;
}

/*
 * memblock_virt_alloc_try_nid() (3.13 - 4.19): the same allocation, and
 * its panic, with its message, when nothing fits.  The case's fail_bootmem
 * does not count it: it is not an allocation the caller sees fail.
 */
void *shim_memblock_alloc_nofail(unsigned long size, unsigned long align, unsigned long min_addr,
				 int nid, const char *caller)
{
	void *ptr = memblock_alloc_core(size, align, min_addr, nid, caller);

	if (ptr)
		return ptr;
	bm.nr_failed++;
	shim_panic(__FILE__, __LINE__, "%s: Failed to allocate %lu bytes align=0x%lx nid=%d "
		   "from=0x%lx max_addr=0x%lx\n", caller, size, align ? align : 64UL, nid,
		   min_addr, 0UL);
}

/* memblock_free(): exactly the bytes named, whole pages or not. */
void shim_memblock_free(const void *ptr, unsigned long size)
{
	unsigned long phys = shim_pa(ptr), end = phys + size, held;

	bm.nr_frees++;
	if (!size)
		return;
	held = end > phys ? held_overlap(phys, end) : 0;
	if (held != size)
		note_bad_free(phys, size, held);
	/* memblock removes whatever part of the range is reserved */
	for (size_t i = held_first_ending_after(phys); i < bm.nr_held && bm.held[i].start < end;
	     i = held_first_ending_after(end))
		held_release(i, phys, end);
	SHIM_POISON(shim_arena_base + phys, size);
	bm.freed += held;
}

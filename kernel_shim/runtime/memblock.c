/*
 * memblock, the boot allocator of newer kernels, on the same arena and
 * held ranges as bootmem.c, so that both allocators' traffic is reported
 * alike.  It differs where the kernel's differs: top-down placement,
 * zeroed memory, and frees of exactly the bytes named.
 */
#include "internal.h"

/*
 * memblock_alloc*(): the highest free range at or above min_addr that fits
 * (memblock allocates top-down), zeroed; NULL when nothing fits, which the
 * callers check.  Every such call may fail, so fail_bootmem counts them
 * all; the panicking memblock_virt_alloc() of 3.13 - 4.19 is not one.
 */
static bool memblock_fit(unsigned long min_addr, unsigned long size, unsigned long align,
			 unsigned long *found)
{
	for (size_t i = bm.nr_held + 1; i-- > 0;) {
		unsigned long gap_start = i ? bm.held[i - 1].end : 0;
		unsigned long gap_end = i < bm.nr_held ? bm.held[i].start : bm.limit;
		unsigned long start;

		if (gap_end < size || gap_end <= min_addr)
			continue;
		start = (gap_end - size) & ~(align - 1);
		if (start >= gap_start && start >= min_addr) {
			*found = start;
			return true;
		}
	}
	return false;
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
	/* memblock_alloc_range_nid(): min_addr is a hint; below it is tried next */
	if (size == 0 || (!memblock_fit(min_addr, size, align, &start) &&
			  !(min_addr && memblock_fit(0, size, align, &start))))
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

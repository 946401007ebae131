/*
 * Boot memory: one arena of address space whose held ranges are tracked
 * exactly, so that partial frees, frees of memory never held and what the
 * first chunk still holds at the end can all be reported.  The bootmem
 * interface (__alloc_bootmem(), free_bootmem()) is here; memblock.c works
 * on the same ranges.  The arena is the machine's memory, laid out node
 * by node (lay_out_nodes()), and both allocators place node-directed
 * blocks in their node's memory as the kernel's do.  Under ASan a red zone follows each block and freed
 * memory is poisoned.
 */
#include "internal.h"

unsigned long shim_pa(const void *addr) { return (unsigned long)addr - (unsigned long)shim_arena_base; }
void *shim_va(unsigned long phys) { return shim_arena_base + phys; }

/* Index of the first held range ending after @addr (nr_held if none). */
static size_t held_first_ending_after(unsigned long addr)
{
	size_t lo = 0, hi = bm.nr_held;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (bm.held[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void held_insert(unsigned long start, unsigned long end)
{
	/* ranges are disjoint: the first one ending after start begins after it */
	size_t i = held_first_ending_after(start);
	/* merge with the predecessor and successor when adjacent */
	if (i > 0 && bm.held[i - 1].end == start) {
		bm.held[i - 1].end = end;
		if (i < bm.nr_held && bm.held[i].start == end) {
			bm.held[i - 1].end = bm.held[i].end;
			memmove(&bm.held[i], &bm.held[i + 1], (bm.nr_held - i - 1) * sizeof(bm.held[0]));
			bm.nr_held--;
		}
		return;
	}
	if (i < bm.nr_held && bm.held[i].start == end) {
		bm.held[i].start = start;
		return;
	}
	if (bm.nr_held == bm.cap_held) {
		bm.cap_held = bm.cap_held ? bm.cap_held * 2 : 256;
		bm.held = realloc(bm.held, bm.cap_held * sizeof(bm.held[0]));
		if (!bm.held)
			shim_panic(__FILE__, __LINE__, "shim: out of memory for bootmem ranges");
	}
	memmove(&bm.held[i + 1], &bm.held[i], (bm.nr_held - i) * sizeof(bm.held[0]));
	bm.held[i].start = start;
	bm.held[i].end = end;
	bm.nr_held++;
}

/* Index of the held range containing [start, end), or -1. */
static long held_find(unsigned long start, unsigned long end)
{
	size_t lo = 0, hi = bm.nr_held;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (bm.held[mid].end <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < bm.nr_held && bm.held[lo].start <= start && bm.held[lo].end >= end)
		return (long)lo;
	return -1;
}

static unsigned long overlap_in(const struct range *ranges, size_t n, unsigned long start,
				unsigned long end)
{
	unsigned long total = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned long s = ranges[i].start > start ? ranges[i].start : start;
		unsigned long e = ranges[i].end < end ? ranges[i].end : end;
		if (s < e)
			total += e - s;
	}
	return total;
}

static unsigned long held_overlap(unsigned long start, unsigned long end)
{
	return overlap_in(bm.held, bm.nr_held, start, end);
}

/* Copy to @dst the parts of [@src, @src + @size) that boot memory holds,
 * each at its own offset; @src lies in the arena. */
void shim_copy_held(void *dst, const void *src, unsigned long size)
{
	unsigned long start = shim_pa(src), end = start + size;

	for (size_t i = held_first_ending_after(start); i < bm.nr_held && bm.held[i].start < end; i++) {
		unsigned long s = bm.held[i].start > start ? bm.held[i].start : start;
		unsigned long e = bm.held[i].end < end ? bm.held[i].end : end;
		memcpy((char *)dst + (s - start), shim_va(s), e - s);
	}
}

/* Held range @i no longer holds [phys, end): what lies outside stays held. */
static void held_release(size_t i, unsigned long phys, unsigned long end)
{
	struct range r = bm.held[i];

	memmove(&bm.held[i], &bm.held[i + 1], (bm.nr_held - i - 1) * sizeof(bm.held[0]));
	bm.nr_held--;
	if (r.start < phys)
		held_insert(r.start, phys);
	if (end < r.end)
		held_insert(end, r.end);
}

/* A free of memory that was not (all) held: recorded, never applied blindly. */
static void note_bad_free(unsigned long phys, unsigned long size, unsigned long held)
{
	if (bm.nr_bad < MAX_BAD_FREES) {
		bm.bad[bm.nr_bad].phys = phys;
		bm.bad[bm.nr_bad].size = size;
		bm.bad[bm.nr_bad].unheld = size - held;
	}
	bm.nr_bad++;
	bm.bad_free_bytes += size;
}

/* held_at_setup (internal.h) is what notes.c measures the chunk against. */
void shim_note_setup_entry(void)
{
	free(held_at_setup);
	held_at_setup = malloc((bm.nr_held + 1) * sizeof(*held_at_setup));
	if (!held_at_setup)
		shim_panic(__FILE__, __LINE__, "shim: out of memory for bootmem ranges");
	memcpy(held_at_setup, bm.held, bm.nr_held * sizeof(*held_at_setup));
	nr_held_at_setup = bm.nr_held;
}

/*
 * First fit of [size] at @align, searching from @from up to @limit: the
 * lowest free range that holds it, freed memory included, as the bootmem
 * bitmap gives it out.
 */
static bool bootmem_fit(unsigned long from, unsigned long limit, unsigned long size,
			unsigned long align, unsigned long *found)
{
	unsigned long start = (from + align - 1) & ~(align - 1);

	for (size_t i = held_first_ending_after(start); i <= bm.nr_held; i++) {
		unsigned long gap_end = i < bm.nr_held ? bm.held[i].start : limit;

		if (gap_end > limit)
			gap_end = limit;
		if (start < start + size && start + size <= gap_end) {
			*found = start;
			return true;
		}
		if (i == bm.nr_held || start >= limit)
			break;
		if (bm.held[i].end > start)
			start = (bm.held[i].end + align - 1) & ~(align - 1);
		if (start < bm.held[i].end)	/* wrapped */
			return false;
	}
	return false;
}

/*
 * Zero [start, end) of the arena, as both boot allocators hand memory out.
 * Whole pages are dropped instead of written (the arena is private
 * anonymous memory, so they read back as zeroes and cost nothing until
 * touched, which keeps a 4096-cpu boot from faulting in every unit twice);
 * the partial pages at either end are cleared byte by byte.  Exact even
 * where the kernel code wrote outside what it was given.
 */
static void zero_block(unsigned long start, unsigned long end)
{
	unsigned long first = (start + SHIM_PAGE_SIZE - 1) & ~(SHIM_PAGE_SIZE - 1);
	unsigned long last = end & ~(SHIM_PAGE_SIZE - 1);

	if (first >= last || madvise(shim_arena_base + first, last - first, MADV_DONTNEED)) {
		memset(shim_arena_base + start, 0, end - start);
		return;
	}
	memset(shim_arena_base + start, 0, first - start);
	memset(shim_arena_base + last, 0, end - last);
}

/*
 * The machine's memory node by node, from address 0 up in node order, as
 * the case gives it (node_memory, which adds up to bootmem_size): the
 * layout QEMU's `-numa node,memdev=` gives a guest, and the order the
 * kernel's bootmem_data list and memblock's regions keep.  A kernel built
 * without CONFIG_NUMA has one node, 0, holding all of it.
 */
static void lay_out_nodes(void)
{
#ifdef SHIM_CONFIG_NUMA
	unsigned long at = 0;

	bm.nr_mem_nodes = shim_case.nr_node_memory;
	for (int n = 0; n < bm.nr_mem_nodes; n++) {
		bm.node_mem[n].start = at;
		at += shim_case.node_memory[n];
		bm.node_mem[n].end = at;
	}
#else
	bm.nr_mem_nodes = 1;
	bm.node_mem[0].start = 0;
	bm.node_mem[0].end = bm.limit;
#endif
}

/* alloc_bootmem_core() on node @nid: first fit from the goal when the goal
 * lies inside the node, from the node's start otherwise, up to its end. */
static bool bootmem_fit_node(int nid, unsigned long goal, unsigned long size, unsigned long align,
			     unsigned long *found)
{
	struct range mem = bm.node_mem[nid];
	unsigned long from = goal > mem.start && goal < mem.end ? goal : mem.start;

	return mem.end > mem.start && bootmem_fit(from, mem.end, size, align, found);
}

/*
 * Where bootmem places a block (mm/bootmem.c, 2009 - 3.x): a node-directed
 * call (__alloc_bootmem_node*()) tries its node first; then
 * ___alloc_bootmem_nopanic() walks every node in address order, skipping
 * those wholly below the goal, and walks them all again from 0 when the
 * goal cannot be met.  A block never spans two nodes.
 */
static bool bootmem_place(int nid, unsigned long size, unsigned long align, unsigned long goal,
			  unsigned long *found)
{
	if (nid >= 0 && nid < bm.nr_mem_nodes && bootmem_fit_node(nid, goal, size, align, found))
		return true;
	for (;;) {
		for (int n = 0; n < bm.nr_mem_nodes; n++) {
			if (goal && bm.node_mem[n].end <= goal)
				continue;
			if (bootmem_fit_node(n, goal, size, align, found))
				return true;
		}
		if (!goal)
			return false;
		goal = 0;
	}
}

static void *bootmem_alloc_nid(int nid, unsigned long size, unsigned long align,
			       unsigned long goal, bool may_fail, const char *caller)
{
	unsigned long start, end, redzone_end;
	size_t next;

	/* mm/bootmem.c's alloc_bootmem_core() BUGs on a zero-sized request,
	 * the nopanic variants included (2009 - 2011, as far as bootmem.c
	 * served percpu) */
	if (size == 0)
		shim_bug(__FILE__, __LINE__, "alloc_bootmem_core: !size");
	if (may_fail && shim_case.fail_bootmem >= 0 && bm.nopanic_calls++ == shim_case.fail_bootmem)
		goto fail;
	if (!align)
		align = SHIM_PAGE_SIZE;
	if (align & (align - 1))
		shim_panic(__FILE__, __LINE__, "%s: bootmem alignment %lu is not a power of two",
			   caller, align);
	if (!bootmem_place(nid, size, align, goal, &start))
		goto fail;
	end = start + size;
	SHIM_UNPOISON(shim_arena_base + start, size);
	/* alloc_bootmem_core() zeroes every block */
	zero_block(start, end);
	/* A red zone after the block, up to the next block held. */
	redzone_end = end + REDZONE;
	next = held_first_ending_after(end);
	if (next < bm.nr_held && bm.held[next].start < redzone_end)
		redzone_end = bm.held[next].start;
	SHIM_POISON(shim_arena_base + end, redzone_end - end);
	held_insert(start, end);
	bm.allocated += size;
	bm.nr_allocs++;
	return shim_arena_base + start;
fail:
	bm.nr_failed++;
	if (may_fail)
		return NULL;
	shim_panic(__FILE__, __LINE__, "Out of memory: %s could not allocate %lu bytes from bootmem",
		   caller, size);
}

void *shim_bootmem_alloc(unsigned long size, unsigned long align, unsigned long goal,
			 bool may_fail, const char *caller)
{
	return bootmem_alloc_nid(-1, size, align, goal, may_fail, caller);
}

void *shim_bootmem_alloc_node(struct pglist_data *pgdat, unsigned long size, unsigned long align,
			      unsigned long goal, bool may_fail, const char *caller)
{
	int nid = pgdat ? pgdat->node_id : -1;
	void *p = bootmem_alloc_nid(nid, size, align, goal, may_fail, caller);

	/* the node asked for is recorded too, so locality can be checked */
	bm.node_directed = true;
	if (p && nid >= 0 && nid < SHIM_MAX_NODES)
		bm.node_bytes[nid] += size;
	return p;
}

void shim_bootmem_free(unsigned long phys, unsigned long size)
{
	unsigned long end = phys + size;
	long i;

	bm.nr_frees++;
	/* free_bootmem() returns whole pages only: a partial page at either
	 * end stays reserved, so the caller keeps it. */
	if (end >= phys) {
		phys = (phys + SHIM_PAGE_SIZE - 1) & ~(SHIM_PAGE_SIZE - 1);
		end &= ~(SHIM_PAGE_SIZE - 1);
		if (end <= phys)
			return;
		size = end - phys;
	}
	i = end > phys ? held_find(phys, end) : -1;
	if (i < 0) {
		note_bad_free(phys, size, end > phys ? held_overlap(phys, end) : 0);
		return;
	}
	held_release((size_t)i, phys, end);
	SHIM_POISON(shim_arena_base + phys, size);
	bm.freed += size;
}

/*
 * The first chunk callbacks the generic scenarios hand the kernel code
 * (allocate, free, map, populate, distances), and the counters that they
 * and an arch flow's own callbacks both feed, so the bootmem report counts
 * the callbacks' traffic whichever side provides them.
 */
#include "internal.h"

void shim_count_pcpu_fc_alloc(unsigned int cpu, size_t size, size_t align, const void *got)
{
	int node = cpu < NR_CPUS ? shim_case.node_of_cpu[cpu] : 0;

	(void)align;
	if (!got)
		return;
	if (bm.nr_fc_spans < MAX_FC_SPANS) {
		bm.fc_spans[bm.nr_fc_spans].phys = shim_pa(got);
		bm.fc_spans[bm.nr_fc_spans++].size = size;
	}
	bm.fc_allocs++;
	bm.fc_alloc_bytes += size;
	if (node >= 0 && node < SHIM_MAX_NODES)
		bm.fc_alloc_bytes_on_node[node] += size;
}

void shim_count_pcpu_fc_free(const void *ptr, size_t size)
{
	/* An allocation given back whole no longer places anything: what is
	 * allocated there later (a fallback's pages) shares no address with
	 * it.  One given back in part (a unit's tail) still spans its range. */
	for (int i = 0; i < bm.nr_fc_spans; i++) {
		if (bm.fc_spans[i].phys == shim_pa(ptr) && bm.fc_spans[i].size == size) {
			bm.fc_spans[i] = bm.fc_spans[--bm.nr_fc_spans];
			break;
		}
	}
	bm.fc_frees++;
	bm.fc_free_bytes += size;
}

void *shim_fc_alloc(unsigned int cpu, size_t size, size_t align)
{
	void *p;

	if (shim_case.fail_fc_alloc >= 0 && bm.fc_alloc_calls++ == shim_case.fail_fc_alloc)
		return NULL;
	p = shim_bootmem_alloc(size, align, 0, true, "pcpu_fc_alloc");
	shim_count_pcpu_fc_alloc(cpu, size, align, p);
	return p;
}

/*
 * pcpu_fc_alloc_fn_t of the first API's allocators took no alignment; the
 * arch's callback (x86 pcpu_fc_alloc()) asked bootmem for size-aligned
 * memory: pages for the 4k allocator, large pages for lpage.
 */
void *shim_fc_alloc_size_aligned(unsigned int cpu, size_t size)
{
	return shim_fc_alloc(cpu, size, size);
}

void shim_fc_free(void *ptr, size_t size)
{
	shim_count_pcpu_fc_free(ptr, size);
	shim_bootmem_free(shim_pa(ptr), size);
}

/* The DMA zone's end, as asm/dma.h puts it for the kernel code. */
#define FC_MEMBLOCK_GOAL (16UL << 20)

void *shim_fc_alloc_memblock(unsigned int cpu, size_t size, size_t align)
{
	void *p;

	if (shim_case.fail_fc_alloc >= 0 && bm.fc_alloc_calls++ == shim_case.fail_fc_alloc)
		return NULL;
	p = shim_memblock_alloc(size, align, FC_MEMBLOCK_GOAL, -1, "pcpu_fc_alloc");
	shim_count_pcpu_fc_alloc(cpu, size, align, p);
	return p;
}

void shim_fc_free_memblock(void *ptr, size_t size)
{
	shim_count_pcpu_fc_free(ptr, size);
	shim_memblock_free(ptr, size);
}

/*
 * The arch's map callback maps a large page at @ptr to @addr.  The shim
 * has no MMU to alias the two, so what the page holds is copied to where
 * it is mapped, as map_kernel_range_noflush()'s stub does: the parts still
 * held only (what was given back holds nothing the kernel may read, and
 * under ASan is poisoned).  Later writes through either address are not
 * carried over; the allocators write their static copies before mapping
 * (get_page's pcpu_lpage_first_chunk()) or after, through the mapping
 * (unit_map's).  x86's flow maps with no page (NULL): nothing to copy.
 */
void shim_fc_map(void *ptr, size_t size, void *addr)
{
	if (ptr)
		shim_copy_held(addr, ptr, size);
	bm.maps++;
}

void shim_fc_populate_pte(unsigned long addr)
{
	populate_kernel_tables(addr);
	bm.ptes++;
}

int shim_fc_cpu_to_node(int cpu)
{
	return shim_cpu_to_node((unsigned int)cpu);
}

int shim_cpu_distance(unsigned int from, unsigned int to)
{
	if (from >= NR_CPUS || to >= NR_CPUS)
		shim_bug(__FILE__, __LINE__, "cpu_distance_fn called with cpu >= NR_CPUS");
	return shim_case.distance[shim_case.node_of_cpu[from]][shim_case.node_of_cpu[to]];
}

/*
 * The arch's part of the first API (February - July 2009), for revisions
 * whose mm/percpu.c has no first chunk allocator of its own yet.
 *
 * pcpu_setup_first_chunk() then took a get_page_fn callback: the arch code
 * allocated the first chunk, filled every possible cpu's static area and
 * handed the pages over one by one (its kernel-doc: "@get_page_fn() should
 * return pointer to percpu page given cpu number and page number.  It should
 * at least return enough pages to cover the static area.  The returned
 * pages for static area should have been initialized with valid data ...
 * NULL return indicates end of pages for the cpu").  The glue plays that
 * arch code in the two ways the kernel-doc describes, which are what the
 * generic allocators later did (pcpu_4k_first_chunk() and
 * pcpu_embed_first_chunk() of mm/percpu.c, from March and July 2009):
 *
 * page: every possible cpu, in cpu order, gets one page per PAGE_SIZE of
 *   static data from the arch's first chunk allocator (shim_fc_alloc(), so
 *   counting and failure injection apply), filled with the static data;
 *   pcpu_setup_first_chunk() gets no base address and maps them itself.
 *   A failed allocation gives back every page allocated so far and ends
 *   the scenario with -ENOMEM before the setup runs.
 * embed: one block of boot memory (a fallible bootmem call) with a unit
 *   per cpu id, holes included: the first API puts cpu N's unit N units
 *   from the base.  Every possible cpu's unit gets the static data; all
 *   but the used pages of each possible cpu's unit, and the units of
 *   impossible cpus, go back to bootmem; the block is the base address,
 *   already mapped.  get_page_fn returns a cpu's used pages.
 *
 * Before the callback (pcpu_setup_static(), February 2009) the arch handed
 * the static pages over in one array, every possible cpu's in cpu order:
 * shim_glue_packed_pages() makes it from the page way's pages.
 *
 * Not simulated: the arch's page tables and large page mappings (the
 * shim's struct page handles stand for the pages), NUMA placement (the
 * allocator is asked for each cpu's pages, which is all it is told).
 */
#include "internal.h"

static struct page **glue_pages;	/* page: cpu * glue_nr_pages + pageno */
static struct page **glue_packed;	/* the same pages, possible cpus only */
static int glue_nr_pages;
static char *glue_base;			/* embed: the block, unit N for cpu N */
static unsigned long glue_unit_size, glue_used;

static bool glue_cpu_possible(unsigned int cpu)
{
	return shim_possible_bits[cpu / 64] & (1UL << (cpu % 64));
}

static void glue_copy_static(char *to, unsigned long offset, unsigned long size)
{
	unsigned long left = shim_case.static_size > offset ? shim_case.static_size - offset : 0;

	memcpy(to, shim_per_cpu_load + offset, size < left ? size : left);
}

int shim_glue_page_alloc(unsigned long static_size)
{
	unsigned int c;
	int i;

	glue_nr_pages = (int)((static_size + SHIM_PAGE_SIZE - 1) >> SHIM_PAGE_SHIFT);
	/* one slot at least: no static data (a case the setup refuses) is no page */
	glue_pages = calloc((size_t)shim_nr_cpu_ids * glue_nr_pages + 1, sizeof(glue_pages[0]));
	if (!glue_pages)
		shim_panic(__FILE__, __LINE__, "shim: out of memory for the glue's page table");
	for (c = 0; c < shim_nr_cpu_ids; c++) {
		if (!glue_cpu_possible(c))
			continue;
		for (i = 0; i < glue_nr_pages; i++) {
			char *ptr = shim_fc_alloc(c, SHIM_PAGE_SIZE, SHIM_PAGE_SIZE);

			if (!ptr)
				goto enomem;
			glue_copy_static(ptr, (unsigned long)i << SHIM_PAGE_SHIFT, SHIM_PAGE_SIZE);
			glue_pages[(size_t)c * glue_nr_pages + i] = shim_virt_to_page(ptr);
		}
	}
	return 0;
enomem:
	/* back in reverse order, every page allocated so far */
	for (long k = (long)shim_nr_cpu_ids * glue_nr_pages - 1; k >= 0; k--)
		if (glue_pages[k])
			shim_fc_free(shim_page_address(glue_pages[k]), SHIM_PAGE_SIZE);
	return -ENOMEM;
}

void *shim_glue_embed_alloc(unsigned long used, unsigned long unit_size)
{
	unsigned long keep = (used + SHIM_PAGE_SIZE - 1) & ~(SHIM_PAGE_SIZE - 1);
	unsigned long size = shim_nr_cpu_ids * unit_size;
	unsigned int c;

	glue_base = shim_bootmem_alloc(size, SHIM_PAGE_SIZE, 16UL << 20, true, "glue_embed");
	if (!glue_base)
		return NULL;
	glue_unit_size = unit_size;
	glue_used = used;
	for (c = 0; c < shim_nr_cpu_ids; c++) {
		char *unit = glue_base + c * unit_size;

		if (!glue_cpu_possible(c)) {
			shim_bootmem_free(shim_pa(unit), unit_size);
			continue;
		}
		glue_copy_static(unit, 0, shim_case.static_size);
		if (keep < unit_size)
			shim_bootmem_free(shim_pa(unit + keep), unit_size - keep);
	}
	return glue_base;
}

/* The get_page_fn of both ways (pcpu_get_page_fn_t). */
struct page *shim_glue_get_page(unsigned int cpu, int pageno)
{
	if (cpu >= shim_nr_cpu_ids || pageno < 0)
		return NULL;
	if (glue_pages)
		return pageno < glue_nr_pages ? glue_pages[(size_t)cpu * glue_nr_pages + pageno] : NULL;
	if (glue_base && (unsigned long)pageno << SHIM_PAGE_SHIFT < glue_used)
		return shim_virt_to_page(glue_base + cpu * glue_unit_size +
					 ((unsigned long)pageno << SHIM_PAGE_SHIFT));
	return NULL;
}

struct page **shim_glue_packed_pages(void)
{
	size_t n = 0;

	glue_packed = calloc((size_t)shim_nr_cpu_ids * glue_nr_pages + 1, sizeof(glue_packed[0]));
	if (!glue_packed)
		shim_panic(__FILE__, __LINE__, "shim: out of memory for the glue's page array");
	for (unsigned int cpu = 0; cpu < shim_nr_cpu_ids; cpu++)
		for (int i = 0; glue_cpu_possible(cpu) && i < glue_nr_pages; i++)
			glue_packed[n++] = glue_pages[(size_t)cpu * glue_nr_pages + i];
	return glue_packed;
}

/* The glue's own bookkeeping: the pages themselves stay the chunk's. */
void shim_glue_release(void)
{
	free(glue_pages);
	free(glue_packed);
	glue_pages = glue_packed = NULL;
}

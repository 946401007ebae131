/*
 * The virtual side of a first chunk: the early vm areas the page and lpage
 * allocators register, the kernel page tables the page first chunk fills,
 * and struct page handles.  The areas live in a region of their own, so
 * results name their addresses relative to it.
 */
#include "internal.h"

static unsigned long shim_pgd[SHIM_PAGE_SIZE / sizeof(unsigned long)];

unsigned long *shim_pgd_entry(unsigned long addr)
{
	unsigned int bits = SHIM_PAGE_SHIFT - 3;
	unsigned int shift = SHIM_PAGE_SHIFT + 4 * bits;

	return &shim_pgd[shift < 64 ? (addr >> shift) & ((1UL << bits) - 1) : 0];
}

/* weak: an arch shim (sparc64) may keep its own */
__attribute__((weak)) struct mm_struct { int shim_unused; } init_mm;

void shim_note_pte_table(void)
{
	bm.ptes++;
}

/*
 * The page tables an arch's populate_pte callback builds for @addr (x86's
 * populate_extra_pte(), before 5.18 handed to pcpu_page_first_chunk()):
 * every missing level down to the pte table.  The kernel code under test
 * never sees these tables' memory, so it is taken from the host, not from
 * the simulated boot memory: like the callback's counting before, the
 * arch's own early page allocator is not simulated.  Only the vmap of
 * 5.13 - 5.17 reads them (vmap_pages_range_noflush() needs them there).
 */
static void populate_kernel_tables(unsigned long addr)
{
	unsigned long *entry = shim_pgd_entry(addr);

	for (int level = 3; level >= 0; level--) {
		if (!*entry) {
			*entry = (unsigned long)calloc(SHIM_PAGE_SIZE / sizeof(unsigned long),
						       sizeof(unsigned long));
			if (!*entry)
				shim_panic(__FILE__, __LINE__, "shim: out of memory for page tables");
		}
		if (level == 0)
			break;
		entry = (unsigned long *)*entry + SHIM_PT_INDEX(addr, level);
	}
}

/*
 * The populate_pte callback of the modern generation's sources that still
 * take one (5.x, until 5.18 made pcpu_populate_pte() generic): what the
 * arch's did then and the generic one does since - every missing level
 * down to the pte table, each a page from memblock (counted by
 * fail_bootmem; a failure panics, as both did), pte tables counted as the
 * generic one's are (bootmem.ptes_populated).
 */
void shim_fc_populate_pte_memblock(unsigned long addr)
{
	unsigned long *entry = shim_pgd_entry(addr);

	for (int level = 3; level >= 0; level--) {
		if (!*entry) {
			void *table = shim_memblock_alloc(SHIM_PAGE_SIZE, SHIM_PAGE_SIZE, 0, -1,
							  "pcpu_populate_pte");

			if (!table)
				shim_panic(__FILE__, __LINE__,
					   "pcpu_populate_pte: Failed to allocate memory");
			*entry = (unsigned long)table;
			if (level == 0)
				bm.ptes++;
		}
		if (level == 0)
			break;
		entry = (unsigned long *)*entry + SHIM_PT_INDEX(addr, level);
	}
}

int shim_vmap_pages(unsigned long addr, unsigned long end, struct page **pages)
{
	(void)pages;
	bm.maps++;
	for (; addr < end; addr += SHIM_PAGE_SIZE) {
		unsigned long e = *shim_pgd_entry(addr);

		for (int level = 3; e && level >= 1; level--)
			e = ((unsigned long *)e)[SHIM_PT_INDEX(addr, level)];
		if (!e)
			return -ENOMEM;
	}
	return 0;
}

void *shim_vm_register(unsigned long size, unsigned long align)
{
	unsigned long start;

	if (!align)
		shim_panic(__FILE__, __LINE__, "vm_area_register_early: alignment 0");
	/* The kernel's ALIGN(): mask arithmetic, whatever align is.  A unit
	 * size that is not a power of two (lpage with a 3M unit, say) gets
	 * what the kernel would give it, not a refusal. */
	start = (bm.vm_cursor + align - 1) & ~(align - 1);
	if (start + size < start || start + size > REGION_RESERVE - REDZONE)
		shim_panic(__FILE__, __LINE__, "vm_area_register_early: %lu bytes do not fit", size);
	bm.vm_cursor = (start + size + SHIM_PAGE_SIZE - 1) & ~(SHIM_PAGE_SIZE - 1);
	if (bm.nr_vm < 16) {
		bm.vm[bm.nr_vm].offset = start;
		bm.vm[bm.nr_vm].size = size;
		bm.vm[bm.nr_vm].align = align;
	}
	bm.nr_vm++;
	SHIM_UNPOISON(shim_vmalloc_base + start, size);
	SHIM_POISON(shim_vmalloc_base + start + size, REDZONE);
	return shim_vmalloc_base + start;
}

unsigned long shim_vmalloc_size(void) { return shim_case.vmalloc_size; }

/* One byte of fake struct page per arena page, never dereferenced. */
#define PAGE_MAP_ADDR ((char *)0x6e0000000000UL)
struct page *shim_virt_to_page(const void *addr)
{
	return (struct page *)(PAGE_MAP_ADDR + (shim_pa(addr) >> SHIM_PAGE_SHIFT));
}

void *shim_page_address(const struct page *page)
{
	return shim_va((unsigned long)((const char *)page - PAGE_MAP_ADDR) << SHIM_PAGE_SHIFT);
}

/*
 * map_kernel_range_noflush(): the shim has no MMU to alias a page at a
 * second address, so mapping copies what each page holds to where it is
 * mapped.  Reads through the mapping right after it see the page, as in
 * the kernel (the first API's arch code filled the static pages before
 * pcpu_setup_first_chunk() mapped them); later writes through either
 * address are not carried over to the other (not simulated; the first
 * chunk code writes through the mapping only, after it is made).  The
 * vm areas are fresh zeroed memory, so a zero page needs no copy.
 */
int shim_map_kernel_range(unsigned long addr, unsigned long size, struct page **pages)
{
	static const char zero[SHIM_PAGE_SIZE];
	unsigned long nr = size >> SHIM_PAGE_SHIFT;

	bm.maps++;
	for (unsigned long i = 0; i < nr; i++) {
		const void *page = pages[i] ? shim_page_address(pages[i]) : NULL;

		if (page && memcmp(page, zero, SHIM_PAGE_SIZE))
			memcpy((char *)addr + (i << SHIM_PAGE_SHIFT), page, SHIM_PAGE_SIZE);
	}
	return (int)nr;
}

/* Overridden by the arch glue of a flow that keeps page tables. */
__attribute__((weak)) const void *shim_arch_translate(const void *addr) { return addr; }

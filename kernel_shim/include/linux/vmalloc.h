#ifndef _SHIM_LINUX_VMALLOC_H
#define _SHIM_LINUX_VMALLOC_H
#include <linux/types.h>
#include <shim/runtime.h>
#define VM_ALLOC 0x00000002
/* Only what the first-chunk code sets and reads. */
struct vm_struct {
	unsigned long flags, size;
	void *addr;
};
#define VMALLOC_START ((unsigned long)shim_vmalloc_base)
#define VMALLOC_END ((unsigned long)shim_vmalloc_base + shim_vmalloc_size())
#define VMALLOC_TOTAL (VMALLOC_END - VMALLOC_START)
static inline void shim_vm_area_register_early(struct vm_struct *vm, size_t align)
{
	vm->addr = shim_vm_register(vm->size, align);
}
/* vm_area_register_early(vm, align); before "vmalloc: add @align to
 * vm_area_register_early()" (February 2009) it took the vm alone and
 * placed areas a whole number of pages apart: page alignment. */
#define vm_area_register_early(...) shim_vm_area_register_early_(__VA_ARGS__, \
	(1UL << SHIM_PAGE_SHIFT), 0)
#define shim_vm_area_register_early_(vm, align, ...) shim_vm_area_register_early((vm), (align))
/*
 * The modern page first chunk maps through mm/internal.h's helper (5.13
 * on; 7.x added a gfp_t for the page tables it may allocate, hence the
 * variadic tail).  Simulated: the pages go where the pte tables are, and
 * an address whose pte table is missing is -ENOMEM.  Not simulated:
 * allocating missing page tables (percpu populates them first, from
 * memblock), huge mappings (page_shift is always PAGE_SHIFT there), prot.
 */
#define vmap_pages_range_noflush(addr, end, prot, pages, page_shift, ...) \
	((void)(prot), (void)(page_shift), shim_vmap_pages((addr), (end), (pages)))

#endif

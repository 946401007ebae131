#ifndef _SHIM_LINUX_VMALLOC_H
#define _SHIM_LINUX_VMALLOC_H
#include <linux/types.h>
#include <shim/runtime.h>
#define VM_ALLOC 0x00000002
struct vm_struct {
	struct vm_struct *next;
	void *addr;
	unsigned long size;
	unsigned long flags;
	struct page **pages;
	unsigned int nr_pages;
	unsigned long phys_addr;
	void *caller;
};
#define VMALLOC_START ((unsigned long)shim_vmalloc_base)
#define VMALLOC_END ((unsigned long)shim_vmalloc_base + shim_vmalloc_size())
static inline void vm_area_register_early(struct vm_struct *vm, size_t align)
{
	vm->addr = shim_vm_register(vm->size, align);
}
#endif

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
static inline void vm_area_register_early(struct vm_struct *vm, size_t align)
{
	vm->addr = shim_vm_register(vm->size, align);
}
#endif

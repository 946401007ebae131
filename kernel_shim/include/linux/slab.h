#ifndef _SHIM_LINUX_SLAB_H
#define _SHIM_LINUX_SLAB_H
#include <stdlib.h>
/* The slab allocator is not up during first-chunk setup; calls are bugs. */
#define kmalloc(size, gfp) shim_slab_too_early(__FILE__, __LINE__, "kmalloc")
#define kzalloc(size, gfp) shim_slab_too_early(__FILE__, __LINE__, "kzalloc")
#define kfree(p) ((void)(p))
#define vmalloc(size) shim_slab_too_early(__FILE__, __LINE__, "vmalloc")
#define vfree(p) ((void)(p))
void *shim_slab_too_early(const char *file, int line, const char *what);
#endif

#ifndef _SHIM_LINUX_PGALLOC_H
#define _SHIM_LINUX_PGALLOC_H
/* The page table stubs live where the kernel keeps them until 6.12
 * (asm/pgalloc.h); 6.12's stable updates include linux/pgalloc.h, which
 * includes that. */
#include <asm/pgalloc.h>
#endif

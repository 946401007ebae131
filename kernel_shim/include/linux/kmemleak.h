#ifndef _SHIM_LINUX_KMEMLEAK_H
#define _SHIM_LINUX_KMEMLEAK_H
/* No leak detector at boot in the shim. */
#define kmemleak_ignore_phys(phys) ((void)(phys))
#define kmemleak_free(ptr) ((void)(ptr))
#define kmemleak_alloc(ptr, size, min_count, gfp) ((void)(ptr))
#endif

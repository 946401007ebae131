#ifndef _SHIM_ASM_CACHEFLUSH_H
#define _SHIM_ASM_CACHEFLUSH_H
/* No caches to flush in a simulated boot. */
#define flush_cache_vmap(start, end) ((void)(start), (void)(end))
#define flush_cache_vunmap(start, end) ((void)(start), (void)(end))
#define flush_cache_vmap_early(start, end) ((void)(start), (void)(end))
#endif

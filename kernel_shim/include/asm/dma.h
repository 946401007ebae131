#ifndef _SHIM_ASM_DMA_H
#define _SHIM_ASM_DMA_H
#include <shim/runtime.h>
/* The first 16M of the simulated memory is the DMA zone, as on x86. */
#define MAX_DMA_ADDRESS ((unsigned long)shim_arena_base + (16UL << 20))
#endif

#ifndef _SHIM_ASM_TLBFLUSH_H
#define _SHIM_ASM_TLBFLUSH_H
/* No TLB to flush in a simulated boot. */
#define flush_tlb_kernel_range(start, end) ((void)(start), (void)(end))
#endif

#ifndef _SHIM_SPARC64_ASM_PROM_H
#define _SHIM_SPARC64_ASM_PROM_H
/* Firmware cpu data: recorded as called, nothing else. */
void of_fill_in_cpu_data(void);
#endif

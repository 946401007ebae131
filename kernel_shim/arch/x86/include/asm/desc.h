/* asm/desc.h: the GDT helpers setup_percpu_segment() uses are x86_32 only
 * (compiled out on x86_64); switch_gdt_and_percpu_base() is here from 6.2. */
#include <asm/processor.h>

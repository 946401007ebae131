/* linux/of.h, as drivers/base/arch_numa.c includes it: nothing its percpu
 * setup uses beyond the NUMA stubs of asm/numa.h. */
#include <asm/numa.h>

/* linux/stackprotector.h (6.x's x86 includes it instead of asm/): nothing
 * the percpu setup path uses on x86_64. */
#include <asm/stackprotector.h>

/* Nothing the percpu setup path uses. */
#include <asm/pgtable.h>
#include <asm/percpu.h>

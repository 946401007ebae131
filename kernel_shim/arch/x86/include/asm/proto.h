/* Nothing the percpu setup path uses beyond asm/processor.h. */
#include <asm/processor.h>

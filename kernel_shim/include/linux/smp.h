#ifndef _SHIM_LINUX_SMP_H
#define _SHIM_LINUX_SMP_H
#include <linux/cpumask.h>
/* Boot runs on the boot cpu: the first possible cpu of the case. */
#define smp_processor_id() ((int)shim_boot_cpu())
#endif

#ifndef _SHIM_LINUX_SCHED_H
#define _SHIM_LINUX_SCHED_H
/* What arch code gets through sched.h in the kernel. */
#include <linux/percpu.h>
#include <linux/topology.h>
#endif

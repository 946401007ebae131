#ifndef _SHIM_LINUX_NUMA_H
#define _SHIM_LINUX_NUMA_H
#define NUMA_NO_NODE (-1)
#endif

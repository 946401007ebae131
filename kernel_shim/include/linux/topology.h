#ifndef _SHIM_LINUX_TOPOLOGY_H
#define _SHIM_LINUX_TOPOLOGY_H
#include <linux/nodemask.h>
#include <linux/mmzone.h>
#define LOCAL_DISTANCE 10
#define REMOTE_DISTANCE 20
/* Without CONFIG_NUMA every cpu is on node 0, as the kernel's stubs say. */
#define cpu_to_node(cpu) shim_cpu_to_node(cpu)
#ifndef SHIM_ARCH_ARCH_NUMA
#define early_cpu_to_node(cpu) shim_cpu_to_node(cpu)
#endif
/* drivers/base/arch_numa.c defines early_cpu_to_node() itself, from the
 * map early_map_cpu_to_node() filled. */
#endif

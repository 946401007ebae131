/*
 * The generic NUMA setup (drivers/base/arch_numa.c, arm64 and riscv) as
 * setup_per_cpu_areas() sees it: node distances from the firmware's table,
 * the cpu -> node map the arch file keeps itself, the per-cpu numa_node.
 */
#ifndef _SHIM_ARCH_NUMA_ASM_NUMA_H
#define _SHIM_ARCH_NUMA_ASM_NUMA_H
#include <linux/types.h>
#include <linux/topology.h>
#include <asm/percpu.h>
/* The file reaches the percpu interface through linux/module.h and
 * linux/memblock.h in the kernel; the source's own header here. */
#include <linux/percpu.h>

#define MAX_NUMNODES SHIM_MAX_NODES
/*
 * node_distance() is __node_distance(): the table numa_set_distance()
 * filled from the firmware (SLIT or device tree), LOCAL_DISTANCE on the
 * diagonal and REMOTE_DISTANCE elsewhere where nothing was set.
 * numa_set_distance() refuses (with a warning, not simulated) a distance
 * that does not fit its u8 or a diagonal other than LOCAL_DISTANCE; such an
 * entry keeps the default.  Nodes past the table are LOCAL to themselves,
 * REMOTE to others.  Asymmetric and non-transitive tables are kept as given:
 * they reach the grouping unchanged, as in the kernel.
 */
int shim_node_distance(int from, int to);
#define node_distance(a, b) shim_node_distance((a), (b))

/* set_cpu_numa_node() (CONFIG_USE_PERCPU_NUMA_NODE_ID): the cpu's copy of
 * numa_node takes the node; before the percpu areas exist that is the
 * static image every unit is copied from. */
DECLARE_PER_CPU(int, numa_node);
#define set_cpu_numa_node(cpu, node) ((void)(per_cpu(numa_node, (cpu)) = (node)))
#endif

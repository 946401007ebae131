/*
 * The case's nodes as the kernel's NUMA queries see them.  Without
 * CONFIG_NUMA the kernel has one node whatever the machine, and so does
 * the shim, whatever the case says.
 */
#include "internal.h"

static struct pglist_data node_data[SHIM_MAX_NODES];

int shim_cpu_to_node(unsigned int cpu)
{
#ifdef SHIM_CONFIG_NUMA
	return cpu < NR_CPUS ? shim_case.node_of_cpu[cpu] : 0;
#else
	(void)cpu;
	return 0;
#endif
}

bool shim_node_online(int node)
{
#ifdef SHIM_CONFIG_NUMA
	return node >= 0 && node < shim_case.nr_nodes && !shim_case.node_offline[node];
#else
	return node == 0;
#endif
}

struct pglist_data *shim_node_data(int node)
{
	if (!shim_node_online(node))
		return NULL;
	node_data[node].node_id = node;
	return &node_data[node];
}

int shim_nr_node_ids(void)
{
#ifdef SHIM_CONFIG_NUMA
	return shim_case.nr_nodes;
#else
	return 1;
#endif
}

unsigned int shim_boot_cpu(void) { return shim_case.possible[0]; }

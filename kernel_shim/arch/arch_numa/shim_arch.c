/*
 * Around setup_per_cpu_areas() of drivers/base/arch_numa.c: the firmware's
 * cpu -> node map handed over through the file's own
 * early_map_cpu_to_node(), as arm64's and riscv's NUMA parsing does, and
 * the node distance table.  Built with the kernel stubs, linked beside the
 * arch file's real code.
 */
#include <shim/config.h>
#include <linux/kernel.h>
#include <asm/numa.h>
#include <asm/sections.h>

DEFINE_PER_CPU(int, numa_node);

void early_map_cpu_to_node(unsigned int cpu, int nid);

void shim_arch_prepare(void)
{
	unsigned int c;

	for_each_possible_cpu(c)
		early_map_cpu_to_node(c, cpu_to_node(c));
	/* Its set_cpu_numa_node() for cpu 0 wrote into the static area, which
	 * on arm64 and riscv (no zero-based percpu section) is the one place
	 * __per_cpu_start and __per_cpu_load both name: the shim keeps two
	 * buffers, so the write is mirrored, whichever one the revision
	 * copies its units from. */
	__builtin_memcpy(shim_per_cpu_load, shim_per_cpu_start, shim_case.static_size);
}

int shim_node_distance(int from, int to)
{
	int d;

	if (from < 0 || to < 0 || from >= shim_case.nr_nodes || to >= shim_case.nr_nodes)
		return from == to ? LOCAL_DISTANCE : REMOTE_DISTANCE;
	d = shim_case.distance[from][to];
	if (d != (unsigned char)d || (from == to && d != LOCAL_DISTANCE))
		return from == to ? LOCAL_DISTANCE : REMOTE_DISTANCE;
	return d;
}

/*
 * One line of the stdin protocol into struct shim_case.  The harness checks
 * cases in Python too; the checks here guard the shim's own limits
 * (NR_CPUS, the simulated memory, how it was built), so that a line they
 * do not fit is reported as an invalid case instead of booting.
 */
#include "internal.h"

static int parse_list(const char *v, long *out, int max)
{
	int n = 0;
	char *end;

	if (!*v)
		return 0;
	for (;;) {
		if (n == max)
			return -1;
		errno = 0;
		out[n++] = strtol(v, &end, 0);
		if (errno || end == v)
			return -1;
		if (*end == '\0')
			return n;
		if (*end != ',')
			return -1;
		v = end + 1;
	}
}

static long list_buf[NR_CPUS > SHIM_MAX_NODES * SHIM_MAX_NODES ? NR_CPUS : SHIM_MAX_NODES * SHIM_MAX_NODES];

/* "key=value key=value ...": returns NULL or a message naming the problem. */
static const char *parse_case(char *line, struct shim_case *c)
{
	static char err[256];
	int n_nodes_list = -1;
	long cpu_nodes[NR_CPUS];

	memset(c, 0, sizeof(*c));
	c->dyn_size = -1;
	c->atom_size = SHIM_PAGE_SIZE;
	c->bootmem_size = 64UL << 30;
	c->vmalloc_size = 32UL << 40;
	c->fail_fc_alloc = -1;
	c->fail_bootmem = -1;
	c->nr_nodes = 1;
	c->distance[0][0] = 10;
	c->pse = 1;
	snprintf(c->scenario, sizeof(c->scenario), "embed");

	for (char *tok = strtok(line, " \t\n"); tok; tok = strtok(NULL, " \t\n")) {
		char *eq = strchr(tok, '=');
		if (!eq) {
			snprintf(err, sizeof(err), "malformed field '%.64s'", tok);
			return err;
		}
		*eq = '\0';
		const char *k = tok, *v = eq + 1;
		char *end;
		if (!strcmp(k, "id")) {
			snprintf(c->id, sizeof(c->id), "%s", v);
		} else if (!strcmp(k, "scenario")) {
			snprintf(c->scenario, sizeof(c->scenario), "%s", v);
		} else if (!strcmp(k, "possible")) {
			int n = parse_list(v, list_buf, NR_CPUS);
			if (n <= 0) {
				snprintf(err, sizeof(err), "possible: need 1..%d cpu ids", NR_CPUS);
				return err;
			}
			for (int i = 0; i < n; i++) {
				if (list_buf[i] < 0 || list_buf[i] >= NR_CPUS) {
					snprintf(err, sizeof(err), "possible cpu %ld is outside 0..%d",
						 list_buf[i], NR_CPUS - 1);
					return err;
				}
				if (i && list_buf[i] <= list_buf[i - 1]) {
					snprintf(err, sizeof(err), "possible cpus must be strictly increasing");
					return err;
				}
				c->possible[i] = (unsigned int)list_buf[i];
			}
			c->nr_possible = (unsigned int)n;
		} else if (!strcmp(k, "percpu_alloc")) {
			snprintf(c->percpu_alloc, sizeof(c->percpu_alloc), "%s", v);
		} else if (!strcmp(k, "offline_nodes")) {
			int n = parse_list(v, list_buf, SHIM_MAX_NODES);
			for (int i = 0; i < n; i++) {
				if (list_buf[i] < 0 || list_buf[i] >= SHIM_MAX_NODES) {
					snprintf(err, sizeof(err), "offline node %ld is outside 0..%d",
						 list_buf[i], SHIM_MAX_NODES - 1);
					return err;
				}
				c->node_offline[list_buf[i]] = 1;
			}
		} else if (!strcmp(k, "cpu_node")) {
			n_nodes_list = parse_list(v, cpu_nodes, NR_CPUS);
			if (n_nodes_list < 0) {
				snprintf(err, sizeof(err), "cpu_node: bad list");
				return err;
			}
		} else if (!strcmp(k, "distance")) {
			int n = parse_list(v, list_buf, SHIM_MAX_NODES * SHIM_MAX_NODES);
			int nodes = 0;
			while (nodes * nodes < n)
				nodes++;
			if (n <= 0 || nodes * nodes != n) {
				snprintf(err, sizeof(err), "distance: need a square matrix of up to %d nodes",
					 SHIM_MAX_NODES);
				return err;
			}
			c->nr_nodes = nodes;
			for (int i = 0; i < n; i++)
				c->distance[i / nodes][i % nodes] = (int)list_buf[i];
		} else {
			errno = 0;
			long long val = strtoll(v, &end, 0);
			if (errno || end == v || *end) {
				snprintf(err, sizeof(err), "%s: '%.32s' is not a number", k, v);
				return err;
			}
			if (!strcmp(k, "static_size")) c->static_size = (unsigned long)val;
			else if (!strcmp(k, "reserved_size")) c->reserved_size = (unsigned long)val;
			else if (!strcmp(k, "dyn_size")) c->dyn_size = (long)val;
			else if (!strcmp(k, "atom_size")) c->atom_size = (unsigned long)val;
			else if (!strcmp(k, "bootmem_size")) c->bootmem_size = (unsigned long)val;
			else if (!strcmp(k, "vmalloc_size")) c->vmalloc_size = (unsigned long)val;
			else if (!strcmp(k, "fail_fc_alloc")) c->fail_fc_alloc = (long)val;
			else if (!strcmp(k, "fail_bootmem")) c->fail_bootmem = (long)val;
			else if (!strcmp(k, "pse")) c->pse = val != 0;
			else if (!strcmp(k, "numa")) c->numa = val != 0;
			else {
				snprintf(err, sizeof(err), "unknown field '%.32s'", k);
				return err;
			}
		}
	}
	if (!c->nr_possible) {
		snprintf(err, sizeof(err), "no possible cpus given");
		return err;
	}
	if (n_nodes_list >= 0 && n_nodes_list != (int)c->nr_possible) {
		snprintf(err, sizeof(err), "cpu_node has %d entries for %u possible cpus",
			 n_nodes_list, c->nr_possible);
		return err;
	}
	for (unsigned int i = 0; i < c->nr_possible; i++) {
		int node = n_nodes_list >= 0 ? (int)cpu_nodes[i] : 0;
		if (node < 0 || node >= c->nr_nodes) {
			snprintf(err, sizeof(err), "cpu %u is on node %d but the matrix has %d nodes",
				 c->possible[i], node, c->nr_nodes);
			return err;
		}
		c->node_of_cpu[c->possible[i]] = node;
	}
	if (c->bootmem_size > REGION_RESERVE - REDZONE) {
		snprintf(err, sizeof(err), "bootmem_size is larger than the simulated 1 TiB");
		return err;
	}
	if (c->static_size > STATIC_RESERVE) {
		snprintf(err, sizeof(err), "static_size is larger than 16 GiB");
		return err;
	}
#ifdef SHIM_CONFIG_NUMA
	if (!c->numa) {
#else
	if (c->numa) {
#endif
		snprintf(err, sizeof(err), "numa=%d but this shim is built %s CONFIG_NUMA",
			 c->numa, c->numa ? "without" : "with");
		return err;
	}
	if (!c->atom_size || (c->atom_size & (c->atom_size - 1))) {
		snprintf(err, sizeof(err), "atom_size must be a power of two");
		return err;
	}
	return NULL;
}

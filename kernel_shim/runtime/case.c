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

/* A line being read: the case, and what the checks after its fields need. */
struct case_parse {
	struct shim_case *c;
	int n_nodes_list;		/* entries of cpu_node=, -1: not given */
	long cpu_nodes[NR_CPUS];
	unsigned char given[32];	/* which rows of case_fields the line had */
};

static char case_err[256];

static const char *case_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *case_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(case_err, sizeof(case_err), fmt, ap);
	va_end(ap);
	return case_err;
}

/* The whole value as strtoll() reads it (0x... and 0... too). */
static bool parse_number(const char *v, long long *val)
{
	char *end;

	errno = 0;
	*val = strtoll(v, &end, 0);
	return !errno && end != v && !*end;
}

static const char *parse_possible(struct case_parse *p, const char *v)
{
	int n = parse_list(v, list_buf, NR_CPUS);

	if (n <= 0)
		return case_error("possible: need 1..%d cpu ids", NR_CPUS);
	for (int i = 0; i < n; i++) {
		if (list_buf[i] < 0 || list_buf[i] >= NR_CPUS)
			return case_error("possible cpu %ld is outside 0..%d", list_buf[i], NR_CPUS - 1);
		if (i && list_buf[i] <= list_buf[i - 1])
			return case_error("possible cpus must be strictly increasing");
		p->c->possible[i] = (unsigned int)list_buf[i];
	}
	p->c->nr_possible = (unsigned int)n;
	return NULL;
}

static const char *parse_offline_nodes(struct case_parse *p, const char *v)
{
	int n = parse_list(v, list_buf, SHIM_MAX_NODES);

	for (int i = 0; i < n; i++) {
		if (list_buf[i] < 0 || list_buf[i] >= SHIM_MAX_NODES)
			return case_error("offline node %ld is outside 0..%d", list_buf[i],
					  SHIM_MAX_NODES - 1);
		p->c->node_offline[list_buf[i]] = 1;
	}
	return NULL;
}

/* Kept aside: the nodes are placed once the possible cpus are known. */
static const char *parse_cpu_node(struct case_parse *p, const char *v)
{
	p->n_nodes_list = parse_list(v, p->cpu_nodes, NR_CPUS);
	if (p->n_nodes_list < 0)
		return case_error("cpu_node: bad list");
	return NULL;
}

/* The node distance matrix, row by row; its size is the number of nodes. */
static const char *parse_distance(struct case_parse *p, const char *v)
{
	int n = parse_list(v, list_buf, SHIM_MAX_NODES * SHIM_MAX_NODES);
	int nodes = 0;

	while (nodes * nodes < n)
		nodes++;
	if (n <= 0 || nodes * nodes != n)
		return case_error("distance: need a square matrix of up to %d nodes", SHIM_MAX_NODES);
	p->c->nr_nodes = nodes;
	for (int i = 0; i < n; i++)
		p->c->distance[i / nodes][i % nodes] = (int)list_buf[i];
	return NULL;
}

/* Bytes of memory per node, in node order (lay_out_nodes() places them). */
static const char *parse_node_memory(struct case_parse *p, const char *v)
{
	int n = parse_list(v, list_buf, SHIM_MAX_NODES);

	if (n <= 0)
		return case_error("node_memory: need 1..%d sizes", SHIM_MAX_NODES);
	for (int i = 0; i < n; i++) {
		if (list_buf[i] < 0)
			return case_error("node_memory: node %d has a negative size", i);
		p->c->node_memory[i] = (unsigned long)list_buf[i];
	}
	p->c->nr_node_memory = n;
	return NULL;
}

/* The nodes' memory must be the machine's: one size per node of the
 * distance matrix, bootmem_size in all.  (An offline node may hold memory
 * only where every node is offline: the harness then puts it all on node
 * 0, which nothing node-directed asks for.) */
static const char *check_node_memory(const struct shim_case *c)
{
	unsigned long total = 0;

	if (c->nr_node_memory != c->nr_nodes)
		return case_error("node_memory has %d sizes for %d nodes", c->nr_node_memory,
				  c->nr_nodes);
	for (int n = 0; n < c->nr_node_memory; n++)
		total += c->node_memory[n];
	if (total != c->bootmem_size)
		return case_error("node_memory adds up to %lu, not bootmem_size %lu", total,
				  c->bootmem_size);
	return NULL;
}

enum field_type { FT_TEXT, FT_ULONG, FT_LONG, FT_FLAG, FT_OWN };

/* One field of the protocol: how its value is read and where it goes.
 * There are no defaults here: the harness sends every field of every case
 * (harness/core/cases.py, CASE_FIELDS), so what a case means is decided in
 * one place, and a line that leaves a field out is refused. */
struct case_field {
	const char *name;
	enum field_type type;
	size_t offset, size;		/* a text's or number's place in struct shim_case */
	const char *(*parse)(struct case_parse *p, const char *v);	/* FT_OWN */
};

/* A member's place, and a compile error unless it has the type T that its
 * row stores. */
#define PLACE(m, T)								\
	.offset = offsetof(struct shim_case, m) +				\
		  0 * sizeof(_Generic(((struct shim_case *)0)->m, T: 0)),	\
	.size = sizeof(((struct shim_case *)0)->m)
#define TEXT(m) .type = FT_TEXT, PLACE(m, char *)
#define ULONG(m) .type = FT_ULONG, PLACE(m, unsigned long)
#define LONG(m) .type = FT_LONG, PLACE(m, long)
#define FLAG(m) .type = FT_FLAG, PLACE(m, int)
#define OWN(fn) .type = FT_OWN, .parse = (fn)

static const struct case_field case_fields[] = {
	{ "id",			TEXT(id) },
	{ "scenario",		TEXT(scenario) },
	{ "possible",		OWN(parse_possible) },
	{ "percpu_alloc",	TEXT(percpu_alloc) },
	{ "offline_nodes",	OWN(parse_offline_nodes) },
	{ "cpu_node",		OWN(parse_cpu_node) },
	{ "distance",		OWN(parse_distance) },
	{ "static_size",	ULONG(static_size) },
	{ "reserved_size",	ULONG(reserved_size) },
	{ "dyn_size",		LONG(dyn_size) },		/* -1: auto */
	{ "atom_size",		ULONG(atom_size) },
	{ "bootmem_size",	ULONG(bootmem_size) },
	{ "vmalloc_size",	ULONG(vmalloc_size) },
	{ "node_memory",	OWN(parse_node_memory) },
	{ "fail_fc_alloc",	LONG(fail_fc_alloc) },	/* -1: none */
	{ "fail_bootmem",	LONG(fail_bootmem) },	/* -1: none */
	{ "pse",		FLAG(pse) },
	{ "numa",		FLAG(numa) },
};
#define NR_CASE_FIELDS (sizeof(case_fields) / sizeof(case_fields[0]))
_Static_assert(NR_CASE_FIELDS <= sizeof(((struct case_parse *)0)->given), "case_parse.given");

static void set_number(struct shim_case *c, const struct case_field *f, long long val)
{
	char *at = (char *)c + f->offset;

	if (f->type == FT_ULONG)
		*(unsigned long *)at = (unsigned long)val;
	else if (f->type == FT_LONG)
		*(long *)at = (long)val;
	else
		*(int *)at = val != 0;
}

static const char *read_field(struct case_parse *p, const struct case_field *f, const char *v)
{
	long long val;

	if (f->type == FT_OWN)
		return f->parse(p, v);
	if (f->type == FT_TEXT) {
		snprintf((char *)p->c + f->offset, f->size, "%s", v);
		return NULL;
	}
	if (!parse_number(v, &val))
		return case_error("%s: '%.32s' is not a number", f->name, v);
	set_number(p->c, f, val);
	return NULL;
}

/* "name=value": NULL, or a message naming the problem. */
static const char *read_token(struct case_parse *p, char *tok)
{
	char *eq = strchr(tok, '=');
	long long val;

	if (!eq)
		return case_error("malformed field '%.64s'", tok);
	*eq = '\0';
	for (size_t i = 0; i < NR_CASE_FIELDS; i++)
		if (!strcmp(case_fields[i].name, tok)) {
			p->given[i] = 1;
			return read_field(p, &case_fields[i], eq + 1);
		}
	/* An unknown field's value is still read as a number first, as it
	 * always was: "foo=x" is reported as x not being a number. */
	if (!parse_number(eq + 1, &val))
		return case_error("%s: '%.32s' is not a number", tok, eq + 1);
	return case_error("unknown field '%.32s'", tok);
}

/* Every possible cpu on its node, once both lists are known. */
static const char *place_cpus(struct case_parse *p)
{
	struct shim_case *c = p->c;

	if (!c->nr_possible)
		return case_error("no possible cpus given");
	if (p->n_nodes_list >= 0 && p->n_nodes_list != (int)c->nr_possible)
		return case_error("cpu_node has %d entries for %u possible cpus",
				  p->n_nodes_list, c->nr_possible);
	for (unsigned int i = 0; i < c->nr_possible; i++) {
		int node = p->n_nodes_list >= 0 ? (int)p->cpu_nodes[i] : 0;

		if (node < 0 || node >= c->nr_nodes)
			return case_error("cpu %u is on node %d but the matrix has %d nodes",
					  c->possible[i], node, c->nr_nodes);
		c->node_of_cpu[c->possible[i]] = node;
	}
	return NULL;
}

/* What this shim, as built, can boot. */
static const char *check_limits(const struct shim_case *c)
{
	if (c->bootmem_size > REGION_RESERVE - REDZONE)
		return case_error("bootmem_size is larger than the simulated 1 TiB");
	if (c->static_size > STATIC_RESERVE)
		return case_error("static_size is larger than 16 GiB");
#ifdef SHIM_CONFIG_NUMA
	if (!c->numa)
#else
	if (c->numa)
#endif
		return case_error("numa=%d but this shim is built %s CONFIG_NUMA",
				  c->numa, c->numa ? "without" : "with");
	if (!c->atom_size || (c->atom_size & (c->atom_size - 1)))
		return case_error("atom_size must be a power of two");
	return check_node_memory(c);
}

/* "key=value key=value ...": returns NULL or a message naming the problem. */
static const char *parse_case(char *line, struct shim_case *c)
{
	struct case_parse p = { .c = c, .n_nodes_list = -1 };
	const char *why;

	memset(c, 0, sizeof(*c));
	for (char *tok = strtok(line, " \t\n"); tok; tok = strtok(NULL, " \t\n")) {
		why = read_token(&p, tok);
		if (why)
			return why;
	}
	for (size_t i = 0; i < NR_CASE_FIELDS; i++)
		if (!p.given[i])
			return case_error("the case line has no %s: the harness sends every field",
					  case_fields[i].name);
	why = place_cpus(&p);
	return why ? why : check_limits(c);
}

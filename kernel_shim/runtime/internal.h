/*
 * What the runtime's role files share: the layout of the shared result
 * area, the simulated memory's bookkeeping and the helpers one file calls
 * in another.  Private to the runtime, which is built as one translation
 * unit (shim_runtime.c includes every role file), so the shared state can
 * stay static; the interface to the stub headers and the generated glue
 * is shim/runtime.h.
 */
#ifndef SHIM_RUNTIME_INTERNAL_H
#define SHIM_RUNTIME_INTERNAL_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <execinfo.h>

#include "shim/runtime.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define SHIM_POISON(p, n) __asan_poison_memory_region((p), (n))
#define SHIM_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define SHIM_POISON(p, n) ((void)(p), (void)(n))
#define SHIM_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#ifndef SHIM_PAGE_SHIFT
#define SHIM_PAGE_SHIFT 12
#endif
#define SHIM_PAGE_SIZE (1UL << SHIM_PAGE_SHIFT)

/* Fixed addresses keep pointers in logs identical from run to run in plain
 * builds; under ASan the arena may land elsewhere, and results stay
 * identical only because pointers are reported relative to their region. */
#define ARENA_ADDR ((void *)0x600000000000UL)
#define VMALLOC_ADDR ((void *)0x680000000000UL)
#define STATIC_ADDR ((char *)SHIM_STATIC_ADDR)
#define REGION_RESERVE (1UL << 40)
#define STATIC_RESERVE SHIM_STATIC_RESERVE
#define REDZONE (64UL << 10)

#define LOG_CAP (16UL << 20)
#define SECTION_CAP (4UL << 20)
#define MAX_SECTIONS 12
#define MAX_BAD_FREES 32
#define MAX_HANG_FRAMES 16

enum outcome { OUT_NONE, OUT_OK, OUT_BUG, OUT_PANIC, OUT_UNSUPPORTED, OUT_MEMORY };

struct shared_section {
	char name[32];
	size_t len;
	int closed;
	int overflow;
	char text[SECTION_CAP];
};

/* Lives in MAP_SHARED memory: written by the child, read by the parent. */
struct shared_area {
	int outcome;
	int line;
	char file[256];
	char message[2048];
	int fault_signal;
	unsigned long fault_addr;
	/* The CPU-time limit fired: where the child was, innermost first, as
	 * offsets from the executable's start (harness/run/server.py turns
	 * them into function and file:line with the debug info). */
	int cpu_limit_hit;
	int nr_hang_frames;
	unsigned long hang_frames[MAX_HANG_FRAMES];
	size_t log_len;
	int log_overflow;
	int nr_sections;
	char log[LOG_CAP];
	struct shared_section sections[MAX_SECTIONS];
};

struct shim_json {
	struct shared_section *sec;
	int depth;
	bool need_comma[64];
	bool after_key;
};

struct range { unsigned long start, end; };

/* The first chunk allocations whose places are reported: an embed
 * chunk's groups (one per node at most); a page chunk's pages past these
 * are counted, not placed. */
#define MAX_FC_SPANS 64

struct bootmem_state {
	unsigned long limit;		/* simulated memory size */
	/* each node's memory, in address order (node 0 lowest), covering
	 * [0, limit); a node without memory has an empty range */
	struct range node_mem[SHIM_MAX_NODES];
	int nr_mem_nodes;
	struct range *held;		/* sorted, disjoint, merged */
	size_t nr_held, cap_held;
	unsigned long allocated, freed, bad_free_bytes;
	unsigned long nr_allocs, nr_frees, nr_failed;
	long nopanic_calls;
	struct { unsigned long phys, size, unheld; } bad[MAX_BAD_FREES];
	int nr_bad;
	unsigned long vm_cursor;
	int nr_vm;
	struct { unsigned long offset, size, align; } vm[16];
	unsigned long fc_allocs, fc_alloc_bytes, fc_frees, fc_free_bytes, maps, ptes;
	unsigned long fc_alloc_bytes_on_node[SHIM_MAX_NODES];
	unsigned long node_bytes[SHIM_MAX_NODES];	/* __alloc_bootmem_node() */
	bool node_directed;
	long fc_alloc_calls;
	/* where the first chunk callbacks' first allocations landed, less
	 * those given back whole: the evidence of groups that share address
	 * space (in no order once one is removed) */
	int nr_fc_spans;
	struct { unsigned long phys, size; } fc_spans[MAX_FC_SPANS];
};

static struct shared_area *shared;
static struct bootmem_state bm;
static bool in_child;

/*
 * What bootmem holds when pcpu_setup_first_chunk() is entered: the first
 * chunk allocators have given back what they meant to by then, and the
 * setup's own allocations may land in those holes afterwards.
 */
static struct range *held_at_setup;
static size_t nr_held_at_setup;

/* json.c */
static void json_kv_u64(struct shim_json *w, const char *key, unsigned long long v);

/* outcome.c: writes the reports below and ends the child */
static void finish_child(void) __attribute__((noreturn));

/* bootmem.c: the held ranges, which memblock.c and notes.c use too */
static size_t held_first_ending_after(unsigned long addr);
static void held_insert(unsigned long start, unsigned long end);
static unsigned long overlap_in(const struct range *ranges, size_t n, unsigned long start,
				unsigned long end);
static unsigned long held_overlap(unsigned long start, unsigned long end);
static void held_release(size_t i, unsigned long phys, unsigned long end);
static void note_bad_free(unsigned long phys, unsigned long size, unsigned long held);
static void zero_block(unsigned long start, unsigned long end);
static void lay_out_nodes(void);

/* trace.c, notes.c: the result sections written when the boot ends */
static void emit_trace(void);
static void emit_bootmem(void);

/* case.c */
static const char *parse_case(char *line, struct shim_case *c);

#endif

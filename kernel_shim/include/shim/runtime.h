/* Interface between the stub headers, the generated glue and the runtime. */
#ifndef SHIM_RUNTIME_H
#define SHIM_RUNTIME_H

#include <stddef.h>
#include <stdbool.h>
#include <stdarg.h>

#define SHIM_MAX_NODES 64

struct shim_case {
	char id[128];
	char scenario[32];
	unsigned int nr_possible;
	unsigned int possible[NR_CPUS];
	int node_of_cpu[NR_CPUS];	/* indexed by cpu id */
	int nr_nodes;
	int distance[SHIM_MAX_NODES][SHIM_MAX_NODES];
	unsigned long static_size, reserved_size, atom_size;
	long dyn_size;			/* -1: auto */
	unsigned long bootmem_size, vmalloc_size;
	long fail_fc_alloc;		/* index of the fc alloc call to fail, -1: none */
	long fail_bootmem;		/* index of the nopanic bootmem call to fail, -1: none */
	/* arch flows */
	char percpu_alloc[32];		/* the percpu_alloc= boot parameter, "" if not given */
	int pse;			/* x86: the cpu has PSE (large pages) */
	int numa;			/* the kernel is built with NUMA: must match the build */
	int node_offline[SHIM_MAX_NODES];	/* node_online() is false, NODE_DATA() NULL */
	/* bytes of memory of each node, laid out in node order from address
	 * 0 and adding up to bootmem_size (NUMA builds; one node otherwise) */
	unsigned long node_memory[SHIM_MAX_NODES];
	int nr_node_memory;
};

extern struct shim_case shim_case;
extern unsigned long shim_possible_bits[];
extern unsigned int shim_nr_cpu_ids;

/* outcomes: recorded, then the case process ends */
void shim_bug(const char *file, int line, const char *cond) __attribute__((noreturn));
void shim_panic(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
int shim_warn(const char *file, int line, const char *cond);

/* simulated boot memory */
void *shim_bootmem_alloc(unsigned long size, unsigned long align, unsigned long goal,
			 bool may_fail, const char *caller);
void shim_bootmem_free(unsigned long phys, unsigned long size);
void shim_copy_held(void *dst, const void *src, unsigned long size);
unsigned long shim_pa(const void *addr);
void *shim_va(unsigned long phys);
extern char *shim_arena_base;
extern char *shim_vmalloc_base;
void *shim_vm_register(unsigned long size, unsigned long align);
unsigned long shim_vmalloc_size(void);

/* NUMA: nodes of the case; with CONFIG_NUMA off everything is node 0 */
struct pglist_data { int node_id; };
int shim_cpu_to_node(unsigned int cpu);
bool shim_node_online(int node);
struct pglist_data *shim_node_data(int node);
int shim_nr_node_ids(void);
unsigned int shim_boot_cpu(void);
void *shim_bootmem_alloc_node(struct pglist_data *pgdat, unsigned long size, unsigned long align,
			      unsigned long goal, bool may_fail, const char *caller);

/* log capture */
int shim_vprintk(const char *fmt, va_list ap);
int shim_printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* lib/bitmap.c's bitmap_scnprintf(): the %*pb format into buf, scnprintf's way */
int shim_bitmap_scnprintf(char *buf, int len, const unsigned long *bits, int nbits);

/* first chunk callbacks a scenario hands to the kernel code */
void *shim_fc_alloc(unsigned int cpu, size_t size, size_t align);
/* pcpu_fc_alloc_fn_t took (cpu, size) until 3cbc8565276 (Aug 2009) added
 * align; the arch allocators of then aligned a block to its size (x86's
 * pcpu_fc_alloc()).  SHIM_FC_ALLOC(type) is the callback of the revision's
 * typedef's shape. */
void *shim_fc_alloc_size_aligned(unsigned int cpu, size_t size);
/* A source that calls memblock itself (3.13 on) gets callbacks that take
 * from memblock as its own pcpu_dfl_fc_alloc() and x86's did from 4.20:
 * memblock_alloc_from(size, align, __pa(MAX_DMA_ADDRESS)), counted by
 * fail_bootmem, and memblock_free() of exactly the bytes named.
 * fail_fc_alloc applies to both kinds. */
void *shim_fc_alloc_memblock(unsigned int cpu, size_t size, size_t align);
void shim_fc_free_memblock(void *ptr, size_t size);
#ifdef SHIM_FC_FROM_MEMBLOCK
#define SHIM_FC_ALLOC(fn_type) shim_fc_alloc_memblock
#define SHIM_FC_FREE shim_fc_free_memblock
#else
#define SHIM_FC_ALLOC(fn_type) _Generic((fn_type)0,				\
	void *(*)(unsigned int, size_t): shim_fc_alloc_size_aligned,		\
	default: shim_fc_alloc)
#define SHIM_FC_FREE shim_fc_free
#endif
void shim_fc_free(void *ptr, size_t size);
void shim_fc_map(void *ptr, size_t size, void *addr);
void shim_fc_populate_pte(unsigned long addr);
void shim_fc_populate_pte_memblock(unsigned long addr);
int shim_cpu_distance(unsigned int from, unsigned int to);
int shim_fc_cpu_to_node(int cpu);
/* the first API's pcpu_fc_alloc_fn_t had no alignment: the arch aligned to the size */
void *shim_fc_alloc_size_aligned(unsigned int cpu, size_t size);
/* the first API's arch part where mm/percpu.c has no allocator (get_page.c) */
struct page;
int shim_glue_page_alloc(unsigned long static_size);
void *shim_glue_embed_alloc(unsigned long used, unsigned long unit_size);
struct page *shim_glue_get_page(unsigned int cpu, int pageno);
struct page **shim_glue_packed_pages(void);
void shim_glue_release(void);

/* memblock, the modern kernels' boot allocator: top-down, exact frees */
void *shim_memblock_alloc(unsigned long size, unsigned long align, unsigned long min_addr,
			  int nid, const char *caller);
/* memblock_virt_alloc() of 3.13 - 4.19: the same, panicking when nothing
 * fits, and not one of the calls fail_bootmem counts */
void *shim_memblock_alloc_nofail(unsigned long size, unsigned long align, unsigned long min_addr,
				 int nid, const char *caller);
void shim_memblock_free(const void *ptr, unsigned long size);

struct page;
/* kernel page tables of the page first chunk's vmalloc area: four levels
 * of PAGE_SIZE tables, entries holding the next table's address */
#define SHIM_PT_BITS (SHIM_PAGE_SHIFT - 3)
#define SHIM_PT_INDEX(addr, level) \
	(((addr) >> (SHIM_PAGE_SHIFT + (level) * SHIM_PT_BITS)) & ((1UL << SHIM_PT_BITS) - 1))
unsigned long *shim_pgd_entry(unsigned long addr);
void shim_note_pte_table(void);
/* vmap_pages_range_noflush(): -ENOMEM where no pte table covers a page */
int shim_vmap_pages(unsigned long addr, unsigned long end, struct page **pages);
/* an arch flow's own first chunk callbacks, counted like the ones above */
void shim_count_pcpu_fc_alloc(unsigned int cpu, size_t size, size_t align, const void *got);
void shim_count_pcpu_fc_free(const void *ptr, size_t size);

/* page frames: struct page is opaque, one byte per arena page */
struct page;
struct page *shim_virt_to_page(const void *addr);
void *shim_page_address(const struct page *page);
int shim_map_kernel_range(unsigned long addr, unsigned long size, struct page **pages);

/* JSON sections written into the shared result area */
struct shim_json;
struct shim_json *shim_section_begin(const char *name);
void shim_section_end(struct shim_json *w);
void shim_json_key(struct shim_json *w, const char *key);
void shim_json_i64(struct shim_json *w, long long v);
void shim_json_u64(struct shim_json *w, unsigned long long v);
void shim_json_bool(struct shim_json *w, _Bool v);
void shim_json_null(struct shim_json *w);
void shim_json_str(struct shim_json *w, const char *s);
void shim_json_ptr(struct shim_json *w, const void *p);
void shim_json_obj_begin(struct shim_json *w);
void shim_json_obj_end(struct shim_json *w);
void shim_json_arr_begin(struct shim_json *w);
void shim_json_arr_end(struct shim_json *w);

#define SHIM_JSON_VALUE(w, x) _Generic((x),					\
	_Bool: shim_json_bool,							\
	char: shim_json_i64, signed char: shim_json_i64, short: shim_json_i64,	\
	int: shim_json_i64, long: shim_json_i64, long long: shim_json_i64,	\
	unsigned char: shim_json_u64, unsigned short: shim_json_u64,		\
	unsigned int: shim_json_u64, unsigned long: shim_json_u64,		\
	unsigned long long: shim_json_u64,					\
	default: shim_json_ptr)((w), (x))

/* static data the kernel copies into every unit: the area sits at a fixed
 * address, so __per_cpu_load is an address constant as in the kernel (x86
 * uses it in static initializers) */
#define SHIM_STATIC_ADDR 0x6f0000000000UL
#define SHIM_STATIC_RESERVE (1UL << 34)
#define SHIM_STATIC_LOAD (SHIM_STATIC_ADDR + SHIM_STATIC_RESERVE / 2)
extern char *shim_per_cpu_start, *shim_per_cpu_end, *shim_per_cpu_load;

/* The call trace: which functions of an arch flow ran, with their integer
 * arguments and what they returned.  Kept in the runtime so that a BUG or
 * panic halfway still reports the calls made so far. */
int shim_trace_enter(const char *fn);
void shim_trace_arg_s(int ev, const char *name, long long value);
void shim_trace_arg_u(int ev, const char *name, unsigned long long value);
void shim_trace_arg_other(int ev, const char *name, ...);
void shim_trace_ret_s(int ev, long long value);
void shim_trace_ret_u(int ev, unsigned long long value);
void shim_trace_ret_ptr(int ev, const void *value);
void shim_trace_leave(int ev);
#define SHIM_TRACE_ARG(ev, name, x) _Generic((x),				\
	_Bool: shim_trace_arg_u, char: shim_trace_arg_s, signed char: shim_trace_arg_s,	\
	short: shim_trace_arg_s, int: shim_trace_arg_s, long: shim_trace_arg_s,		\
	long long: shim_trace_arg_s, unsigned char: shim_trace_arg_u,			\
	unsigned short: shim_trace_arg_u, unsigned int: shim_trace_arg_u,		\
	unsigned long: shim_trace_arg_u, unsigned long long: shim_trace_arg_u,		\
	default: shim_trace_arg_other)((ev), (name), (x))
#define SHIM_TRACE_RET(ev, x) _Generic((x),					\
	_Bool: shim_trace_ret_u, char: shim_trace_ret_s, signed char: shim_trace_ret_s,	\
	short: shim_trace_ret_s, int: shim_trace_ret_s, long: shim_trace_ret_s,		\
	long long: shim_trace_ret_s, unsigned char: shim_trace_ret_u,			\
	unsigned short: shim_trace_ret_u, unsigned int: shim_trace_ret_u,		\
	unsigned long: shim_trace_ret_u, unsigned long long: shim_trace_ret_u,		\
	default: shim_trace_ret_ptr)((ev), (x))

/* Where a first-chunk address really lives: the arch's page tables when
 * it keeps them (sparc64), the address itself otherwise. */
const void *shim_arch_translate(const void *addr);
/* The arch flow's entry, from the arch translation unit. */
void shim_arch_boot(void);

/* provided by the generated translation unit */
int shim_run_scenario(const struct shim_case *c);
void shim_emit_final_state(void);
extern const char shim_generation[];

/* runtime helpers for the glue */
void shim_note_return(long long value);
void shim_unsupported_scenario(const char *name) __attribute__((noreturn));
void shim_note_setup_entry(void);
/* unit_offsets, when the revision keeps them, place each cpu's unit; the
 * groups' spans bound the chunk (embed's groups need not be adjacent). */
void shim_emit_static_copies(const void *base, const int *unit_map, unsigned long unit_size,
			     unsigned long nr_units, const unsigned long *unit_offsets,
			     int nr_groups, const unsigned long *group_offsets,
			     const size_t *group_sizes);

#endif

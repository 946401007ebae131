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
unsigned long shim_pa(const void *addr);
void *shim_va(unsigned long phys);
extern char *shim_arena_base;
extern char *shim_vmalloc_base;
void *shim_vm_register(unsigned long size, unsigned long align);
unsigned long shim_vmalloc_size(void);

/* log capture */
int shim_vprintk(const char *fmt, va_list ap);
int shim_printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* first chunk callbacks a scenario hands to the kernel code */
void *shim_fc_alloc(unsigned int cpu, size_t size, size_t align);
void shim_fc_free(void *ptr, size_t size);
void shim_fc_map(void *ptr, size_t size, void *addr);
void shim_fc_populate_pte(unsigned long addr);
int shim_cpu_distance(unsigned int from, unsigned int to);

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

/* static data the kernel copies into every unit */
extern char *shim_per_cpu_start, *shim_per_cpu_end, *shim_per_cpu_load;

/* provided by the generated translation unit */
int shim_run_scenario(const struct shim_case *c);
void shim_emit_final_state(void);
extern const char shim_generation[];

/* runtime helpers for the glue */
void shim_note_return(long long value);
void shim_unsupported_scenario(const char *name) __attribute__((noreturn));
void shim_emit_static_copies(const void *base, const int *unit_map, unsigned long unit_size,
			     unsigned long nr_units);

#endif

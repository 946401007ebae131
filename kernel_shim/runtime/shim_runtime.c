/*
 * percpu-diff shim runtime: a simulated boot for the kernel's percpu
 * first-chunk code.
 *
 * The process is a fork server.  It reads one case per line on stdin,
 * forks a child per case (so every case boots from the same pristine
 * state and nothing leaks from one case to the next), and prints one JSON
 * object per case on stdout.  The child records what the kernel code did
 * into a shared memory area as it goes, so a case that crashes, trips a
 * sanitizer or hangs still leaves its evidence behind.
 */
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
#include <unistd.h>

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

enum outcome { OUT_NONE, OUT_OK, OUT_BUG, OUT_PANIC, OUT_UNSUPPORTED };

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

struct bootmem_state {
	unsigned long limit;		/* simulated memory size */
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
};

struct shim_case shim_case;
unsigned long shim_possible_bits[(NR_CPUS + 63) / 64];
unsigned int shim_nr_cpu_ids;
char *shim_arena_base;
char *shim_vmalloc_base;
char *shim_per_cpu_start, *shim_per_cpu_end, *shim_per_cpu_load;

static struct shared_area *shared;
static struct bootmem_state bm;
static int stderr_fd = -1;
static bool in_child;

/* ---------------------------------------------------------------- JSON */

static void sec_put(struct shared_section *s, const char *text, size_t n)
{
	if (s->len + n >= SECTION_CAP) {
		s->overflow = 1;
		return;
	}
	memcpy(s->text + s->len, text, n);
	s->len += n;
}

static void sec_printf(struct shared_section *s, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		sec_put(s, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void json_escape(struct shared_section *s, const char *str, size_t n)
{
	sec_put(s, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)str[i];
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			sec_put(s, e, 2);
		} else if (c == '\n') {
			sec_put(s, "\\n", 2);
		} else if (c == '\t') {
			sec_put(s, "\\t", 2);
		} else if (c < 0x20 || c >= 0x7f) {
			sec_printf(s, "\\u%04x", c);
		} else {
			sec_put(s, (const char *)&c, 1);
		}
	}
	sec_put(s, "\"", 1);
}

static struct shim_json section_writers[MAX_SECTIONS];

struct shim_json *shim_section_begin(const char *name)
{
	int i;

	for (i = 0; i < shared->nr_sections; i++)
		if (!strcmp(shared->sections[i].name, name))
			break;
	if (i == MAX_SECTIONS)
		shim_panic(__FILE__, __LINE__, "shim: too many result sections");
	if (i == shared->nr_sections)
		shared->nr_sections++;
	struct shared_section *s = &shared->sections[i];
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->len = 0;
	s->closed = 0;
	s->overflow = 0;
	struct shim_json *w = &section_writers[i];
	memset(w, 0, sizeof(*w));
	w->sec = s;
	return w;
}

void shim_section_end(struct shim_json *w)
{
	w->sec->closed = !w->sec->overflow;
}

static void json_sep(struct shim_json *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->need_comma[w->depth])
		sec_put(w->sec, ",", 1);
	w->need_comma[w->depth] = true;
}

void shim_json_key(struct shim_json *w, const char *key)
{
	json_sep(w);
	json_escape(w->sec, key, strlen(key));
	sec_put(w->sec, ":", 1);
	w->after_key = true;
}

void shim_json_i64(struct shim_json *w, long long v) { json_sep(w); sec_printf(w->sec, "%lld", v); }
void shim_json_u64(struct shim_json *w, unsigned long long v) { json_sep(w); sec_printf(w->sec, "%llu", v); }
void shim_json_bool(struct shim_json *w, _Bool v) { json_sep(w); sec_printf(w->sec, v ? "true" : "false"); }
void shim_json_null(struct shim_json *w) { json_sep(w); sec_put(w->sec, "null", 4); }

void shim_json_str(struct shim_json *w, const char *s)
{
	json_sep(w);
	json_escape(w->sec, s, strlen(s));
}

/* Pointers are reported relative to the simulated region they fall in. */
void shim_json_ptr(struct shim_json *w, const void *p)
{
	unsigned long a = (unsigned long)p;
	unsigned long arena = (unsigned long)shim_arena_base;
	unsigned long vmal = (unsigned long)shim_vmalloc_base;
	char buf[64];

	if (!p) {
		shim_json_null(w);
		return;
	}
	if (a >= arena && a < arena + REGION_RESERVE)
		snprintf(buf, sizeof(buf), "phys:0x%lx", a - arena);
	else if (a >= vmal && a < vmal + REGION_RESERVE)
		snprintf(buf, sizeof(buf), "vmalloc:0x%lx", a - vmal);
	else	/* program data moves with ASLR; its address would make results differ */
		snprintf(buf, sizeof(buf), "other");
	shim_json_str(w, buf);
}

void shim_json_obj_begin(struct shim_json *w) { json_sep(w); sec_put(w->sec, "{", 1); w->need_comma[++w->depth] = false; }
void shim_json_obj_end(struct shim_json *w) { w->depth--; sec_put(w->sec, "}", 1); }
void shim_json_arr_begin(struct shim_json *w) { json_sep(w); sec_put(w->sec, "[", 1); w->need_comma[++w->depth] = false; }
void shim_json_arr_end(struct shim_json *w) { w->depth--; sec_put(w->sec, "]", 1); }

static void json_kv_u64(struct shim_json *w, const char *key, unsigned long long v)
{
	shim_json_key(w, key);
	shim_json_u64(w, v);
}

/* ------------------------------------------------------------- outcomes */

static void emit_bootmem(void);
static void emit_trace(void);

static void finish_child(void) __attribute__((noreturn));
static void finish_child(void)
{
	emit_trace();
	emit_bootmem();
	_exit(0);
}

void shim_bug(const char *file, int line, const char *cond)
{
	if (!in_child)
		abort();
	if (shared->outcome == OUT_NONE) {
		shared->outcome = OUT_BUG;
		shared->line = line;
		snprintf(shared->file, sizeof(shared->file), "%s", file);
		snprintf(shared->message, sizeof(shared->message), "%s", cond);
	}
	finish_child();
}

void shim_panic(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (!in_child)
		abort();
	if (shared->outcome == OUT_NONE) {
		shared->outcome = OUT_PANIC;
		shared->line = line;
		snprintf(shared->file, sizeof(shared->file), "%s", file);
		va_start(ap, fmt);
		vsnprintf(shared->message, sizeof(shared->message), fmt, ap);
		va_end(ap);
	}
	finish_child();
}

int shim_warn(const char *file, int line, const char *cond)
{
	shim_printk("<4>WARNING: at %s:%d (%s)\n", file, line, cond);
	return 1;
}

void shim_unsupported_scenario(const char *name)
{
	shared->outcome = OUT_UNSUPPORTED;
	snprintf(shared->message, sizeof(shared->message),
		 "scenario '%s' is not available in this source", name);
	finish_child();
}

/* Replaced by the arch translation unit's entry: a shim linked without
 * one has no arch flow to run. */
__attribute__((weak)) void shim_arch_boot(void)
{
	shim_unsupported_scenario(shim_case.scenario);
}

void *shim_slab_too_early(const char *file, int line, const char *what)
{
	shim_panic(file, line, "%s() called before the slab allocator is up", what);
}

/* ------------------------------------------------------------------ log */

/*
 * The kernel's bitmap formats, %*pb (hex, 32-bit chunks, most significant
 * first, comma separated) and %*pbl (ranges: 0-3,5), which libc lacks.
 */
static size_t format_bitmap(char *out, size_t cap, const unsigned long *bits, int nbits,
			    bool as_list)
{
	size_t n = 0;

#define PUT(...) (n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, __VA_ARGS__))
	if (as_list) {
		for (int b = 0; b < nbits; b++) {
			int e = b;

			if (!(bits[b / 64] >> (b % 64) & 1))
				continue;
			while (e + 1 < nbits && (bits[(e + 1) / 64] >> ((e + 1) % 64) & 1))
				e++;
			PUT(n ? ",%d" : "%d", b);
			if (e > b)
				PUT("-%d", e);
			b = e;
		}
	} else {
		for (int chunk = (nbits - 1) / 32; chunk >= 0; chunk--) {
			unsigned long word = bits[chunk / 2] >> (32 * (chunk % 2)) & 0xffffffffUL;
			int width = chunk == (nbits - 1) / 32 ? ((nbits - 1) % 32) / 4 + 1 : 8;

			if (nbits - chunk * 32 < 32)
				word &= (1UL << (nbits - chunk * 32)) - 1;
			PUT(chunk == (nbits - 1) / 32 ? "%0*lx" : ",%0*lx", width, word);
		}
	}
#undef PUT
	return n;
}

/* vsnprintf() that also knows %*pb and %*pbl: each conversion is handed
 * to libc on its own, so its argument can be taken with the right type. */
static int kernel_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
{
	size_t n = 0;

	if (!strstr(fmt, "%*pb"))
		return vsnprintf(buf, cap, fmt, ap);
	while (*fmt) {
		const char *spec = fmt, *p;
		char one[32];
		int len = 0;

		if (*fmt != '%' || fmt[1] == '%') {
			size_t k = *fmt == '%' ? 2 : 1;
			if (n + 1 < cap)
				buf[n] = *fmt;
			n++;
			fmt += k;
			continue;
		}
		if (!strncmp(fmt, "%*pb", 4)) {
			int nbits = va_arg(ap, int);
			const unsigned long *bits = va_arg(ap, const unsigned long *);
			bool as_list = fmt[4] == 'l';

			n += format_bitmap(buf + n, n < cap ? cap - n : 0, bits, nbits, as_list);
			fmt += as_list ? 5 : 4;
			continue;
		}
		p = fmt + 1;
		p += strspn(p, "-+ #0");
		if (*p == '*') { len++; p++; } else p += strspn(p, "0123456789");
		if (*p == '.') { p++; if (*p == '*') { len++; p++; } else p += strspn(p, "0123456789"); }
		const char *mod = p;
		p += strspn(p, "hlLqjzt");
		char conv = *p;
		size_t speclen = (size_t)(p - spec) + 1;
		if (!conv || speclen >= sizeof(one))
			break;
		memcpy(one, spec, speclen);
		one[speclen] = '\0';
		int w1 = len > 0 ? va_arg(ap, int) : 0, w2 = len > 1 ? va_arg(ap, int) : 0;
		char *dst = buf + (n < cap ? n : cap);
		size_t room = n < cap ? cap - n : 0;
		int got;
		bool is_long = mod[0] == 'l' || mod[0] == 'z' || mod[0] == 't' || mod[0] == 'j' ||
			       mod[0] == 'q';

#define ONE(arg) (len == 2 ? snprintf(dst, room, one, w1, w2, arg) :		\
		  len == 1 ? snprintf(dst, room, one, w1, arg) : snprintf(dst, room, one, arg))
		if (strchr("diouxXc", conv))
			got = is_long ? ONE(va_arg(ap, long)) : ONE(va_arg(ap, int));
		else if (strchr("eEfFgGaA", conv))
			got = ONE(va_arg(ap, double));
		else
			got = ONE(va_arg(ap, void *));
#undef ONE
		n += got > 0 ? (size_t)got : 0;
		fmt = p + 1;
	}
	if (cap)
		buf[n < cap ? n : cap - 1] = '\0';
	return (int)n;
}

int shim_vprintk(const char *fmt, va_list ap)
{
	char buf[4096];
	int n = kernel_vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t len;

	if (n < 0)
		return n;
	len = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
	if (shared->log_len + len >= LOG_CAP) {
		shared->log_overflow = 1;
		return n;
	}
	memcpy(shared->log + shared->log_len, buf, len);
	shared->log_len += len;
	return n;
}

int shim_printk(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = shim_vprintk(fmt, ap);
	va_end(ap);
	return n;
}

/* -------------------------------------------------------------- bootmem */

unsigned long shim_pa(const void *addr) { return (unsigned long)addr - (unsigned long)shim_arena_base; }
void *shim_va(unsigned long phys) { return shim_arena_base + phys; }

/* Index of the first held range ending after @addr (nr_held if none). */
static size_t held_first_ending_after(unsigned long addr)
{
	size_t lo = 0, hi = bm.nr_held;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (bm.held[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void held_insert(unsigned long start, unsigned long end)
{
	/* ranges are disjoint: the first one ending after start begins after it */
	size_t i = held_first_ending_after(start);
	/* merge with the predecessor and successor when adjacent */
	if (i > 0 && bm.held[i - 1].end == start) {
		bm.held[i - 1].end = end;
		if (i < bm.nr_held && bm.held[i].start == end) {
			bm.held[i - 1].end = bm.held[i].end;
			memmove(&bm.held[i], &bm.held[i + 1], (bm.nr_held - i - 1) * sizeof(bm.held[0]));
			bm.nr_held--;
		}
		return;
	}
	if (i < bm.nr_held && bm.held[i].start == end) {
		bm.held[i].start = start;
		return;
	}
	if (bm.nr_held == bm.cap_held) {
		bm.cap_held = bm.cap_held ? bm.cap_held * 2 : 256;
		bm.held = realloc(bm.held, bm.cap_held * sizeof(bm.held[0]));
		if (!bm.held)
			shim_panic(__FILE__, __LINE__, "shim: out of memory for bootmem ranges");
	}
	memmove(&bm.held[i + 1], &bm.held[i], (bm.nr_held - i) * sizeof(bm.held[0]));
	bm.held[i].start = start;
	bm.held[i].end = end;
	bm.nr_held++;
}

/* Index of the held range containing [start, end), or -1. */
static long held_find(unsigned long start, unsigned long end)
{
	size_t lo = 0, hi = bm.nr_held;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (bm.held[mid].end <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < bm.nr_held && bm.held[lo].start <= start && bm.held[lo].end >= end)
		return (long)lo;
	return -1;
}

static unsigned long overlap_in(const struct range *ranges, size_t n, unsigned long start,
				unsigned long end)
{
	unsigned long total = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned long s = ranges[i].start > start ? ranges[i].start : start;
		unsigned long e = ranges[i].end < end ? ranges[i].end : end;
		if (s < e)
			total += e - s;
	}
	return total;
}

static unsigned long held_overlap(unsigned long start, unsigned long end)
{
	return overlap_in(bm.held, bm.nr_held, start, end);
}

/* Held range @i no longer holds [phys, end): what lies outside stays held. */
static void held_release(size_t i, unsigned long phys, unsigned long end)
{
	struct range r = bm.held[i];

	memmove(&bm.held[i], &bm.held[i + 1], (bm.nr_held - i - 1) * sizeof(bm.held[0]));
	bm.nr_held--;
	if (r.start < phys)
		held_insert(r.start, phys);
	if (end < r.end)
		held_insert(end, r.end);
}

/* A free of memory that was not (all) held: recorded, never applied blindly. */
static void note_bad_free(unsigned long phys, unsigned long size, unsigned long held)
{
	if (bm.nr_bad < MAX_BAD_FREES) {
		bm.bad[bm.nr_bad].phys = phys;
		bm.bad[bm.nr_bad].size = size;
		bm.bad[bm.nr_bad].unheld = size - held;
	}
	bm.nr_bad++;
	bm.bad_free_bytes += size;
}

/*
 * What bootmem holds when pcpu_setup_first_chunk() is entered: the first
 * chunk allocators have given back what they meant to by then, and the
 * setup's own allocations may land in those holes afterwards.
 */
static struct range *held_at_setup;
static size_t nr_held_at_setup;

void shim_note_setup_entry(void)
{
	free(held_at_setup);
	held_at_setup = malloc((bm.nr_held + 1) * sizeof(*held_at_setup));
	if (!held_at_setup)
		shim_panic(__FILE__, __LINE__, "shim: out of memory for bootmem ranges");
	memcpy(held_at_setup, bm.held, bm.nr_held * sizeof(*held_at_setup));
	nr_held_at_setup = bm.nr_held;
}

/*
 * First fit of [size] at @align, searching from @from up to @limit: the
 * lowest free range that holds it, freed memory included, as the bootmem
 * bitmap gives it out.
 */
static bool bootmem_fit(unsigned long from, unsigned long limit, unsigned long size,
			unsigned long align, unsigned long *found)
{
	unsigned long start = (from + align - 1) & ~(align - 1);

	for (size_t i = held_first_ending_after(start); i <= bm.nr_held; i++) {
		unsigned long gap_end = i < bm.nr_held ? bm.held[i].start : limit;

		if (gap_end > limit)
			gap_end = limit;
		if (start < start + size && start + size <= gap_end) {
			*found = start;
			return true;
		}
		if (i == bm.nr_held || start >= limit)
			break;
		if (bm.held[i].end > start)
			start = (bm.held[i].end + align - 1) & ~(align - 1);
		if (start < bm.held[i].end)	/* wrapped */
			return false;
	}
	return false;
}

void *shim_bootmem_alloc(unsigned long size, unsigned long align, unsigned long goal,
			 bool may_fail, const char *caller)
{
	unsigned long start, end, redzone_end;
	size_t next;

	if (may_fail && shim_case.fail_bootmem >= 0 && bm.nopanic_calls++ == shim_case.fail_bootmem)
		goto fail;
	if (!align)
		align = SHIM_PAGE_SIZE;
	if (align & (align - 1))
		shim_panic(__FILE__, __LINE__, "%s: bootmem alignment %lu is not a power of two",
			   caller, align);
	/* __alloc_bootmem(): at or above the goal first, then anywhere. */
	if (size == 0 ||
	    (!bootmem_fit(goal, bm.limit, size, align, &start) &&
	     !(goal && bootmem_fit(0, bm.limit, size, align, &start))))
		goto fail;
	end = start + size;
	SHIM_UNPOISON(shim_arena_base + start, size);
	/* A red zone after the block, up to the next block held. */
	redzone_end = end + REDZONE;
	next = held_first_ending_after(end);
	if (next < bm.nr_held && bm.held[next].start < redzone_end)
		redzone_end = bm.held[next].start;
	SHIM_POISON(shim_arena_base + end, redzone_end - end);
	held_insert(start, end);
	bm.allocated += size;
	bm.nr_allocs++;
	return shim_arena_base + start;
fail:
	bm.nr_failed++;
	if (may_fail)
		return NULL;
	shim_panic(__FILE__, __LINE__, "Out of memory: %s could not allocate %lu bytes from bootmem",
		   caller, size);
}

void *shim_bootmem_alloc_node(struct pglist_data *pgdat, unsigned long size, unsigned long align,
			      unsigned long goal, bool may_fail, const char *caller)
{
	void *p = shim_bootmem_alloc(size, align, goal, may_fail, caller);

	/* One memory pool: the node is recorded, so locality can be checked. */
	bm.node_directed = true;
	if (p && pgdat && pgdat->node_id >= 0 && pgdat->node_id < SHIM_MAX_NODES)
		bm.node_bytes[pgdat->node_id] += size;
	return p;
}

void shim_bootmem_free(unsigned long phys, unsigned long size)
{
	unsigned long end = phys + size;
	long i;

	bm.nr_frees++;
	/* free_bootmem() returns whole pages only: a partial page at either
	 * end stays reserved, so the caller keeps it. */
	if (end >= phys) {
		phys = (phys + SHIM_PAGE_SIZE - 1) & ~(SHIM_PAGE_SIZE - 1);
		end &= ~(SHIM_PAGE_SIZE - 1);
		if (end <= phys)
			return;
		size = end - phys;
	}
	i = end > phys ? held_find(phys, end) : -1;
	if (i < 0) {
		note_bad_free(phys, size, end > phys ? held_overlap(phys, end) : 0);
		return;
	}
	held_release((size_t)i, phys, end);
	SHIM_POISON(shim_arena_base + phys, size);
	bm.freed += size;
}

/*
 * memblock_alloc*(): the highest free range at or above min_addr that fits
 * (memblock allocates top-down), zeroed; NULL when nothing fits, which the
 * callers check.  Every call may fail, so fail_bootmem counts them all.
 */
static bool memblock_fit(unsigned long min_addr, unsigned long size, unsigned long align,
			 unsigned long *found)
{
	for (size_t i = bm.nr_held + 1; i-- > 0;) {
		unsigned long gap_start = i ? bm.held[i - 1].end : 0;
		unsigned long gap_end = i < bm.nr_held ? bm.held[i].start : bm.limit;
		unsigned long start;

		if (gap_end < size || gap_end <= min_addr)
			continue;
		start = (gap_end - size) & ~(align - 1);
		if (start >= gap_start && start >= min_addr) {
			*found = start;
			return true;
		}
	}
	return false;
}

void *shim_memblock_alloc(unsigned long size, unsigned long align, unsigned long min_addr,
			  int nid, const char *caller)
{
	unsigned long start;

	if (shim_case.fail_bootmem >= 0 && bm.nopanic_calls++ == shim_case.fail_bootmem)
		goto fail;
	if (!align)
		align = 64;
	if (align & (align - 1))
		shim_panic(__FILE__, __LINE__, "%s: memblock alignment %lu is not a power of two",
			   caller, align);
	/* memblock_alloc_range_nid(): min_addr is a hint; below it is tried next */
	if (size == 0 || (!memblock_fit(min_addr, size, align, &start) &&
			  !(min_addr && memblock_fit(0, size, align, &start))))
		goto fail;
	SHIM_UNPOISON(shim_arena_base + start, size);
	memset(shim_arena_base + start, 0, size);
	held_insert(start, start + size);
	bm.allocated += size;
	bm.nr_allocs++;
	if (nid >= 0 && nid < SHIM_MAX_NODES) {
		bm.node_directed = true;
		bm.node_bytes[nid] += size;
	}
	return shim_arena_base + start;
fail:
	bm.nr_failed++;
	return NULL;
}

/* memblock_free(): exactly the bytes named, whole pages or not. */
void shim_memblock_free(const void *ptr, unsigned long size)
{
	unsigned long phys = shim_pa(ptr), end = phys + size, held;

	bm.nr_frees++;
	if (!size)
		return;
	held = end > phys ? held_overlap(phys, end) : 0;
	if (held != size)
		note_bad_free(phys, size, held);
	/* memblock removes whatever part of the range is reserved */
	for (size_t i = held_first_ending_after(phys); i < bm.nr_held && bm.held[i].start < end;
	     i = held_first_ending_after(end))
		held_release(i, phys, end);
	SHIM_POISON(shim_arena_base + phys, size);
	bm.freed += held;
}

/* ------------------------------------------ page tables, vmalloc, pages */

static unsigned long shim_pgd[SHIM_PAGE_SIZE / sizeof(unsigned long)];

unsigned long *shim_pgd_entry(unsigned long addr)
{
	unsigned int bits = SHIM_PAGE_SHIFT - 3;
	unsigned int shift = SHIM_PAGE_SHIFT + 4 * bits;

	return &shim_pgd[shift < 64 ? (addr >> shift) & ((1UL << bits) - 1) : 0];
}

/* weak: an arch shim (sparc64) may keep its own */
__attribute__((weak)) struct mm_struct { int shim_unused; } init_mm;

void shim_note_pte_table(void)
{
	bm.ptes++;
}

int shim_vmap_pages(unsigned long addr, unsigned long end, struct page **pages)
{
	(void)pages;
	bm.maps++;
	for (; addr < end; addr += SHIM_PAGE_SIZE) {
		unsigned long e = *shim_pgd_entry(addr);

		for (int level = 3; e && level >= 1; level--)
			e = ((unsigned long *)e)[SHIM_PT_INDEX(addr, level)];
		if (!e)
			return -ENOMEM;
	}
	return 0;
}

void *shim_vm_register(unsigned long size, unsigned long align)
{
	unsigned long start;

	if (!align)
		shim_panic(__FILE__, __LINE__, "vm_area_register_early: alignment 0");
	/* The kernel's ALIGN(): mask arithmetic, whatever align is.  A unit
	 * size that is not a power of two (lpage with a 3M unit, say) gets
	 * what the kernel would give it, not a refusal. */
	start = (bm.vm_cursor + align - 1) & ~(align - 1);
	if (start + size < start || start + size > REGION_RESERVE - REDZONE)
		shim_panic(__FILE__, __LINE__, "vm_area_register_early: %lu bytes do not fit", size);
	bm.vm_cursor = (start + size + SHIM_PAGE_SIZE - 1) & ~(SHIM_PAGE_SIZE - 1);
	if (bm.nr_vm < 16) {
		bm.vm[bm.nr_vm].offset = start;
		bm.vm[bm.nr_vm].size = size;
		bm.vm[bm.nr_vm].align = align;
	}
	bm.nr_vm++;
	SHIM_UNPOISON(shim_vmalloc_base + start, size);
	SHIM_POISON(shim_vmalloc_base + start + size, REDZONE);
	return shim_vmalloc_base + start;
}

unsigned long shim_vmalloc_size(void) { return shim_case.vmalloc_size; }

/* One byte of fake struct page per arena page, never dereferenced. */
#define PAGE_MAP_ADDR ((char *)0x6e0000000000UL)
struct page *shim_virt_to_page(const void *addr)
{
	return (struct page *)(PAGE_MAP_ADDR + (shim_pa(addr) >> SHIM_PAGE_SHIFT));
}

void *shim_page_address(const struct page *page)
{
	return shim_va((unsigned long)((const char *)page - PAGE_MAP_ADDR) << SHIM_PAGE_SHIFT);
}

int shim_map_kernel_range(unsigned long addr, unsigned long size, struct page **pages)
{
	(void)addr; (void)pages;
	bm.maps++;
	return (int)(size >> SHIM_PAGE_SHIFT);
}

/* Overridden by the arch glue of a flow that keeps page tables. */
__attribute__((weak)) const void *shim_arch_translate(const void *addr) { return addr; }

/* ------------------------------------------------------------------ nodes */

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

/* ------------------------------------------------------------ call trace */

#define MAX_TRACE 256
#define MAX_TRACE_ARGS 6
enum trace_ret { RET_NONE, RET_SIGNED, RET_UNSIGNED, RET_PTR, RET_NULL, RET_VOID };
static struct trace_event {
	const char *fn;
	int depth, nargs;
	enum trace_ret ret_kind;
	long long ret;
	struct { const char *name; long long value; bool is_unsigned; } args[MAX_TRACE_ARGS];
} trace[MAX_TRACE];
static int nr_trace, trace_depth;

int shim_trace_enter(const char *fn)
{
	int ev = nr_trace < MAX_TRACE ? nr_trace++ : -1;
	if (ev >= 0) {
		trace[ev].fn = fn;
		trace[ev].depth = trace_depth;
		trace[ev].nargs = 0;
		trace[ev].ret_kind = RET_NONE;
	}
	trace_depth++;
	return ev;
}

static void trace_arg(int ev, const char *name, long long value, bool is_unsigned)
{
	if (ev < 0 || trace[ev].nargs >= MAX_TRACE_ARGS)
		return;
	trace[ev].args[trace[ev].nargs].name = name;
	trace[ev].args[trace[ev].nargs].value = value;
	trace[ev].args[trace[ev].nargs].is_unsigned = is_unsigned;
	trace[ev].nargs++;
}

void shim_trace_arg_s(int ev, const char *name, long long value) { trace_arg(ev, name, value, false); }
void shim_trace_arg_u(int ev, const char *name, unsigned long long value) { trace_arg(ev, name, (long long)value, true); }
/* Pointers and callbacks: their value says nothing from one boot to the next. */
void shim_trace_arg_other(int ev, const char *name, ...) { (void)ev; (void)name; }

static void trace_ret(int ev, enum trace_ret kind, long long value)
{
	trace_depth--;
	if (ev < 0)
		return;
	trace[ev].ret_kind = kind;
	trace[ev].ret = value;
}

void shim_trace_ret_s(int ev, long long value) { trace_ret(ev, RET_SIGNED, value); }
void shim_trace_ret_u(int ev, unsigned long long value) { trace_ret(ev, RET_UNSIGNED, (long long)value); }
void shim_trace_ret_ptr(int ev, const void *value)
{
	unsigned long v = (unsigned long)value;
	/* IS_ERR(): the errno travels in the pointer */
	if (v >= (unsigned long)-4095)
		trace_ret(ev, RET_SIGNED, (long)v);
	else
		trace_ret(ev, value ? RET_PTR : RET_NULL, 0);
}
void shim_trace_leave(int ev) { trace_ret(ev, RET_VOID, 0); }

static void emit_trace(void)
{
	struct shim_json *w;

	if (!nr_trace)
		return;
	w = shim_section_begin("trace");
	shim_json_arr_begin(w);
	for (int i = 0; i < nr_trace; i++) {
		struct trace_event *e = &trace[i];
		shim_json_obj_begin(w);
		shim_json_key(w, "fn"); shim_json_str(w, e->fn);
		shim_json_key(w, "depth"); shim_json_i64(w, e->depth);
		shim_json_key(w, "args");
		shim_json_obj_begin(w);
		for (int a = 0; a < e->nargs; a++) {
			shim_json_key(w, e->args[a].name);
			if (e->args[a].is_unsigned)
				shim_json_u64(w, (unsigned long long)e->args[a].value);
			else
				shim_json_i64(w, e->args[a].value);
		}
		shim_json_obj_end(w);
		/* "returned": false marks a call that never came back (BUG, panic) */
		shim_json_key(w, "returned"); shim_json_bool(w, e->ret_kind != RET_NONE);
		shim_json_key(w, "return");
		switch (e->ret_kind) {
		case RET_SIGNED: shim_json_i64(w, e->ret); break;
		case RET_UNSIGNED: shim_json_u64(w, (unsigned long long)e->ret); break;
		case RET_PTR: shim_json_str(w, "pointer"); break;
		default: shim_json_null(w); break;
		}
		shim_json_obj_end(w);
	}
	shim_json_arr_end(w);
	shim_section_end(w);
}

/* --------------------------------------------------------- fc callbacks */

void shim_count_pcpu_fc_alloc(unsigned int cpu, size_t size, size_t align, const void *got)
{
	int node = cpu < NR_CPUS ? shim_case.node_of_cpu[cpu] : 0;

	(void)align;
	if (!got)
		return;
	bm.fc_allocs++;
	bm.fc_alloc_bytes += size;
	if (node >= 0 && node < SHIM_MAX_NODES)
		bm.fc_alloc_bytes_on_node[node] += size;
}

void shim_count_pcpu_fc_free(const void *ptr, size_t size)
{
	(void)ptr;
	bm.fc_frees++;
	bm.fc_free_bytes += size;
}

void *shim_fc_alloc(unsigned int cpu, size_t size, size_t align)
{
	void *p;

	if (shim_case.fail_fc_alloc >= 0 && bm.fc_alloc_calls++ == shim_case.fail_fc_alloc)
		return NULL;
	p = shim_bootmem_alloc(size, align, 0, true, "pcpu_fc_alloc");
	shim_count_pcpu_fc_alloc(cpu, size, align, p);
	return p;
}

void shim_fc_free(void *ptr, size_t size)
{
	shim_count_pcpu_fc_free(ptr, size);
	shim_bootmem_free(shim_pa(ptr), size);
}

void shim_fc_map(void *ptr, size_t size, void *addr)
{
	(void)ptr; (void)size; (void)addr;
	bm.maps++;
}

void shim_fc_populate_pte(unsigned long addr)
{
	(void)addr;
	bm.ptes++;
}

int shim_fc_cpu_to_node(int cpu)
{
	return shim_cpu_to_node((unsigned int)cpu);
}

int shim_cpu_distance(unsigned int from, unsigned int to)
{
	if (from >= NR_CPUS || to >= NR_CPUS)
		shim_bug(__FILE__, __LINE__, "cpu_distance_fn called with cpu >= NR_CPUS");
	return shim_case.distance[shim_case.node_of_cpu[from]][shim_case.node_of_cpu[to]];
}

/* --------------------------------------------------------- result notes */

void shim_note_return(long long value)
{
	struct shim_json *w = shim_section_begin("return");
	shim_json_i64(w, value);
	shim_section_end(w);
}

/*
 * Every possible cpu's unit must start with a copy of the static data.
 * An embedded chunk lives in bootmem, so what it still holds there shows
 * whether the unused tails and empty units were given back.
 */
void shim_emit_static_copies(const void *base, const int *unit_map, unsigned long unit_size,
			     unsigned long nr_units, const unsigned long *unit_offsets,
			     int nr_groups, const unsigned long *group_offsets,
			     const size_t *group_sizes)
{
	struct shim_json *w = shim_section_begin("static_copies");
	unsigned long size = shim_case.static_size;
	unsigned long checked = 0;
	unsigned long arena = (unsigned long)shim_arena_base, vmal = (unsigned long)shim_vmalloc_base;

	shim_json_obj_begin(w);
	shim_json_key(w, "bad_cpus");
	shim_json_arr_begin(w);
	for (unsigned int cpu = 0; cpu < shim_nr_cpu_ids; cpu++) {
		if (!(shim_possible_bits[cpu / 64] & (1UL << (cpu % 64))))
			continue;
		unsigned long a = (unsigned long)base + (unit_offsets ? unit_offsets[cpu] :
				  (unsigned long)(long)unit_map[cpu] * unit_size);
		a = (unsigned long)shim_arch_translate((const void *)a);
		bool inside = (a >= arena && a + size <= arena + bm.limit) ||
			      (a >= vmal && a + size <= vmal + bm.vm_cursor);
		checked++;
		if (!inside || memcmp((void *)a, shim_per_cpu_load, size))
			shim_json_u64(w, cpu);
	}
	shim_json_arr_end(w);
	json_kv_u64(w, "checked", checked);
	shim_json_key(w, "chunk_held");
	if ((unsigned long)base >= arena && (unsigned long)base < arena + REGION_RESERVE) {
		unsigned long start = shim_pa(base), held = 0;
		int spans = group_offsets ? nr_groups : 1;

		for (int g = 0; g < spans; g++) {
			unsigned long from = start + (group_offsets ? group_offsets[g] : 0);
			unsigned long to = from + (group_sizes ? group_sizes[g] : nr_units * unit_size);

			held += held_at_setup ? overlap_in(held_at_setup, nr_held_at_setup, from, to) :
						held_overlap(from, to);
		}
		shim_json_u64(w, held);
	} else {
		shim_json_null(w);
	}
	shim_json_obj_end(w);
	shim_section_end(w);
}

static void emit_bootmem(void)
{
	struct shim_json *w = shim_section_begin("bootmem");
	unsigned long held_bytes = 0;

	for (size_t i = 0; i < bm.nr_held; i++)
		held_bytes += bm.held[i].end - bm.held[i].start;
	shim_json_obj_begin(w);
	json_kv_u64(w, "allocated", bm.allocated);
	json_kv_u64(w, "freed", bm.freed);
	json_kv_u64(w, "held", held_bytes);
	json_kv_u64(w, "allocations", bm.nr_allocs);
	json_kv_u64(w, "frees", bm.nr_frees);
	json_kv_u64(w, "failed_allocations", bm.nr_failed);
	json_kv_u64(w, "bad_free_count", (unsigned long)bm.nr_bad);
	json_kv_u64(w, "bad_free_bytes", bm.bad_free_bytes);
	shim_json_key(w, "bad_frees");
	shim_json_arr_begin(w);
	for (int i = 0; i < bm.nr_bad && i < MAX_BAD_FREES; i++) {
		shim_json_obj_begin(w);
		json_kv_u64(w, "phys", bm.bad[i].phys);
		json_kv_u64(w, "size", bm.bad[i].size);
		json_kv_u64(w, "not_held", bm.bad[i].unheld);
		shim_json_obj_end(w);
	}
	shim_json_arr_end(w);
	shim_json_key(w, "vm_areas");
	shim_json_arr_begin(w);
	for (int i = 0; i < bm.nr_vm && i < 16; i++) {
		shim_json_obj_begin(w);
		json_kv_u64(w, "offset", bm.vm[i].offset);
		json_kv_u64(w, "size", bm.vm[i].size);
		json_kv_u64(w, "align", bm.vm[i].align);
		shim_json_obj_end(w);
	}
	shim_json_arr_end(w);
	json_kv_u64(w, "fc_allocs", bm.fc_allocs);
	json_kv_u64(w, "fc_alloc_bytes", bm.fc_alloc_bytes);
	json_kv_u64(w, "fc_frees", bm.fc_frees);
	json_kv_u64(w, "fc_free_bytes", bm.fc_free_bytes);
	shim_json_key(w, "fc_alloc_bytes_by_node");
	shim_json_arr_begin(w);
	for (int n = 0; n < shim_case.nr_nodes; n++)
		shim_json_u64(w, bm.fc_alloc_bytes_on_node[n]);
	shim_json_arr_end(w);
	if (bm.node_directed) {
		shim_json_key(w, "node_bytes");
		shim_json_arr_begin(w);
		for (int n = 0; n < shim_case.nr_nodes; n++)
			shim_json_u64(w, bm.node_bytes[n]);
		shim_json_arr_end(w);
	}
	json_kv_u64(w, "maps", bm.maps);
	json_kv_u64(w, "ptes_populated", bm.ptes);
	shim_json_obj_end(w);
	shim_section_end(w);
}

/* -------------------------------------------------------- case parsing */

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

/* ------------------------------------------------------------ the child */

static void on_fault(int sig, siginfo_t *info, void *uctx)
{
	(void)uctx;
	shared->fault_signal = sig;
	shared->fault_addr = (unsigned long)info->si_addr;
	signal(sig, SIG_DFL);
	/* The calls made so far say where the boot was; a second fault in
	 * here just ends it, with the default action now in place. */
	emit_trace();
	raise(sig);
}

static void boot_case(void)
{
	unsigned int last = 0;

	memset(shim_possible_bits, 0, sizeof(shim_possible_bits));
	for (unsigned int i = 0; i < shim_case.nr_possible; i++) {
		unsigned int cpu = shim_case.possible[i];
		shim_possible_bits[cpu / 64] |= 1UL << (cpu % 64);
		last = cpu;
	}
	/* setup_nr_cpu_ids(): one past the highest possible cpu */
	shim_nr_cpu_ids = last + 1;
	memset(&bm, 0, sizeof(bm));
	bm.limit = shim_case.bootmem_size;

	shim_per_cpu_start = STATIC_ADDR;
	shim_per_cpu_end = shim_per_cpu_start + shim_case.static_size;
	shim_per_cpu_load = (char *)SHIM_STATIC_LOAD;
	for (unsigned long i = 0; i < shim_case.static_size; i++)
		shim_per_cpu_load[i] = (char)(i * 131 + 7);
}

static void run_child(long timeout_ms, long mem_mb)
{
	struct sigaction sa;
	struct rlimit rl;

	in_child = true;
#ifdef __SANITIZE_ADDRESS__
	/* A sanitizer report ends the boot: keep the trace of how it got there. */
	__sanitizer_set_death_callback(emit_trace);
#endif
	if (stderr_fd >= 0)
		dup2(stderr_fd, 2);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	rl.rlim_cur = (timeout_ms + 999) / 1000;
	rl.rlim_max = rl.rlim_cur + 1;
	setrlimit(RLIMIT_CPU, &rl);
	struct itimerval it = { { 0, 0 }, { timeout_ms / 1000, (timeout_ms % 1000) * 1000 } };
	setitimer(ITIMER_REAL, &it, NULL);
#ifndef __SANITIZE_ADDRESS__
	/* Heap headroom beyond what is mapped now; the simulated memory is
	 * bounded by the case's bootmem_size. */
	if (mem_mb > 0) {
		FILE *f = fopen("/proc/self/statm", "r");
		unsigned long pages = 0;
		if (f) {
			if (fscanf(f, "%lu", &pages) != 1)
				pages = 0;
			fclose(f);
		}
		rl.rlim_cur = rl.rlim_max = pages * sysconf(_SC_PAGESIZE) + ((unsigned long)mem_mb << 20);
		setrlimit(RLIMIT_AS, &rl);
	}
#else
	(void)mem_mb;
#endif
	boot_case();
	shim_run_scenario(&shim_case);
	shim_emit_final_state();
	shared->outcome = OUT_OK;
	finish_child();
}

/* ----------------------------------------------------------- the parent */

static void out_json_str(FILE *out, const char *s, size_t n)
{
	fputc('"', out);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static size_t read_stderr_capture(char *buf, size_t cap)
{
	ssize_t n;

	if (stderr_fd < 0)
		return 0;
	lseek(stderr_fd, 0, SEEK_SET);
	n = read(stderr_fd, buf, cap - 1);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return (size_t)n;
}

static const char *sanitizer_kind(const char *text)
{
	if (strstr(text, "ERROR: AddressSanitizer"))
		return "AddressSanitizer";
	if (strstr(text, "runtime error:"))
		return "UndefinedBehaviorSanitizer";
	if (strstr(text, "ERROR: LeakSanitizer"))
		return "LeakSanitizer";
	return NULL;
}

static void report(FILE *out, const char *id, int status, long elapsed_us, long timeout_ms)
{
	static char errbuf[1 << 16];
	size_t errlen = read_stderr_capture(errbuf, sizeof(errbuf));
	const char *san = errlen ? sanitizer_kind(errbuf) : NULL;

	fputs("{\"id\":", out);
	out_json_str(out, id, strlen(id));
	fprintf(out, ",\"generation\":\"%s\",\"nr_cpus\":%d,\"page_size\":%lu,\"elapsed_us\":%ld",
		shim_generation, NR_CPUS, SHIM_PAGE_SIZE, elapsed_us);
	fputs(",\"outcome\":{\"kind\":", out);
	if (san) {
		fputs("\"sanitizer\",\"sanitizer\":", out);
		out_json_str(out, san, strlen(san));
	} else if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGALRM || WTERMSIG(status) == SIGXCPU ||
					   (WTERMSIG(status) == SIGKILL && elapsed_us / 1000 >= timeout_ms))) {
		fprintf(out, "\"timeout\",\"limit_ms\":%ld", timeout_ms);
	} else if (WIFSIGNALED(status)) {
		fprintf(out, "\"crash\",\"signal\":%d,\"signal_name\":", WTERMSIG(status));
		const char *name = sigabbrev_np(WTERMSIG(status));
		out_json_str(out, name ? name : "?", name ? strlen(name) : 1);
		if (shared->fault_signal)
			fprintf(out, ",\"fault_addr\":\"0x%lx\"", shared->fault_addr);
	} else if (shared->outcome == OUT_BUG || shared->outcome == OUT_PANIC) {
		fputs(shared->outcome == OUT_BUG ? "\"bug\"" : "\"panic\"", out);
		fputs(",\"file\":", out);
		out_json_str(out, shared->file, strlen(shared->file));
		fprintf(out, ",\"line\":%d,\"%s\":", shared->line,
			shared->outcome == OUT_BUG ? "condition" : "message");
		out_json_str(out, shared->message, strlen(shared->message));
	} else if (shared->outcome == OUT_UNSUPPORTED) {
		fputs("\"unsupported\",\"message\":", out);
		out_json_str(out, shared->message, strlen(shared->message));
	} else if (shared->outcome == OUT_OK && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		fputs("\"ok\"", out);
	} else {
		fprintf(out, "\"exit\",\"status\":%d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	if (errlen) {
		fputs(",\"stderr\":", out);
		out_json_str(out, errbuf, errlen);
	}
	fputs("},\"log\":", out);
	out_json_str(out, shared->log, shared->log_len);
	fprintf(out, ",\"log_truncated\":%s", shared->log_overflow ? "true" : "false");
	for (int i = 0; i < shared->nr_sections; i++) {
		struct shared_section *s = &shared->sections[i];
		fputs(",", out);
		out_json_str(out, s->name, strlen(s->name));
		fputs(":", out);
		if (s->closed)
			fwrite(s->text, 1, s->len, out);
		else
			fputs("null", out);
	}
	fputs("}\n", out);
	fflush(out);
}

static void report_invalid(FILE *out, const char *id, const char *why)
{
	fputs("{\"id\":", out);
	out_json_str(out, id, strlen(id));
	fprintf(out, ",\"generation\":\"%s\",\"nr_cpus\":%d,\"page_size\":%lu,"
		"\"outcome\":{\"kind\":\"invalid\",\"message\":", shim_generation, NR_CPUS, SHIM_PAGE_SIZE);
	out_json_str(out, why, strlen(why));
	fputs("},\"log\":\"\"}\n", out);
	fflush(out);
}

static void *map_fixed(void *addr, unsigned long size)
{
	void *p = mmap(addr, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		perror("shim: mmap");
		exit(3);
	}
	return p;
}

static long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	static char line[1 << 20];
	long timeout_ms = 5000, mem_mb = 2048;
	char id[128];

	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--timeout-ms=", 13))
			timeout_ms = atol(argv[i] + 13);
		else if (!strncmp(argv[i], "--mem-mb=", 9))
			mem_mb = atol(argv[i] + 9);
		else if (!strcmp(argv[i], "--info")) {
			printf("{\"generation\":\"%s\",\"nr_cpus\":%d,\"page_size\":%lu}\n",
			       shim_generation, NR_CPUS, SHIM_PAGE_SIZE);
			return 0;
		} else {
			fprintf(stderr, "usage: %s [--timeout-ms=N] [--mem-mb=N] [--info]\n",
				argv[0]);
			return 2;
		}
	}

	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		perror("shim: mmap shared");
		return 3;
	}
	shim_arena_base = map_fixed(ARENA_ADDR, REGION_RESERVE);
	shim_vmalloc_base = map_fixed(VMALLOC_ADDR, REGION_RESERVE);
	/* __per_cpu_load is an address constant in the kernel code. */
	if (map_fixed(STATIC_ADDR, STATIC_RESERVE) != STATIC_ADDR) {
		fprintf(stderr, "shim: cannot map the static area at %p\n", (void *)STATIC_ADDR);
		return 3;
	}
	SHIM_POISON(shim_arena_base, REDZONE);
	stderr_fd = memfd_create("shim-stderr", 0);

	while (fgets(line, sizeof(line), stdin)) {
		const char *why;
		pid_t pid;
		int status = 0;
		long start;

		if (line[0] == '\n' || line[0] == '#')
			continue;
		why = parse_case(line, &shim_case);
		snprintf(id, sizeof(id), "%s", shim_case.id);
		if (why) {
			report_invalid(stdout, id, why);
			continue;
		}
		shared->outcome = OUT_NONE;
		shared->log_len = 0;
		shared->log_overflow = 0;
		shared->nr_sections = 0;
		shared->fault_signal = 0;
		/* Empty the capture and rewind it, or the next report lands
		 * after a hole of NULs and is not recognised. */
		if (stderr_fd >= 0 && (ftruncate(stderr_fd, 0) != 0 ||
				       lseek(stderr_fd, 0, SEEK_SET) != 0))
			perror("shim: resetting stderr capture");
		fflush(stdout);
		start = now_us();
		pid = fork();
		if (pid < 0) {
			report_invalid(stdout, id, "fork failed");
			continue;
		}
		if (pid == 0)
			run_child(timeout_ms, mem_mb);	/* does not return */
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		report(stdout, id, status, now_us() - start, timeout_ms);
	}
	return 0;
}

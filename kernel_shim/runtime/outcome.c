/*
 * How a boot ends early: the kernel's BUG() and panic() (WARN() only
 * logs), and the shim's own refusals.  The first outcome is recorded in
 * the shared area and the child ends at once, as the kernel would stop
 * there, after writing out the trace and the bootmem report of what the
 * boot did up to that point.
 */
#include "internal.h"

#ifdef SHIM_COVERAGE
/* libgcov writes a process's counters at exit(), which a child ending in
 * _exit() or on a signal never reaches: every way out of a child dumps them
 * first (merged by libgcov into the .gcda GCOV_PREFIX points at). */
extern void __gcov_dump(void);
#define coverage_dump() __gcov_dump()
#else
#define coverage_dump() do { } while (0)
#endif

static void finish_child(void)
{
	emit_trace();
	emit_bootmem();
	coverage_dump();
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

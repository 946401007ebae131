/*
 * The call trace of an arch flow.  It lives in the runtime, not in the
 * generated glue, so that a BUG, panic, fault or sanitizer report halfway
 * still reports the calls made up to there.
 */
#include "internal.h"

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

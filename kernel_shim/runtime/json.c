/*
 * The child's results, as JSON text written straight into the shared area
 * one section at a time, as the boot goes: a case that crashes halfway
 * still leaves the sections it finished, and one it was in the middle of
 * is reported as null rather than as broken JSON.
 */
#include "internal.h"

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

/*
 * printk() into the shared log, so the kernel's messages survive a child
 * that crashes and can be compared line by line.  libc lacks the kernel's
 * bitmap formats, hence a formatter of its own.
 */
#include "internal.h"

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

int shim_bitmap_scnprintf(char *buf, int len, const unsigned long *bits, int nbits)
{
	size_t want;

	if (len <= 0)
		return 0;
	want = format_bitmap(buf, (size_t)len, bits, nbits, false);
	/* scnprintf(): the characters written, never what did not fit */
	return want < (size_t)len ? (int)want : len - 1;
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

/*
 * The fork server.  The parent maps the simulated regions once and forks a
 * child per case, so every boot starts from the same pristine state and
 * nothing leaks from one case to the next; the child boots under a time
 * and memory limit, and the parent turns what it left in the shared area,
 * its exit status and its stderr into one JSON line.
 *
 * The time limit is CPU time of the child (user + system, ITIMER_PROF, in
 * milliseconds), so a busy machine, which only makes the child wait for a
 * core, cannot trip it: a boot that uses it all is kernel code that does
 * not finish, a "hang", reported with where it was.  The backstop for a
 * child that blocks is wall-clock time it spends blocked - sleeping or
 * stopped, not waiting for a core - up to ten times the limit (at least a
 * minute): a "timeout", which says nothing about the kernel code.  The
 * parent samples the child's state to count it, so a starved child, which
 * is runnable, is never stopped by it.
 *
 * The memory limit is the child's resident memory beyond what it started
 * with: the simulated memory (boot memory blocks, vm areas, the static
 * image, each unit's copy) as the kernel code touches it, and the heap.
 * The CPU timer ticks every 10 ms of CPU time, and each tick measures it;
 * a boot over the limit stops as "memory", which is the host's limit, not
 * the simulated machine's: the kernel code never sees an allocation fail
 * for it, so it cannot look like a kernel outcome.
 */
#include "internal.h"

/* The state shim/runtime.h exports, set up here for every boot. */
struct shim_case shim_case;
unsigned long shim_possible_bits[(NR_CPUS + 63) / 64];
unsigned int shim_nr_cpu_ids;
char *shim_arena_base;
char *shim_vmalloc_base;
char *shim_per_cpu_start, *shim_per_cpu_end, *shim_per_cpu_load;

static int stderr_fd = -1;

/* ------------------------------------------------------------ the child */

/* Faults and limits are in limits.c, included before this file. */

/* Byte i of the static image is (i * 131 + 7) mod 256, a pattern of period
 * 256: bytes [from, to) are written by copying the image's start, which
 * holds [0, from) already (from is 0 or a multiple of 256). */
static void fill_static_image(char *image, unsigned long from, unsigned long to)
{
	unsigned long done = from;

	for (; done < to && done < 256; done++)
		image[done] = (char)(done * 131 + 7);
	while (done < to) {
		unsigned long n = done < to - done ? done : to - done;

		memcpy(image + done, image, n);
		done += n;
	}
}

/* The server writes the start of both static images before it forks, so
 * that a boot finds them in place instead of faulting in and writing them
 * (a quarter of a boot's time at NR_CPUS=8); past STATIC_PREFILL the boot
 * writes its own, so a case's huge image is the boot's memory, under its
 * limit, not the server's.  Bytes past the case's image are zero, as in a
 * fresh mapping. */
#define STATIC_PREFILL (1UL << 20)
static unsigned long static_prefilled;

static void prefill_static_images(unsigned long static_size)
{
	unsigned long n = static_size < STATIC_PREFILL ? static_size : STATIC_PREFILL;
	char *images[2] = { (char *)SHIM_STATIC_LOAD, (char *)STATIC_ADDR };

	for (int i = 0; i < 2; i++) {
		if (n > static_prefilled)
			fill_static_image(images[i], 0, n);
		else
			memset(images[i] + n, 0, static_prefilled - n);
	}
	static_prefilled = n;
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
	lay_out_nodes();

	shim_per_cpu_start = STATIC_ADDR;
	shim_per_cpu_end = shim_per_cpu_start + shim_case.static_size;
	shim_per_cpu_load = (char *)SHIM_STATIC_LOAD;
	/* The static image the kernel copies into every unit.  It sits at
	 * __per_cpu_load, whence 2009 - 6.x copy it, and at __per_cpu_start as
	 * well, whence 7.x copies it: the two name one place on every arch
	 * whose percpu section is not zero-based (x86-64 linked it at 0 with
	 * PERCPU_VADDR() in 6.12, no longer in 7.1). */
	fill_static_image(shim_per_cpu_load, static_prefilled, shim_case.static_size);
	fill_static_image(shim_per_cpu_start, static_prefilled, shim_case.static_size);
}

static void run_child(long timeout_ms, long mem_mb)
{
	struct sigaction sa;

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
	sa.sa_sigaction = on_cpu_tick;
	/* the ticks must not fail a system call the boot makes */
	sa.sa_flags |= SA_RESTART;
	sigaction(SIGPROF, &sa, NULL);
	sigaction(SIGXCPU, &sa, NULL);
	/* the server blocks SIGCHLD (wait_child()); the boot has it back */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	set_limits(timeout_ms, mem_mb);
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

/* The outcome's kind and what goes with it, from the first that applies:
 * a sanitizer report, a time limit, a signal, then what the child recorded. */
static void report_outcome(FILE *out, const char *san, int status, bool blocked_too_long,
			   long timeout_ms, long cpu_ms)
{
	if (san) {
		fputs("\"sanitizer\",\"sanitizer\":", out);
		out_json_str(out, san, strlen(san));
	} else if (shared->cpu_limit_hit && WIFSIGNALED(status)) {
		fprintf(out, "\"hang\",\"limit_ms\":%ld,\"cpu_ms\":%ld,\"frames\":[", timeout_ms,
			cpu_ms);
		for (int i = 0; i < shared->nr_hang_frames; i++)
			fprintf(out, "%s\"0x%lx\"", i ? "," : "", shared->hang_frames[i]);
		fputc(']', out);
		if (shared->cpu_limit_hit == 2) {
			fputs(",\"message\":", out);
			out_json_str(out, shared->message, strlen(shared->message));
		}
	} else if (blocked_too_long || (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU)) {
		fprintf(out, "\"timeout\",\"limit_ms\":%ld,\"wall_ms\":%ld,\"cpu_ms\":%ld",
			timeout_ms, wall_limit_ms(timeout_ms), cpu_ms);
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
	} else if (shared->outcome == OUT_MEMORY) {
		fputs("\"memory\",\"message\":", out);
		out_json_str(out, shared->message, strlen(shared->message));
	} else if (shared->outcome == OUT_UNSUPPORTED) {
		fputs("\"unsupported\",\"message\":", out);
		out_json_str(out, shared->message, strlen(shared->message));
	} else if (shared->outcome == OUT_OK && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		fputs("\"ok\"", out);
	} else {
		fprintf(out, "\"exit\",\"status\":%d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
}

static void report(FILE *out, const char *id, int status, long elapsed_us, bool blocked_too_long,
		   long timeout_ms, long cpu_ms)
{
	static char errbuf[1 << 16];
	size_t errlen = read_stderr_capture(errbuf, sizeof(errbuf));
	const char *san = errlen ? sanitizer_kind(errbuf) : NULL;

	fputs("{\"id\":", out);
	out_json_str(out, id, strlen(id));
	fprintf(out, ",\"generation\":\"%s\",\"nr_cpus\":%d,\"page_size\":%lu,\"elapsed_us\":%ld",
		shim_generation, NR_CPUS, SHIM_PAGE_SIZE, elapsed_us);
	fputs(",\"outcome\":{\"kind\":", out);
	report_outcome(out, san, status, blocked_too_long, timeout_ms, cpu_ms);
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

/* The command line: -1 to go on serving, or the status to exit with. */
static int parse_args(int argc, char **argv, long *timeout_ms, long *mem_mb)
{
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--timeout-ms=", 13))
			*timeout_ms = atol(argv[i] + 13);
		else if (!strncmp(argv[i], "--mem-mb=", 9))
			*mem_mb = atol(argv[i] + 9);
		else if (!strncmp(argv[i], "--wall-ms=", 10))
			wall_ms_given = atol(argv[i] + 10);
		else if (!strcmp(argv[i], "--info")) {
			printf("{\"generation\":\"%s\",\"nr_cpus\":%d,\"page_size\":%lu}\n",
			       shim_generation, NR_CPUS, SHIM_PAGE_SIZE);
			return 0;
		} else {
			fprintf(stderr, "usage: %s [--timeout-ms=N] [--mem-mb=N] [--wall-ms=N] [--info]\n",
				argv[0]);
			return 2;
		}
	}
	return -1;
}

/* What every child inherits: the shared area, the simulated regions and
 * the stderr capture.  0, or the status to exit with. */
static int setup_server(void)
{
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
	return 0;
}

/* The shared area and the stderr capture as a new child must find them. */
static void reset_for_case(void)
{
	shared->outcome = OUT_NONE;
	shared->log_len = 0;
	shared->log_overflow = 0;
	shared->nr_sections = 0;
	shared->fault_signal = 0;
	shared->cpu_limit_hit = 0;
	shared->nr_hang_frames = 0;
	/* Empty the capture and rewind it, or the next report lands
	 * after a hole of NULs and is not recognised. */
	if (stderr_fd >= 0 && (ftruncate(stderr_fd, 0) != 0 ||
			       lseek(stderr_fd, 0, SEEK_SET) != 0))
		perror("shim: resetting stderr capture");
}

/* Whether the child is blocked: sleeping (S, D, I) or stopped (T, t), not
 * running or waiting for a core (R).  Unknown counts as blocked, which
 * makes the backstop plain wall-clock time. */
static bool child_blocked(pid_t pid)
{
	char path[64], buf[512], *state;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	state = strrchr(buf, ')');
	return !state || state[1] != ' ' || state[2] != 'R';
}

/*
 * Wait for the child, sampling its state every 50 ms (or as soon as it
 * ends: SIGCHLD, blocked in the server, wakes the wait) and killing it
 * once it has been blocked for the backstop's time.  Whether it was.
 */
static bool wait_child(pid_t pid, int *status, struct rusage *usage, long timeout_ms)
{
	sigset_t chld;
	struct timespec poll = { 0, 50 * 1000000L };
	long blocked_us = 0, last = now_us();
	bool killed = false;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		pid_t done = wait4(pid, status, WNOHANG, usage);

		if (done == pid || (done < 0 && errno != EINTR))
			return killed;
		if (sigtimedwait(&chld, NULL, &poll) == SIGCHLD)
			continue;	/* it ended: wait4() reaps it, no need to sample */
		long now = now_us();
		if (child_blocked(pid))
			blocked_us += now - last;
		last = now;
		if (!killed && blocked_us / 1000 >= wall_limit_ms(timeout_ms)) {
			kill(pid, SIGKILL);
			killed = true;
		}
	}
}

/* One case line: parsed, booted in a child of its own, reported. */
static void serve_case(char *line, long timeout_ms, long mem_mb)
{
	const char *why;
	char id[128];
	pid_t pid;
	int status = 0;
	long start;
	struct rusage usage = { 0 };
	bool blocked_too_long;

	why = parse_case(line, &shim_case);
	snprintf(id, sizeof(id), "%s", shim_case.id);
	if (why) {
		report_invalid(stdout, id, why);
		return;
	}
	reset_for_case();
	prefill_static_images(shim_case.static_size);
	fflush(stdout);
	start = now_us();
	pid = fork();
	if (pid < 0) {
		report_invalid(stdout, id, "fork failed");
		return;
	}
	if (pid == 0)
		run_child(timeout_ms, mem_mb);	/* does not return */
	blocked_too_long = wait_child(pid, &status, &usage, timeout_ms);
	report(stdout, id, status, now_us() - start, blocked_too_long, timeout_ms,
	       (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000L +
	       (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000);
}

int main(int argc, char **argv)
{
	static char line[1 << 20];
	long timeout_ms = 5000, mem_mb = 2048;
	int status = parse_args(argc, argv, &timeout_ms, &mem_mb);

	if (status >= 0)
		return status;
	status = setup_server();
	if (status)
		return status;
	/* The unwinder (libgcc_s) loads on first use: here, once, rather than
	 * in every child, or in a child's signal handler. */
	void *probe[1];
	backtrace(probe, 1);
	/* SIGCHLD stays pending for wait_child() to wait on; children unblock it. */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	while (fgets(line, sizeof(line), stdin)) {
		if (line[0] == '\n' || line[0] == '#')
			continue;
		serve_case(line, timeout_ms, mem_mb);
	}
#ifdef SHIM_COVERAGE
	/* The server ran no kernel code: its counters are all zero, and the
	 * harness may kill it as it ends, which must not catch it writing. */
	fflush(stdout);
	_exit(0);
#endif
	return 0;
}

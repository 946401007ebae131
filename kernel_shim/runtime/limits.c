/*
 * The child's limits and faults.  A boot runs under a CPU-time limit
 * (ITIMER_PROF ticks; RLIMIT_CPU a little later as a last resort) and a
 * limit on resident memory measured at each tick; a fault or a limit ends
 * the boot by recording the outcome and where it happened in the shared
 * area, which the parent (forkserver.c) turns into the case's report.
 * Why CPU time and resident memory: see forkserver.c's header.
 */
static void on_fault(int sig, siginfo_t *info, void *uctx)
{
	(void)uctx;
	shared->fault_signal = sig;
	shared->fault_addr = (unsigned long)info->si_addr;
	signal(sig, SIG_DFL);
	/* The calls made so far say where the boot was; a second fault in
	 * here just ends it, with the default action now in place. */
	emit_trace();
	coverage_dump();
	raise(sig);
}

/* The start of the executable's image: frames are reported from there, so
 * that they name the same code whatever address the loader chose. */
extern char __executable_start;

static unsigned long interrupted_pc(void *uctx)
{
	ucontext_t *uc = uctx;
#if defined(__x86_64__)
	return (unsigned long)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	return (unsigned long)uc->uc_mcontext.pc;
#else
	(void)uc;
	return 0;
#endif
}

/* The CPU timer's period: how often the memory limit is measured. */
#define TICK_MS 10L

/* In the child: CPU-timer ticks left before the limit, and the resident
 * pages it may reach (0: no memory limit). */
static long ticks_left;
static unsigned long rss_base, rss_limit;

/* Resident pages, and in *size (when given) the address space's, from
 * /proc (async-signal-safe: open, read, close). */
static unsigned long statm_pages(unsigned long *size)
{
	char buf[128], *p;
	int fd = open("/proc/self/statm", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (size)
		*size = 0;
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (size)
		*size = strtoul(buf, NULL, 10);
	p = strchr(buf, ' ');
	return p ? strtoul(p + 1, NULL, 10) : 0;
}

static unsigned long resident_pages(void)
{
	return statm_pages(NULL);
}

/* Over the memory limit: the boot ends here, as with a fault. */
static void out_of_memory_limit(unsigned long pages)
{
	long page_kb = sysconf(_SC_PAGESIZE) / 1024;

	shared->outcome = OUT_MEMORY;
	snprintf(shared->message, sizeof(shared->message),
		 "the boot's memory grew to %lu MiB, over --mem-mb %lu",
		 (pages - rss_base) * page_kb / 1024, (rss_limit - rss_base) * page_kb / 1024);
	emit_trace();
	coverage_dump();
	_exit(0);
}

static void on_cpu_limit(int sig, siginfo_t *info, void *uctx);

/*
 * What the boot holds of the simulated memory: boot memory blocks, the vm
 * areas' span and the static image (read racily from a signal handler:
 * counters only).  A boot whose resident memory passes the limit while it
 * holds less than half of it is touching memory it never allocated - a
 * kernel loop running through memory, as the 2009 fill loop reading
 * group_cnt[] past its end does - and is a kernel "hang", not a case that
 * needs more memory than the host allows.
 */
static bool runaway(void)
{
	unsigned long held = bm.allocated - bm.freed + bm.vm_cursor + 2 * shim_case.static_size;

	return held / sysconf(_SC_PAGESIZE) < (rss_limit - rss_base) / 2;
}

/* Every tick of CPU time: the memory limit, then the time limit. */
static void on_cpu_tick(int sig, siginfo_t *info, void *uctx)
{
	int saved = errno;

	if (rss_limit) {
		unsigned long pages = resident_pages();

		if (pages > rss_limit && !runaway())
			out_of_memory_limit(pages);
		if (pages > rss_limit) {
			long page_kb = sysconf(_SC_PAGESIZE) / 1024;

			snprintf(shared->message, sizeof(shared->message),
				 "its memory grew to %lu MiB, over --mem-mb %lu, in memory it "
				 "never allocated", (pages - rss_base) * page_kb / 1024,
				 (rss_limit - rss_base) * page_kb / 1024);
			shared->cpu_limit_hit = 2;
			on_cpu_limit(sig, info, uctx);
			return;
		}
	}
	if (sig == SIGPROF && --ticks_left > 0) {
		errno = saved;
		return;
	}
	on_cpu_limit(sig, info, uctx);
}

/*
 * The CPU-time limit (SIGPROF, or SIGXCPU if that did not end it): the boot
 * spent all of it without finishing.  Where it was - the interrupted
 * instruction, then its callers as the unwinder finds them through the
 * signal frame - says which loop; the calls made so far are kept as for a
 * fault.  Return addresses are taken one back, into their call.
 */
static void on_cpu_limit(int sig, siginfo_t *info, void *uctx)
{
	void *frames[MAX_HANG_FRAMES + 8];
	unsigned long base = (unsigned long)&__executable_start;
	unsigned long pc = interrupted_pc(uctx);
	int n = backtrace(frames, MAX_HANG_FRAMES + 8), first = n, kept = 0;

	(void)info;
	if (!shared->cpu_limit_hit)
		shared->cpu_limit_hit = 1;
	for (int i = 0; i < n; i++) {
		if ((unsigned long)frames[i] == pc) {
			first = i;
			break;
		}
	}
	if (first == n && pc)
		shared->hang_frames[kept++] = pc - base;
	for (int i = first; i < n && kept < MAX_HANG_FRAMES; i++)
		shared->hang_frames[kept++] = (unsigned long)frames[i] - base - (i > first);
	shared->nr_hang_frames = kept;
	signal(sig, SIG_DFL);
	emit_trace();
	coverage_dump();
	raise(sig);
}

#ifdef __SANITIZE_ADDRESS__
/* ASan calls this as it starts a report: the report is evidence the boot
 * already ended, and its symbolizing must not be cut short by the CPU limit
 * (the backstop for a blocked boot still holds). */
void __asan_on_error(void)
{
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	ticks_left = 0;
	rss_limit = 0;
	setitimer(ITIMER_PROF, &off, NULL);
	getrlimit(RLIMIT_CPU, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_CPU, &rl);
}
#endif

/* --wall-ms: the backstop (time blocked), when told (tests); 0: from the
 * CPU limit. */
static long wall_ms_given;

/* The backstop, wall-clock time blocked, for a CPU limit of `timeout_ms`. */
static long wall_limit_ms(long timeout_ms)
{
	if (wall_ms_given > 0)
		return wall_ms_given;
	return timeout_ms > 6000 ? 10 * timeout_ms : 60000;
}

/* CPU time: ITIMER_PROF ticking up to the limit, RLIMIT_CPU a little later
 * in case the handler could not run (SIGXCPU, then SIGKILL); memory:
 * measured at every tick.  (The backstop is the parent's: wait_child().) */
static void set_limits(long timeout_ms, long mem_mb)
{
	struct rlimit rl;
	long tick_ms = timeout_ms > 0 && timeout_ms < TICK_MS ? timeout_ms : TICK_MS;
	struct itimerval cpu = { { 0, tick_ms * 1000 }, { 0, tick_ms * 1000 } };
	unsigned long mapped_pages;

	rss_base = statm_pages(&mapped_pages);
	rss_limit = mem_mb > 0 && rss_base ?
		    rss_base + ((unsigned long)mem_mb << 20) / sysconf(_SC_PAGESIZE) : 0;
	/* No time limit: the ticks still measure memory, and never run out. */
	ticks_left = timeout_ms > 0 ? (timeout_ms + tick_ms - 1) / tick_ms : -1;
	if (timeout_ms > 0 || rss_limit)
		setitimer(ITIMER_PROF, &cpu, NULL);
	if (timeout_ms > 0) {
		rl.rlim_cur = (timeout_ms + 999) / 1000 + 2;
		rl.rlim_max = rl.rlim_cur + 1;
		setrlimit(RLIMIT_CPU, &rl);
	}
#ifndef __SANITIZE_ADDRESS__
	/* Address space: heap headroom beyond what is mapped now.  The
	 * simulated regions are reserved up front, so this bounds the heap
	 * only; the ticks measure what is resident, simulated memory too. */
	if (mem_mb > 0) {
		rl.rlim_cur = rl.rlim_max = mapped_pages * sysconf(_SC_PAGESIZE) +
					    ((unsigned long)mem_mb << 20);
		setrlimit(RLIMIT_AS, &rl);
	}
#endif
}

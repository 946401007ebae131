/*
 * percpu-diff's boot probe: the /init of a throw-away initramfs.
 *
 * It reads what pcpu_setup_first_chunk() left behind out of the running
 * kernel - symbol addresses from /proc/kallsyms, memory from /proc/kcore -
 * as told by /requests, prints one "percpu-probe:" line per request on the
 * console and powers the machine off.  It knows no kernel structure: the
 * harness asks for bytes and decodes them, so one probe serves every
 * kernel.  Requests, one per line:
 *
 *   val NAME SIZE             SIZE bytes at &NAME
 *   arr NAME COUNT ELEMSIZE   *COUNT (an int) elements at the pointer NAME holds
 *   pcpu NAME SIZE COUNT      per-cpu NAME of cpus 0..*COUNT-1 (via __per_cpu_offset)
 *   list NAME COUNT           the entries of the *COUNT list heads at the pointer NAME holds
 *   file PATH                 a file's first line (sysfs, procfs)
 *
 * Output: "percpu-probe: KIND NAME hex..." or "percpu-probe: KIND NAME
 * missing|unreadable", then "percpu-probe: done".
 */
#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <unistd.h>

#define MAX_SEGMENTS 512
#define MAX_SYMBOLS 64
#define MAX_BYTES (1 << 20)
#define MAX_LIST 64

static int kcore = -1;
static Elf64_Phdr segments[MAX_SEGMENTS];
static int nr_segments;
static struct { char name[128]; unsigned long addr; int found; } symbols[MAX_SYMBOLS];
static int nr_symbols;
static unsigned char buf[MAX_BYTES];

static int kread(unsigned long addr, void *to, size_t size)
{
	for (int i = 0; i < nr_segments; i++) {
		Elf64_Phdr *s = &segments[i];

		if (s->p_type == PT_LOAD && addr >= s->p_vaddr && addr - s->p_vaddr + size <= s->p_filesz)
			return pread(kcore, to, size, s->p_offset + (addr - s->p_vaddr)) == (ssize_t)size ? 0 : -1;
	}
	return -1;
}

static void open_kcore(void)
{
	Elf64_Ehdr header;

	kcore = open("/proc/kcore", O_RDONLY);
	if (kcore < 0 || pread(kcore, &header, sizeof(header), 0) != sizeof(header))
		return;
	nr_segments = header.e_phnum < MAX_SEGMENTS ? header.e_phnum : MAX_SEGMENTS;
	if (pread(kcore, segments, nr_segments * sizeof(Elf64_Phdr), header.e_phoff) < 0)
		nr_segments = 0;
}

static void want(const char *name)
{
	for (int i = 0; i < nr_symbols; i++)
		if (!strcmp(symbols[i].name, name))
			return;
	if (nr_symbols < MAX_SYMBOLS)
		snprintf(symbols[nr_symbols++].name, sizeof(symbols[0].name), "%s", name);
}

static void read_kallsyms(void)
{
	FILE *file = fopen("/proc/kallsyms", "r");
	char line[512], name[256], type;
	unsigned long addr;

	while (file && fgets(line, sizeof(line), file)) {
		if (sscanf(line, "%lx %c %255s", &addr, &type, name) != 3)
			continue;
		for (int i = 0; i < nr_symbols; i++)
			if (!symbols[i].found && !strcmp(symbols[i].name, name)) {
				symbols[i].addr = addr;
				symbols[i].found = 1;
			}
	}
	if (file)
		fclose(file);
}

static int lookup(const char *name, unsigned long *addr)
{
	for (int i = 0; i < nr_symbols; i++)
		if (symbols[i].found && !strcmp(symbols[i].name, name)) {
			*addr = symbols[i].addr;
			return 0;
		}
	return -1;
}

static void print_bytes(const char *kind, const char *name, const void *from, size_t size)
{
	const unsigned char *bytes = from;

	printf("percpu-probe: %s %s ", kind, name);
	for (size_t i = 0; i < size; i++)
		printf("%02x", bytes[i]);
	printf("\n");
}

static int read_count(const char *name, unsigned long *count)
{
	unsigned long addr;
	int value;

	if (lookup(name, &addr) || kread(addr, &value, sizeof(value)) || value < 0)
		return -1;
	*count = value;
	return 0;
}

static int read_pointer(const char *name, unsigned long *pointer)
{
	unsigned long addr;

	return lookup(name, &addr) || kread(addr, pointer, sizeof(*pointer)) ? -1 : 0;
}

static const char *answer_val(const char *name, unsigned long size)
{
	unsigned long addr;

	if (size > MAX_BYTES || lookup(name, &addr))
		return "missing";
	if (kread(addr, buf, size))
		return "unreadable";
	print_bytes("val", name, buf, size);
	return NULL;
}

static const char *answer_arr(const char *name, const char *count_name, unsigned long elem)
{
	unsigned long pointer, count;

	if (read_pointer(name, &pointer) || read_count(count_name, &count))
		return "missing";
	if (count * elem > MAX_BYTES || kread(pointer, buf, count * elem))
		return "unreadable";
	print_bytes("arr", name, buf, count * elem);
	return NULL;
}

static const char *answer_pcpu(const char *name, unsigned long size, const char *count_name)
{
	unsigned long offset, count, base, table;

	if (lookup(name, &offset) || lookup("__per_cpu_offset", &table) ||
	    read_count(count_name, &count))
		return "missing";
	if (count * size > MAX_BYTES)
		return "unreadable";
	for (unsigned long cpu = 0; cpu < count; cpu++)
		if (kread(table + cpu * sizeof(base), &base, sizeof(base)) ||
		    kread(base + offset, buf + cpu * size, size))
			return "unreadable";
	print_bytes("pcpu", name, buf, count * size);
	return NULL;
}

/* Each list head's entries (the addresses of their list_head members), a
 * head with none as nothing; heads separated by '/'. */
static const char *answer_list(const char *name, const char *count_name)
{
	unsigned long heads, count, head, next;

	if (read_pointer(name, &heads) || read_count(count_name, &count))
		return "missing";
	printf("percpu-probe: list %s ", name);
	for (unsigned long i = 0; i < count; i++) {
		head = heads + i * 2 * sizeof(unsigned long);
		if (kread(head, &next, sizeof(next)))
			return "unreadable";
		for (int n = 0; next != head && n < MAX_LIST; n++) {
			printf("%lx,", next);
			if (kread(next, &next, sizeof(next)))
				return "unreadable";
		}
		printf("/");
	}
	printf("\n");
	return NULL;
}

static const char *answer_file(const char *path)
{
	FILE *file = fopen(path, "r");
	char line[4096];

	if (!file)
		return "missing";
	if (!fgets(line, sizeof(line), file))
		line[0] = 0;
	fclose(file);
	line[strcspn(line, "\n")] = 0;
	printf("percpu-probe: file %s %s\n", path, line);
	return NULL;
}

static void answer(char *line)
{
	char kind[16], a[256], b[256], c[256];
	int n = sscanf(line, "%15s %255s %255s %255s", kind, a, b, c);
	const char *failed = "malformed";

	if (n == 3 && !strcmp(kind, "val"))
		failed = answer_val(a, strtoul(b, NULL, 0));
	else if (n == 4 && !strcmp(kind, "arr"))
		failed = answer_arr(a, b, strtoul(c, NULL, 0));
	else if (n == 4 && !strcmp(kind, "pcpu"))
		failed = answer_pcpu(a, strtoul(b, NULL, 0), c);
	else if (n == 3 && !strcmp(kind, "list"))
		failed = answer_list(a, b);
	else if (n == 2 && !strcmp(kind, "file"))
		failed = answer_file(a);
	if (failed)
		printf("percpu-probe: %s %s %s\n", n > 0 ? kind : "?", n > 1 ? a : "?", failed);
}

/* Every symbol a request names, so that kallsyms is read once. */
static void collect(char *line)
{
	char kind[16], a[256], b[256], c[256];
	int n = sscanf(line, "%15s %255s %255s %255s", kind, a, b, c);

	if (n >= 3 && strcmp(kind, "file")) {
		want(a);
		if (strcmp(kind, "val"))
			want(n == 4 && !strcmp(kind, "arr") ? b : (n == 4 ? c : b));
	}
	if (n == 4 && !strcmp(kind, "pcpu"))
		want("__per_cpu_offset");
}

int main(void)
{
	static char lines[256][600];
	int nr_lines = 0;
	FILE *requests;

	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	requests = fopen("/requests", "r");
	while (requests && nr_lines < 256 && fgets(lines[nr_lines], sizeof(lines[0]), requests))
		collect(lines[nr_lines++]);
	read_kallsyms();
	open_kcore();
	printf("percpu-probe: start\n");
	for (int i = 0; i < nr_lines; i++)
		answer(lines[i]);
	printf("percpu-probe: done\n");
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}

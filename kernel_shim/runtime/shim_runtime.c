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
 *
 * The build (harness/compile/shims.py) compiles this file alone: it includes a
 * file per role, so the state they share (internal.h) can stay static.
 */
#include "internal.h"

#include "json.c"
#include "outcome.c"
#include "printk.c"
#include "bootmem.c"
#include "memblock.c"
#include "vm.c"
#include "numa.c"
#include "trace.c"
#include "fc.c"
#include "get_page.c"
#include "notes.c"
#include "case.c"
#include "limits.c"
#include "forkserver.c"

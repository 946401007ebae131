#ifndef _SHIM_LINUX_ERRNO_H
#define _SHIM_LINUX_ERRNO_H
/* libc's <errno.h> reaches this file too, so it must not include it back. */
#include <asm-generic/errno.h>
#endif

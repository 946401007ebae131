#ifndef _SHIM_LINUX_BUG_H
#define _SHIM_LINUX_BUG_H
#include <shim/runtime.h>
/* A BUG ends the simulated boot with a recorded outcome, never an abort. */
#define BUG() shim_bug(__FILE__, __LINE__, "BUG()")
#define BUG_ON(cond) do { if (__builtin_expect(!!(cond), 0)) shim_bug(__FILE__, __LINE__, #cond); } while (0)
#define WARN_ON(cond) ({ int __c = !!(cond); if (__c) shim_warn(__FILE__, __LINE__, #cond); __c; })
#define WARN_ON_ONCE(cond) WARN_ON(cond)
#define BUILD_BUG_ON(cond) ((void)sizeof(char[1 - 2 * !!(cond)]))
#define panic(...) shim_panic(__FILE__, __LINE__, __VA_ARGS__)
#endif

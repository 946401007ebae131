#ifndef _SHIM_LINUX_MUTEX_H
#define _SHIM_LINUX_MUTEX_H
/* One boot, one thread: locks are counters that catch imbalance. */
struct mutex { int locked; };
#define DEFINE_MUTEX(name) struct mutex name = { 0 }
#define mutex_lock(m) ((m)->locked++)
#define mutex_unlock(m) ((m)->locked--)
#endif

#ifndef _SHIM_LINUX_WORKQUEUE_H
#define _SHIM_LINUX_WORKQUEUE_H
struct work_struct { void (*func)(struct work_struct *); };
#define DECLARE_WORK(name, fn) struct work_struct name = { (fn) }
#define schedule_work(w) ((void)(w), 1)
#endif

#ifndef _SHIM_LINUX_MMZONE_H
#define _SHIM_LINUX_MMZONE_H
#include <shim/runtime.h>
typedef struct pglist_data pg_data_t;
#define NODE_DATA(node) shim_node_data(node)
#endif

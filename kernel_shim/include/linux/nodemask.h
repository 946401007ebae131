#ifndef _SHIM_LINUX_NODEMASK_H
#define _SHIM_LINUX_NODEMASK_H
#include <shim/runtime.h>
/* Nodes come from the case: an offline node has no NODE_DATA either. */
#define node_online(node) shim_node_online(node)
#define nr_node_ids shim_nr_node_ids()
#endif

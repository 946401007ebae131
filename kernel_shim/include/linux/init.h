#ifndef _SHIM_LINUX_INIT_H
#define _SHIM_LINUX_INIT_H
#include <linux/compiler.h>	/* __init and friends mean nothing here */
#endif

#ifndef _SHIM_LINUX_MODULE_H
#define _SHIM_LINUX_MODULE_H
#define EXPORT_SYMBOL(sym) extern int shim_export_##sym
#define EXPORT_SYMBOL_GPL(sym) extern int shim_export_##sym
#define early_param(str, fn) extern int shim_early_param_##fn
#endif

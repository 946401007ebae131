/* linux/export.h (3.x on): the EXPORT_SYMBOL*() half of linux/module.h. */
#include <linux/module.h>

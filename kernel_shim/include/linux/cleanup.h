/* linux/cleanup.h: nothing the first chunk code reaches. */

/* linux/mmdebug.h: nothing the first chunk code reaches. */

/* linux/preempt.h: nothing the first chunk code reaches. */

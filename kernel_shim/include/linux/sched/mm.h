/* Task memory state: nothing the first chunk code reaches. */

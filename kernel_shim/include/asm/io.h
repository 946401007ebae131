/* Port and MMIO accessors: nothing the first chunk code reaches. */

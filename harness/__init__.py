"""percpu-diff: differential testing of the kernel's percpu first-chunk setup."""

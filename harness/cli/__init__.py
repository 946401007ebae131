"""The percpu-diff command line."""

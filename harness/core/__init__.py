"""Beneath every stage: the case, errors, paths, the log and dump formats,
and the small shared facts (kernel file names, arch sizes, cpu grouping)."""

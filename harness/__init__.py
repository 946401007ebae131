"""percpu-diff: a differential test harness for mm/percpu.c's first-chunk setup.

The stages, in the order data flows through them:
sources -> extract -> build -> run, beside the models (py_impl/), then
judge -> campaign -> report, with cli on top and core beneath all.
"""

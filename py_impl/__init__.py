"""Independent Python models of the percpu first-chunk API generations.

Written from the documented contract (kernel-doc comments, the seed patch's
commit message), never from the C; they arrive with issue 3.
"""

#ifndef _SHIM_TRACE_EVENTS_PERCPU_H
#define _SHIM_TRACE_EVENTS_PERCPU_H
/* Tracepoints compile to nothing, as with tracing off. */
#define trace_percpu_create_chunk(base_addr) ((void)(base_addr))
#define trace_percpu_destroy_chunk(base_addr) ((void)(base_addr))
#define trace_percpu_alloc_percpu(...) do { } while (0)
#define trace_percpu_free_percpu(...) do { } while (0)
#define trace_percpu_alloc_percpu_fail(...) do { } while (0)
#endif

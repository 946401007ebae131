"""What an arch flow did, read from the call trace the shim records.

The shim traces the calls of setup_per_cpu_areas() that choose a first
chunk allocator: each setup_pcpu_*() attempt, with its `chosen` argument
and return value, and beneath it the questions it asked (pcpu_need_numa(),
cpu_has_pse) and the mm/percpu.c calls it made.  An attempt is summed up
as the allocator, whether it was chosen on the command line, what it
returned, and why it declined or failed, in a vocabulary the models use
too, so the kernel's reasons are compared with the documented ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.core.result import Attempt, BootResult, TraceEvent

EINVAL = 22
ENOMEM = 12

# Why an attempt ended as it did.
REASONS = {
    "ok": "set up the first chunk",
    "not-built": "compiled out (the kernel has no NUMA support for it)",
    "not-numa": "declined: a single node, where embedding is better (lpage)",
    "numa": "declined: several nodes, where embedding does not place memory well (embed)",
    "no-pse": "declined: the cpu has no large pages (PSE)",
    "build-failed": "building the unit layout failed",
    "vmalloc-limit": "declined: the chunk would take more than 20% of the vmalloc area",
    "alloc-failed": "allocating the first chunk failed",
    "too-spread": "declined: the groups lie further apart than 3/4 of the vmalloc area (embed)",
    "did-not-return": "the boot ended inside it (BUG or panic)",
    "failed": "failed for a reason percpu-diff does not name",
}
ALLOCATOR_PREFIX = "setup_pcpu_"
# "percpu: rename 4k first chunk allocator to page" (00ae4064b14): one
# allocator, named as it is today.
_RENAMED = {"4k": "page"}
# Calls that tidy up rather than decide anything.
_TIDY = frozenset({"pcpu_free_alloc_info"})
_BUILD = frozenset({"pcpu_build_alloc_info", "pcpu_lpage_build_unit_map"})
# Today's x86 flow (2.6.32 on) has no setup_pcpu_*(): setup_per_cpu_areas()
# calls the generic allocators itself, embedding first, so the attempts
# are those calls.
DIRECT_ALLOCATORS = {"pcpu_embed_first_chunk": "embed", "pcpu_page_first_chunk": "page"}


def attempts(trace: Sequence[TraceEvent]) -> list[Attempt]:
    """The allocator attempts of one boot, in order."""
    if not any(str(e.get("fn", "")).startswith(ALLOCATOR_PREFIX) for e in trace):
        return _direct_attempts(trace)
    out: list[Attempt] = []
    for i, event in enumerate(trace):
        fn = str(event.get("fn", ""))
        if not fn.startswith(ALLOCATOR_PREFIX):
            continue
        depth = int(event.get("depth", 0))
        children: list[TraceEvent] = []
        for later in trace[i + 1:]:
            if int(later.get("depth", 0)) <= depth:
                break
            if int(later.get("depth", 0)) == depth + 1:
                children.append(later)
        args = event.get("args") or {}
        returned = event.get("return") if event.get("returned") else None
        # chosen None: the allocator takes no such argument (page);
        # return None: it never returned.
        name = fn[len(ALLOCATOR_PREFIX):]
        out.append({"allocator": _RENAMED.get(name, name),
                    "chosen": bool(args["chosen"]) if "chosen" in args else None,
                    "return": returned if isinstance(returned, int) else None,
                    "reason": _reason(event, children)})
    return out


def _direct_attempts(trace: Sequence[TraceEvent]) -> list[Attempt]:
    """The generic allocators setup_per_cpu_areas() called itself (depth 1)."""
    out: list[Attempt] = []
    for event in trace:
        allocator = DIRECT_ALLOCATORS.get(str(event.get("fn", "")))
        if allocator is None or int(event.get("depth", 0)) != 1:
            continue
        returned = event.get("return") if event.get("returned") else None
        ret = returned if isinstance(returned, int) else None
        if ret is None:
            reason = "did-not-return"
        elif ret >= 0:
            reason = "ok"
        else:
            # embed's -EINVAL is its vmalloc spread check; -ENOMEM a failed allocation
            reason = "too-spread" if ret == -EINVAL and allocator == "embed" else "alloc-failed"
        out.append({"allocator": allocator, "chosen": None, "return": ret, "reason": reason})
    return out


def _reason(event: TraceEvent, children: Sequence[TraceEvent]) -> str:
    if not event.get("returned"):
        return "did-not-return"
    ret = event.get("return")
    if isinstance(ret, int) and ret >= 0:
        return "ok"
    deciding = [c for c in children if c.get("fn") not in _TIDY]
    if not deciding:
        return "not-built" if ret == -EINVAL else "failed"
    last = deciding[-1]
    fn, value = last.get("fn"), last.get("return")
    if fn == "pcpu_need_numa":
        if value and event.get("fn") == ALLOCATOR_PREFIX + "lpage":
            # lpage goes on on NUMA; declining right after the answer, with
            # nothing else asked, is the vmalloc limit of the unit map's
            # first revision (2f39e637ea2), which checks it before PSE.
            return "vmalloc-limit"
        return "numa" if value else "not-numa"
    if fn == "cpu_has_pse" and not value:
        return "no-pse"
    if fn in _BUILD:
        if isinstance(value, int) and value < 0:
            return "build-failed"
        if ret == -EINVAL:
            return "vmalloc-limit"
    if str(fn).endswith("_first_chunk") and isinstance(value, int) and value < 0:
        return "alloc-failed"
    if ret == -ENOMEM:
        return "alloc-failed"
    return "failed"


def path(result: BootResult) -> str | None:
    """'lpage:not-numa > embed:ok', the way one boot chose its allocator;
    None for results of no arch flow."""
    tried = result_attempts(result)
    if tried is None:
        return None
    if not tried:
        return "(no choice)"
    return " > ".join(f"{a['allocator']}:{a['reason']}" for a in tried)


def result_attempts(result: BootResult) -> list[Attempt] | None:
    """A model states its attempts; a kernel's are read off its trace (run/server.py
    does it once, as the result arrives)."""
    if "attempts" in result:
        return list(result["attempts"])
    if "trace" in result:
        return attempts(result["trace"] or [])
    return None


def allocator(scenario: str, result: BootResult) -> str:
    """The generic allocator behind a result: the scenario itself, or in an
    x86 flow the last allocator tried (sparc64 sets its chunk up itself)."""
    tried = result_attempts(result)
    if tried:
        return str(tried[-1].get("allocator"))
    return scenario

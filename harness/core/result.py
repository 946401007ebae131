"""What one boot's result is: the shape every writer produces and every
reader may rely on.

Three writers make results - the shim (kernel_shim/runtime and the
rendered translation units), the models (py_impl/result.py) and the
harness itself when a shim dies (run/server.py) - and they meet only here.
The shim's JSON is checked against this shape once, where it is read
(`parse_result`); the models build it directly.

Sections whose keys are a kernel struct's fields (struct pcpu_alloc_info,
pcpu_group_info, pcpu_chunk) are *open*: a patch that adds a field shows
up in the results with no change here, and the comparison reports it.
Everything else is closed: a key this module does not name is a writer's
mistake, refused on reading.

`harness/core/fields.py` turns this shape into the field paths that
comparisons, triage entries and declared changes may name.
"""

from __future__ import annotations

from typing import Any, Required, TypedDict, get_args, get_type_hints, is_typeddict

from harness.core.errors import UserError

# Any JSON value: what a field of an open section, a trace argument or a
# compared field holds.  Compared by equality, never computed on.
JsonValue = Any
# A pointer the shim reports, "phys:0x1000" or "vmalloc:0x...", or the
# region alone ("phys", "vmalloc") where a model reports it.
Pointer = str
# A cpu -> unit (or unit -> cpu) array; None where a slot holds nothing.
Slots = list[int | None]


class Outcome(TypedDict, total=False):
    """How the boot ended: kind, and the evidence that goes with it."""

    kind: Required[str]  # one of OUTCOME_KINDS
    file: str  # bug, panic: where
    line: int
    condition: str  # bug: the BUG_ON condition
    message: str  # panic, unsupported, harness, invalid, memory, hang: what was said
    check: str  # a model's failed check
    signal: int  # crash
    signal_name: str
    fault_addr: str
    limit_ms: int  # timeout, hang: the CPU-time limit
    cpu_ms: int  # timeout, hang: CPU time the boot used
    wall_ms: int  # timeout: the backstop that ended it (wall-clock time spent blocked)
    frames: list[str]  # hang: where the CPU limit found it, innermost first
    function: str  # hang: the innermost kernel function of frames (file, line: its place)
    sanitizer: str  # sanitizer: which one reported
    status: int  # exit: the child's exit status
    stderr: str  # what the child wrote to stderr


OUTCOME_KINDS = ("ok", "bug", "panic", "crash", "hang", "timeout", "memory", "sanitizer",
                 "unsupported", "exit", "invalid", "harness")


class Group(TypedDict, total=False):
    """struct pcpu_group_info (open: a revision's own fields)."""

    nr_units: int
    base_offset: int
    cpu_map: list[int]


class AllocInfo(TypedDict, total=False):
    """struct pcpu_alloc_info (open)."""

    static_size: int
    reserved_size: int
    dyn_size: int
    unit_size: int
    atom_size: int
    alloc_size: int
    nr_groups: int
    groups: list[Group]
    info_bytes: int  # the shim's: bytes of the info block the kernel allocated
    # (and "__ai_size", the size the kernel rounded the block to: not compared)


class SetupArgs(TypedDict, total=False):
    """What pcpu_setup_first_chunk() was called with: an alloc_info and a
    base (alloc_info, modern), sizes, a base and a unit map (unit_map), or
    sizes, a base and callbacks, each as whether one was given (get_page)."""

    base_addr: Pointer | None  # None: NULL, the first API's "percpu maps it"
    alloc_info: AllocInfo | None
    static_size: int
    reserved_size: int
    dyn_size: int
    unit_size: int
    unit_map: Slots | None
    get_page_fn: bool
    populate_pte_fn: bool


# What the layout builder of the lpage path returned: a unit count and map
# (unit_map), or an alloc_info (alloc_info).
Build = TypedDict("Build", {
    "return": int,
    "alloc_info": AllocInfo | None,
    "dyn_size": int,
    "unit_size": int,
    "unit_map": Slots | None,
}, total=False)


class Chunk(TypedDict, total=False):
    """struct pcpu_chunk of the first or reserved chunk (open: each
    revision's fields; bitmaps are reported as their count of set bits)."""

    base_addr: Pointer
    free_size: int
    free_bytes: int
    contig_hint: int
    map_used: int
    map_alloc: int
    map: list[int]
    immutable: bool
    populated_bits: int
    vm: JsonValue
    vms: JsonValue
    data: JsonValue
    first_free: int
    isolated: bool
    start_offset: int
    end_offset: int
    nr_pages: int
    nr_populated: int
    nr_empty_pop_pages: int
    alloc_map: JsonValue
    bound_map: JsonValue
    md_blocks: JsonValue
    # 4.14 - 5.3: the bitmap allocator's hints, kept in the chunk itself
    contig_bits: int
    contig_bits_start: int
    first_bit: int


class State(TypedDict, total=False):
    """The variables pcpu_setup_first_chunk() leaves behind, named without
    their pcpu_ prefix; a revision reports those it has."""

    unit_map: Slots
    first_unit_cpu: int
    last_unit_cpu: int
    low_unit_cpu: int
    high_unit_cpu: int
    nr_units: int
    unit_pages: int
    unit_size: int
    chunk_size: int
    nr_slots: int
    # 5.14 on: the slots after the active ones (isolated and depopulated,
    # fully free, isolated and to be depopulated)
    sidelined_slot: int
    free_slot: int
    to_depopulate_slot: int
    # The size a chunk struct is allocated with (reported, not compared:
    # a struct's size is the ABI's and the configuration's)
    chunk_struct_size: int
    atom_size: int
    nr_groups: int
    group_offsets: list[int]
    group_sizes: list[int]
    unit_offsets: Slots
    # 5.9 - 5.13: one count per chunk type
    nr_empty_pop_pages: int | list[int]
    nr_populated: int
    reserved_chunk_limit: int
    base_addr: Pointer
    first_chunk: Chunk | None
    reserved_chunk: Chunk | None
    # The index of the chunk slot list (pcpu_slot[], later
    # pcpu_chunk_lists[]) holding each chunk; None when the chunk is on no
    # list or there is none.  Not pcpu_ variables: read off the lists.
    first_chunk_slot: int | None
    reserved_chunk_slot: int | None


class StaticCopies(TypedDict, total=False):
    """Whether every possible cpu's unit got the static area's image."""

    bad_cpus: list[int]
    checked: int
    chunk_held: int | None


class VmArea(TypedDict, total=False):
    size: int
    align: int
    offset: int


class BadFree(TypedDict, total=False):
    phys: int
    size: int
    not_held: int


class Bootmem(TypedDict, total=False):
    """Early-memory accounting: what was allocated, freed and still held,
    frees of memory nobody held, the first-chunk callbacks' share."""

    allocated: int
    freed: int
    held: int
    allocations: int
    frees: int
    failed_allocations: int
    bad_free_count: int
    bad_free_bytes: int
    bad_frees: list[BadFree]
    vm_areas: list[VmArea]
    fc_allocs: int
    fc_alloc_bytes: int
    fc_frees: int
    fc_free_bytes: int
    fc_alloc_bytes_by_node: list[int]
    fc_spans: list[list[int]]  # the shim's: [phys, size] of placed allocations not freed whole
    node_bytes: list[int]
    maps: int
    ptes_populated: int


# A call the arch flows made to a traced function: its arguments (open),
# whether it returned and what.
TraceEvent = TypedDict("TraceEvent", {
    "fn": str,
    "depth": int,
    "args": dict[str, JsonValue],
    "returned": bool,
    "return": JsonValue,
}, total=False)


# One first-chunk allocator an arch flow tried, read off its trace: which,
# whether percpu_alloc= chose it, why it ended, what it returned.
Attempt = TypedDict("Attempt", {
    "allocator": str,
    "chosen": bool | None,
    "reason": str,
    "return": int | None,
}, total=False)


class ArchInfo(TypedDict, total=False):
    """What an arch's setup_per_cpu_areas() left: its choice and offsets."""

    name: str
    percpu_alloc: str
    unit_offsets: Slots
    readback_bad_cpus: list[int]
    cpu_number_bad_cpus: list[int]


# One boot.  Every writer sets the identity and the outcome; the sections
# are there when the boot got as far as writing them, and None when it
# died while writing one.
BootResult = TypedDict("BootResult", {
    "id": Required[str],
    "outcome": Required[Outcome],
    "log": Required[str],
    "case": str,
    "possible": list[int],
    "generation": str,
    "nr_cpus": int,
    "page_size": int,
    "elapsed_us": int,
    "log_truncated": bool,
    "source": str,
    "constants": dict[str, int] | None,
    "setup_args": SetupArgs | None,
    "build": Build | None,
    "return": int | None,
    "state": State | None,
    "static_copies": StaticCopies | None,
    "bootmem": Bootmem | None,
    "trace": list[TraceEvent] | None,
    "attempts": list[Attempt],
    "arch": ArchInfo | None,
}, total=False)

# Sections whose keys are a kernel struct's fields or a function's
# arguments: any key is accepted there.
OPEN_SECTIONS: tuple[type, ...] = (Group, AllocInfo, Chunk, TraceEvent)


class ResultShapeError(UserError):
    """A writer produced a key the result's shape does not have."""


def parse_result(data: object, writer: str) -> BootResult:
    """`data` (decoded JSON) as a BootResult, once its keys are checked."""
    if not isinstance(data, dict):
        raise ResultShapeError(f"{writer} wrote {type(data).__name__}, not a result object: "
                               "rebuild the shim (percpu-diff build)")
    _check_keys(data, BootResult, writer, "")
    result: BootResult = data  # type: ignore[assignment]  # checked just above
    return result


def _check_keys(data: dict[str, object], shape: type, writer: str, where: str) -> None:
    children = _CHILDREN[shape]
    if shape not in OPEN_SECTIONS:
        unknown = sorted(set(data) - _KEYS[shape])
        if unknown:
            raise ResultShapeError(
                f"{writer} wrote an unknown field '{where}{unknown[0]}': the result's shape "
                "is defined in harness/core/result.py; add it there if the writer is right")
    for key, value in data.items():
        sub = children.get(key)
        if sub is not None:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    _check_keys(item, sub, writer, f"{where}{key}.")


def section_shape(hint: object) -> type | None:
    """The TypedDict a key holds - itself, in a list, or or None - if any."""
    if is_typeddict(hint):
        return hint  # type: ignore[return-value]  # a TypedDict is a type
    for arg in get_args(hint):
        shape = section_shape(arg)
        if shape is not None:
            return shape
    return None


def sections(shape: type) -> dict[str, type]:
    """Key -> the TypedDict it holds, for the keys of `shape` that hold one."""
    found = {key: section_shape(hint) for key, hint in get_type_hints(shape).items()}
    return {key: sub for key, sub in found.items() if sub is not None}


def _all_shapes(root: type) -> dict[type, dict[str, type]]:
    out: dict[type, dict[str, type]] = {}
    todo = [root]
    while todo:
        shape = todo.pop()
        if shape not in out:
            out[shape] = sections(shape)
            todo += out[shape].values()
    return out


_CHILDREN = _all_shapes(BootResult)
# Each shape's keys, resolved once: get_type_hints evaluates the annotations
# on every call, which cost a run more than its JSON did.
_KEYS = {shape: frozenset(get_type_hints(shape)) for shape in _CHILDREN}


# ------------------------------------------------------------- reading one

def laid_out_alloc_info(result: BootResult) -> AllocInfo | None:
    """The alloc_info the units were laid out in: what pcpu_setup_first_chunk()
    was handed, else (a boot that did not get that far) what the lpage
    builder returned."""
    args = result.get("setup_args") or {}
    build = result.get("build") or {}
    return args.get("alloc_info") or build.get("alloc_info")


def handed_unit_size(result: BootResult) -> int | None:
    """The unit size pcpu_setup_first_chunk() was handed, in either API."""
    args = result.get("setup_args") or {}
    sizes: AllocInfo | SetupArgs = args.get("alloc_info") or args
    return sizes.get("unit_size")

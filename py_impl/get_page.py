"""Model of the get_page generation, the first API (February - July 2009).

Written from the kernel-doc of pcpu_setup_first_chunk() as it stood in
each form of this API (8d408b4be37, cafe8816b21, edcb463997e, 6074d5b0a31,
38a6be52546, ce3141a277f), of pcpu_embed_first_chunk() (66c3a757722,
788e5abc544) and pcpu_4k_first_chunk() (d4b95f80399), of the comments in
mm/percpu.c and linux/percpu.h, and of the commit messages that changed
them; never from the C.  What it takes from them:

* the first chunk "is consisted of" one unit per cpu and "percpu base
  registers" are "UNIT_SIZE apart": cpu N's unit is N units from the base;
* pcpu_setup_first_chunk(): @static_size is mandatory; @reserved_size, if
  non-zero, is set aside after the static area for reserved allocations
  and served by a chunk of its own, while the dynamic area, if any, is
  served by a second chunk "circulated in the chunk slots" (the first
  chunk); @dyn_size, when given, is what the dynamic area holds, else
  "whatever left" in the unit; @unit_size, when given, must be page
  aligned and hold static + reserved + dyn; "auto" is 0 until "percpu: use
  negative for auto for pcpu_setup_first_chunk() arguments" and -1 after;
  a non-NULL @base_addr means the caller "already allocated virtual region
  for the first chunk and mapped it.  percpu must not mess with the
  chunk" (immutable); otherwise percpu maps the pages @get_page_fn returns
  into a vm area of its own, populating page tables with @populate_pte_fn;
  it returns the unit size;
* pcpu_embed_first_chunk(): one contiguous bootmem area used as-is; "when
  @dyn_size is positive, dynamic area might be larger than specified to
  fill page alignment", "auto" is "just big enough to fill page alignment
  after static and reserved areas"; "the leftover is returned to the
  bootmem allocator"; -errno on failure;
* pcpu_4k_first_chunk(): "Static percpu area is allocated page-by-page
  into vmalloc area"; from "percpu: make 4k first chunk allocator map
  memory" on it allocates and maps the whole unit itself ("dynamic area in
  the first chunk is allocated up-front instead of on-demand");
* "percpu: drop pcpu_chunk->page[]": the get_page_fn callback goes and the
  chunk keeps a populated bitmap instead.

Where a revision's mm/percpu.c has no allocator yet, the glue plays the
arch (kernel_shim/runtime/get_page.c); the model follows the same
documented calling convention.  Which form a revision has comes from its
facts (harness/core/generations/get_page.py), reported with the constants;
without them the model takes the last form with the callback.

Where the documentation is silent the model follows the evident intent:

* an "auto" unit is the smallest page-aligned size that holds the static,
  reserved and given dynamic areas, and no smaller than PCPU_MIN_UNIT_SIZE
  ("minimum unit size, also is the maximum supported allocation size");
* the chunk spans a unit per cpu id up to the last possible cpu, holes
  included: units are a cpu number apart, so a smaller chunk would not
  hold the last possible cpu's unit (num_possible_cpus() units is the
  header comment's assumption that cpu ids have no holes, which "percpu,
  sparc64: fix sparse possible cpu map handling" calls incorrect);
* the callbacks' traffic is counted per call: one mapping per possible
  cpu, one pte per page mapped; a "N 4k pages" message counts pages per
  cpu as the message says, whatever PAGE_SIZE is.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.arch_sizes import page_align
from harness.core.result import Chunk, SetupArgs, State
from py_impl.first_chunk import check_unit_size, setup_state
from py_impl.layout import MIN_UNIT_SIZE, AreaSizes, area_sizes
from py_impl.lpage import large_page_per_cpu
from py_impl.machine import ENOMEM, KERN_INFO, KERN_WARNING, BootRecord, Machine, ModelBug
from py_impl.result import Boot

GENERATION = "get_page"
AUTO = -1


@dataclass(frozen=True)
class Api:
    """The revision's form of the API, from its facts."""

    takes_pages: bool = True  # a get_page_fn callback
    maps_pages: bool = False  # a populate_pte_fn: setup maps what it is given
    takes_reserved: bool = True
    auto_is_zero: bool = False  # "0 for auto" (size_t sizes)
    embed_allocator: bool = True  # pcpu_embed_first_chunk() in mm/percpu.c
    page_allocator: int = 2  # pcpu_4k_first_chunk(): 0 none, 1 maps via setup, 2 itself
    first_chunk_variable: bool = True  # pcpu_first_chunk is reported
    min_unit_size: int = MIN_UNIT_SIZE

    @classmethod
    def of(cls, boot: Boot) -> Api:
        facts = boot.constants
        page_size = boot.record.machine.page_size
        latest = cls()
        return cls(
            takes_pages=bool(facts.get("setup_takes_pages", latest.takes_pages)),
            maps_pages=bool(facts.get("setup_maps_pages", latest.maps_pages)),
            takes_reserved=bool(facts.get("setup_takes_reserved", latest.takes_reserved)),
            auto_is_zero=bool(facts.get("setup_auto_is_zero", latest.auto_is_zero)),
            embed_allocator=bool(facts.get("embed_allocator", latest.embed_allocator)),
            page_allocator=facts.get("page_allocator", latest.page_allocator),
            first_chunk_variable=bool(facts.get("first_chunk_variable",
                                                latest.first_chunk_variable)),
            min_unit_size=facts.get("PCPU_MIN_UNIT_SIZE", page_align(MIN_UNIT_SIZE, page_size)),
        )

    @property
    def auto(self) -> int:
        return 0 if self.auto_is_zero else AUTO

    def reserved(self, machine: Machine) -> int:
        """The reserved size a caller can hand over: none before the API had it."""
        return machine.case.reserved_size if self.takes_reserved else 0

    def areas(self, machine: Machine) -> AreaSizes:
        """The case's areas as an allocator of this form sizes them."""
        case = machine.case
        return area_sizes(case.static_size, self.reserved(machine), case.dyn_size,
                          machine.page_size)

    def unit_for(self, used: int, page_size: int) -> int:
        return max(page_align(used, page_size), self.min_unit_size)


@dataclass(frozen=True)
class Call:
    """What a caller hands pcpu_setup_first_chunk(), auto sizes as the API spells them."""

    static: int
    reserved: int
    dyn: int
    unit: int
    base: str | None  # the region of the base address; None: percpu maps
    pages_per_cpu: int  # how many pages get_page_fn returns for each cpu
    populate: bool


def setup_first_chunk(boot: Boot, api: Api, call: Call) -> int:
    """The documented setup; returns the unit size."""
    machine = boot.record.machine
    boot.setup_args = _setup_args(api, call)
    dyn_given = call.dyn >= 0 and not (api.auto_is_zero and call.dyn == 0)
    unit_given = call.unit >= 0 and not (api.auto_is_zero and call.unit == 0)
    given = AreaSizes(call.static, call.reserved, call.dyn if dyn_given else 0)
    unit = call.unit if unit_given else api.unit_for(given.used, machine.page_size)
    check_unit_size(given, unit, machine.page_size)
    sizes = AreaSizes(call.static, call.reserved,
                      call.dyn if dyn_given else unit - call.static - call.reserved)
    chunk_size = unit * machine.nr_cpu_ids
    if call.base is None:
        record = boot.record
        record.register_vm(chunk_size, machine.page_size)
        if call.populate:
            record.ptes_populated += call.pages_per_cpu * machine.nr_possible
        record.maps += machine.nr_possible
    base = call.base or "vmalloc"
    units = {cpu: cpu for cpu in machine.possible}
    state = setup_state(machine, sizes, unit, units, machine.nr_cpu_ids, base)
    boot.modern_state = _state(api, state.to_json(machine), immutable=call.base is not None)
    boot.static_copies = {"bad_cpus": [], "checked": machine.nr_possible,
                          "chunk_held": boot.record.chunk_held}
    return unit


def _setup_args(api: Api, call: Call) -> SetupArgs:
    args: SetupArgs = {}
    if api.takes_pages:
        args["get_page_fn"] = True
    args["static_size"] = call.static
    if api.takes_reserved:
        args["reserved_size"] = call.reserved
    args["dyn_size"] = call.dyn
    args["unit_size"] = call.unit
    args["base_addr"] = call.base
    if api.maps_pages:
        args["populate_pte_fn"] = call.populate
    return args


def _state(api: Api, full: State, immutable: bool) -> State:
    """The variables this revision has: no unit map, no first or last unit cpu."""
    state: State = {key: value for key, value in full.items()  # type: ignore[assignment]
                    if key in ("unit_pages", "unit_size", "chunk_size", "nr_slots", "base_addr")}
    chunks: tuple[str, ...] = ("first_chunk",) if api.first_chunk_variable else ()
    if api.takes_reserved:
        state["reserved_chunk_limit"] = full["reserved_chunk_limit"]
        chunks += ("reserved_chunk",)
    for name in chunks:
        chunk = full[name]  # type: ignore[literal-required]
        state[name] = None if chunk is None else _chunk(api, chunk, immutable)  # type: ignore[literal-required]
        # Which slot list holds it: the glue finds a chunk by its variable.
        state[f"{name}_slot"] = full[f"{name}_slot"]  # type: ignore[literal-required]
    return state


def _chunk(api: Api, chunk: Chunk, immutable: bool) -> Chunk:
    out: Chunk = {**chunk, "immutable": immutable}
    # The populated bitmap replaced the page array with the callback.
    if api.takes_pages:
        out.pop("populated_bits", None)
    return out


# ----------------------------------------------------------------- embed

def embed(boot: Boot) -> int:
    """pcpu_embed_first_chunk(), or the glue's embedding where the revision
    has none: one bootmem block with a unit per cpu id, handed over mapped."""
    api = Api.of(boot)
    record = boot.record
    machine = record.machine
    case = machine.case
    sizes = api.areas(machine)
    unit = api.unit_for(sizes.used, machine.page_size)
    if not record.bootmem_may_fail():
        if api.embed_allocator:
            record.printk(KERN_WARNING, f"PERCPU: failed to allocate "
                                        f"{unit * machine.nr_cpu_ids} bytes for embedding")
        return -ENOMEM
    used = page_align(sizes.used, machine.page_size)
    record.chunk_held = used * machine.nr_possible
    if api.embed_allocator:
        record.printk(KERN_INFO, f"PERCPU: Embedded {used // machine.page_size} pages at "
                                 f"<bootmem>, static data {case.static_size} bytes")
    return setup_first_chunk(boot, api, Call(
        sizes.static, sizes.reserved, sizes.dyn, unit, "phys", used // machine.page_size,
        populate=False))


# ----------------------------------------------------------------- page

def alloc_pages(record: BootRecord, pages_per_cpu: int, warn: bool) -> bool:
    """pages_per_cpu pages for every possible cpu, in cpu order, from the
    arch's allocator; on failure everything allocated goes back."""
    page_size = record.machine.page_size
    done = 0
    for cpu in record.machine.possible:
        got = record.fc_alloc_many(cpu, page_size, pages_per_cpu)
        done += got
        if got < pages_per_cpu:
            if warn:
                record.printk(KERN_WARNING, f"PERCPU: failed to allocate 4k page for cpu{cpu}")
            for _ in range(done):
                record.fc_free(page_size)
            return False
    return True


def page(boot: Boot) -> int:
    """pcpu_4k_first_chunk(), or the glue's pages where the revision has no
    4k allocator: the static pages of every cpu, mapped by the setup; from
    July 2009 the 4k allocator maps whole units itself."""
    api = Api.of(boot)
    record = boot.record
    machine = record.machine
    static = machine.case.static_size
    reserved = api.reserved(machine)
    if api.page_allocator == 2:
        return _page_whole_units(boot, api, static, reserved)
    static_pages = page_align(static, machine.page_size) // machine.page_size
    if api.page_allocator == 1 and not static_pages:
        # Its page array holds the static pages only, and bootmem refuses
        # a request for nothing (alloc_bootmem_core(): BUG_ON(!size)).
        raise ModelBug("pcpu_4k_first_chunk: no static page to allocate")
    if not alloc_pages(record, static_pages, warn=api.page_allocator == 1):
        return -ENOMEM
    if api.page_allocator == 1:
        record.printk(KERN_INFO, f"PERCPU: Allocated {static_pages} 4k pages, "
                                 f"static data {static} bytes")
    return setup_first_chunk(boot, api, Call(
        static, reserved, api.auto, api.auto, None, static_pages, populate=True))


def _page_whole_units(boot: Boot, api: Api, static: int, reserved: int) -> int:
    record = boot.record
    machine = record.machine
    unit = api.unit_for(static + reserved, machine.page_size)
    unit_pages = unit // machine.page_size
    if not alloc_pages(record, unit_pages, warn=True):
        return -ENOMEM
    record.register_vm(unit * machine.nr_cpu_ids, machine.page_size)
    record.ptes_populated += unit_pages * machine.nr_possible
    record.maps += machine.nr_possible
    record.printk(KERN_INFO, f"PERCPU: {unit_pages} 4k pages per cpu, "
                             f"static data {static} bytes")
    return setup_first_chunk(boot, api, Call(
        static, reserved, AUTO, unit, "vmalloc", unit_pages, populate=False))


# ----------------------------------------------------------------- lpage

def lpage(boot: Boot) -> int:
    """pcpu_lpage_first_chunk() (its last four revisions, NUMA builds): "A
    large page is allocated for each cpu and each is remapped into vmalloc
    area"; the unit is the large page, of which "only part of it is used
    for the first chunk.  Unused part is returned to the bootmem
    allocator"; the unit size on success, -errno on failure."""
    api = Api.of(boot)
    record = boot.record
    machine = record.machine
    case = machine.case
    lpage_size = case.atom_size
    sizes = api.areas(machine)
    ret = large_page_per_cpu(record, sizes, api.unit_for(sizes.used, machine.page_size),
                             lpage_size)
    if ret < 0:
        return ret
    return setup_first_chunk(boot, api, Call(
        sizes.static, sizes.reserved, sizes.dyn, lpage_size, "vmalloc",
        lpage_size // machine.page_size, populate=False))


SCENARIOS = {"embed": embed, "page": page, "lpage": lpage}

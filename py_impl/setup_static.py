"""Model of the setup_static generation (February 2009): pcpu_setup_static().

Written from its kernel-doc (fbf59bc9d74, cae3aeb83fe), the comments of
mm/percpu.c and linux/percpu.h, and the commit messages of its five
revisions; never from the C.  What it takes from them:

* "Initialize kernel static percpu area.  The caller should allocate all
  the necessary pages and pass them in @pages" - num_possible_cpus() *
  PFN_UP(cpu_size) of them - and "@populate_pte_fn() is called on each
  page to be used for percpu mapping"; it returns "the determined
  pcpu_unit_size";
* the chunk "is consisted of" one unit per cpu, "percpu base registers
  UNIT_SIZE apart": cpu N's unit is N units from the base, in vmalloc;
* PCPU_MIN_UNIT_PAGES_SHIFT, "also max alloc size": a unit has at least
  that many pages; until "percpu: remove unit_size power-of-2 restriction"
  a unit is a power of two of pages ("allow unit_size to be arbitrary
  multiple of PAGE_SIZE"), and that commit reserves "an extra slot for
  empty chunks" (PCPU_MIN_UNIT_PAGES, in pages, from then on);
* chunks sit on slots by free size, sizes 1-31 sharing slot 1.

Where the documentation is silent it follows the evident intent, as the
get_page model does: the chunk spans a unit per cpu id up to the last
possible cpu; one mapping per possible cpu, one pte per page.  The glue
plays the arch code that allocated and filled the pages (the page way of
kernel_shim/runtime/get_page.c); the model follows the same convention.
"""

from __future__ import annotations

from harness.core.arch_sizes import page_align
from harness.core.result import State
from py_impl.first_chunk import size_slot
from py_impl.get_page import alloc_pages
from py_impl.machine import ENOMEM
from py_impl.result import Boot

GENERATION = "setup_static"


def _unit_pages(boot: Boot, static_pages: int) -> int:
    given = boot.constants
    power_of_two = bool(given.get("unit_power_of_two", 0))
    if "PCPU_MIN_UNIT_PAGES" in given:
        minimum = given["PCPU_MIN_UNIT_PAGES"]
    else:
        minimum = 1 << given.get("PCPU_MIN_UNIT_PAGES_SHIFT", 4)
    pages = max(minimum, static_pages)
    return 1 << (pages - 1).bit_length() if power_of_two else pages


def page(boot: Boot) -> int:
    """The static pages of every possible cpu, handed over in one array."""
    record = boot.record
    machine = record.machine
    static = machine.case.static_size
    static_pages = page_align(static, machine.page_size) // machine.page_size
    if not alloc_pages(record, static_pages, warn=False):
        return -ENOMEM
    boot.setup_args = {"populate_pte_fn": True, "static_size": static}
    unit = _unit_pages(boot, static_pages) * machine.page_size
    chunk_size = unit * machine.nr_cpu_ids
    record.register_vm(chunk_size, machine.page_size)
    record.ptes_populated += static_pages * machine.nr_possible
    record.maps += machine.nr_possible
    # The slot for empty chunks came with the end of the power of two.
    extra_slot = 0 if boot.constants.get("unit_power_of_two", 0) else 1
    state: State = {
        "unit_pages": unit // machine.page_size,
        "unit_size": unit,
        "chunk_size": chunk_size,
        "nr_slots": size_slot(unit) + 1 + extra_slot,
        "base_addr": "vmalloc",
    }
    boot.modern_state = state
    boot.static_copies = {"bad_cpus": [], "checked": machine.nr_possible, "chunk_held": None}
    return unit


SCENARIOS = {"page": page}

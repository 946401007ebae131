"""Model of the generic NUMA setup_per_cpu_areas() (drivers/base/arch_numa.c,
"NUMA support, based on the x86 implementation", used by arm64 and riscv;
5.11 on), on the modern generation's allocators.

Written from the file's comments and kernel-doc:

* "Always reserve area for module percpu variables.  That's what the
  legacy allocator did": pcpu_embed_first_chunk() with
  PERCPU_MODULE_RESERVE reserved, PERCPU_DYNAMIC_RESERVE dynamic and
  PAGE_SIZE atoms, unless percpu_alloc=page chose the page allocator;
* the distance callback is node_distance() of the two cpus' nodes, so the
  firmware's table - asymmetric or not transitive as it may be - is what
  the grouping sees (unlike x86, which only asks "same node?");
  numa_set_distance()'s kernel-doc: an entry that is not a u8, or a
  diagonal other than LOCAL_DISTANCE, is not set and keeps the table's
  default (LOCAL_DISTANCE on the diagonal, REMOTE_DISTANCE elsewhere);
* the cpu -> node callback is early_cpu_to_node(): the node the firmware
  gave the cpu (early_map_cpu_to_node()'s "fallback to node 0" for a node
  out of range);
* where the source has the page allocator as the fallback (5.18 on), a
  failed embedding says "PERCPU: %s allocator failed (%d), falling back to
  page size" under the file's pr_fmt ("NUMA: "), and a failed setup is
  "Failed to initialize percpu areas (err=%d)." (before: embedding only,
  "Failed to initialize percpu areas.");
* until 5.17 the arch allocates the first chunk itself: node-directed
  memblock for the cpu's node, saying nothing about it.

Which form a source has is read from the file (harness/extract/closure.py
arch_facts(), reported with the constants).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from harness.core.cases import LOCAL_DISTANCE, Case
from harness.core.generation import GenerationName
from harness.core.result import ArchInfo
from py_impl import modern
from py_impl.arch_flows import AUTO, EMBED, PAGE, Attempts
from py_impl.machine import EINVAL, KERN_WARNING, BootRecord, Machine, ModelPanic
from py_impl.result import Boot

REMOTE_DISTANCE = 20
PREFIX = "NUMA: "
# Facts (harness/extract/closure.py) this model reads from the constants.
PAGE_FALLBACK = "numa_page_fallback"
OWN_FC_ALLOC = "numa_own_fc_alloc"
FC_ALLOC_MESSAGES = (f"{modern.PREFIX}per cpu data for cpu", f"{modern.PREFIX}cpu ")


def firmware_distances(case: Case) -> tuple[tuple[int, ...], ...] | None:
    """The distance table numa_set_distance() leaves for the case's matrix."""
    if case.distance is None:
        return None
    nodes = case.nodes()

    def kept(a: int, b: int) -> int:
        given = case.distance[a][b] if case.distance else LOCAL_DISTANCE
        default = LOCAL_DISTANCE if a == b else REMOTE_DISTANCE
        if not 0 <= given <= 255 or (a == b and given != LOCAL_DISTANCE):
            return default
        return given
    return tuple(tuple(kept(a, b) for b in range(nodes)) for a in range(nodes))


class ArchNuma:
    """setup_per_cpu_areas() of drivers/base/arch_numa.c."""

    def __init__(self, boot: Boot) -> None:
        self.boot = boot
        self.facts = boot.constants
        case = boot.record.machine.case
        headers = modern.headers_of(boot)
        self.arch_case = replace(
            case, reserved_size=self.facts.get("PERCPU_MODULE_RESERVE", 8 << 10),
            dyn_size=headers.dynamic_reserve, atom_size=case.page_size,
            distance=firmware_distances(case))
        boot.record = BootRecord(Machine(self.arch_case))
        record = modern.modern_record(boot)
        record.arch_fc_alloc_by_node = bool(self.facts.get(OWN_FC_ALLOC))
        boot.reports_return = False
        self.attempts = Attempts(boot)

    @property
    def record(self) -> BootRecord:
        return self.boot.record

    def chosen(self) -> str:
        word = self.arch_case.percpu_alloc
        if not word:
            return AUTO
        if word in (EMBED, PAGE):
            return word
        self.record.printk(KERN_WARNING, f"{modern.PREFIX}unknown allocator {word} specified")
        return AUTO

    def run(self) -> int:
        chosen = self.chosen()
        fallback = bool(self.facts.get(PAGE_FALLBACK))
        rc = -EINVAL
        if chosen != PAGE or not fallback:
            rc = self.allocate(EMBED)
            if rc < 0 and fallback:
                self.record.printk(KERN_WARNING, f"{PREFIX}PERCPU: {chosen} allocator failed "
                                                 f"({rc}), falling back to page size")
        if rc < 0 and fallback:
            rc = self.allocate(PAGE)
        if rc < 0:
            raise ModelPanic(f"Failed to initialize percpu areas (err={rc})." if fallback
                             else "Failed to initialize percpu areas.")
        self.boot.arch = self.arch_info(chosen)
        return rc

    def allocate(self, allocator: str) -> int:
        entry = self.attempts.start(allocator, None)
        said = len(self.record.log)
        try:
            rc = (modern.embed if allocator == EMBED else modern.page)(
                self.boot, modern.headers_of(self.boot))
        finally:
            self.quiet_fc_alloc(said)
        reason = "ok" if rc >= 0 else \
            "too-spread" if rc == -EINVAL and allocator == EMBED else "alloc-failed"
        return self.attempts.end(entry, rc, reason)

    def quiet_fc_alloc(self, since: int) -> None:
        """The arch's own first chunk allocator (until 5.17) prints nothing,
        and asks memblock for the cpu's node whether or not it has memory
        (memblock_alloc_try_nid() falls back to any node by itself)."""
        if not self.facts.get(OWN_FC_ALLOC):
            return
        record = self.record
        log = record.log
        log[since:] = [(level, text) for level, text in log[since:]
                       if not text.startswith(FC_ALLOC_MESSAGES)]
        if isinstance(record, modern.ModernRecord) and record.fc_allocs:
            record.node_bytes = list(record.fc_alloc_bytes_by_node)

    def arch_info(self, chosen: str) -> ArchInfo:
        state = self.boot.modern_state
        assert state is not None
        return {"name": "arch_numa", "percpu_alloc": chosen,
                "unit_offsets": list(state["unit_offsets"]), "readback_bad_cpus": []}


def arch_numa(boot: Boot) -> int:
    return ArchNuma(boot).run()


def flows(generation: GenerationName) -> dict[str, Callable[[Boot], int]]:
    """The flow on the generations that build it (the modern one)."""
    return {"arch_numa": arch_numa} if generation == modern.GENERATION else {}

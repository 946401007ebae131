"""Model of today's x86 flow: setup_per_cpu_areas() of
arch/x86/kernel/setup_percpu.c from 2.6.32 ("x86,percpu: use embedding for
64bit NUMA and page for 32bit NUMA", and the large page allocator's removal)
to 7.1.

Written from the file's comments and kernel-doc, the same in every revision
since (the shim is x86_64; the 32-bit rules are compiled out there):

* "Allocate percpu area.  Embedding allocator is our favorite; however, on
  NUMA configurations, it can result in very sparse unit mapping and
  vmalloc area isn't spacious enough on 32bit.  Use page in that case."
  The page preference is x86_32's; on x86_64 embedding is tried unless
  percpu_alloc=page chose the page allocator, which is the fallback when
  embedding fails ("%s allocator failed (%d), falling back to page size");
  a failed page allocator is "cannot initialize percpu area" (panic);
* "On x86_64 ... Reserve space for static percpu variables in modules so
  that they are always served from the first chunk": the reserved area is
  PERCPU_MODULE_RESERVE, the dynamic one PERCPU_MODULE_RESERVE +
  PERCPU_DYNAMIC_RESERVE less that reserve;
* "On 64bit, use PMD_SIZE for atom_size so that embedded percpu areas are
  aligned to PMD" (3.4 on; before, PMD_SIZE when the cpu has PSE, else
  PAGE_SIZE);
* pcpu_cpu_distance(): with NUMA, cpus of one node are LOCAL_DISTANCE
  apart and any others REMOTE_DISTANCE; without it all are local.  So the
  grouping x86 hands mm/percpu.c is by node, whatever the firmware's
  distance matrix says; pcpu_cpu_to_node() is early_cpu_to_node();
* pcpu_alloc_bootmem() (until 5.16, where the allocators take the arch's
  callbacks; mm/percpu.c's own pcpu_fc_alloc() with the cpu_to_node
  callback after): "NUMA friendly" memory "for cpu @cpu", node-local when
  the node is online with memory, from anywhere otherwise.  What it prints
  on NUMA builds is observable output: mm/percpu.c's later words under
  the arch file's pr_fmt, the physical address as 16 hex digits;
* the flow then sets each possible cpu's offset to the base's distance
  from the static area plus pcpu_unit_offsets[cpu], and writes the cpu's
  number and offset into its own per-cpu variables.

Which of those revision-dependent forms a source has is read from its arch
file (harness/extract/closure.py arch_facts(), reported with the constants).
The allocators themselves are the generation's models: modern.py's, or
alloc_info.py's with pcpu_alloc_bootmem() as the first chunk allocator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from harness.core.arch_sizes import X86_PMD_SIZE
from harness.core.cases import Case
from harness.core.generation import GenerationName
from harness.core.result import ArchInfo
from py_impl import alloc_info, arch_flows, modern
from py_impl.alloc_era import X86_NO_BOOTMEM
from py_impl.arch_flows import AUTO, EMBED, PAGE, Attempts, SharedMemory, arch_record
from py_impl.machine import EINVAL, KERN_INFO, KERN_WARNING, BootRecord, Machine, ModelPanic
from py_impl.result import Boot

LOCAL_DISTANCE, REMOTE_DISTANCE = 10, 20
# The facts (harness/extract/closure.py) this model reads from the constants.
EMBEDS_FIRST = "x86_embeds_first"
ATOM_NEEDS_PSE = "x86_atom_needs_pse"
OWN_FC_ALLOC = "x86_own_fc_alloc"
ARCH_PR_FMT = "x86_pr_fmt"
PERCPU_PR_FMT = "percpu_pr_fmt"


def is_today(boot: Boot, generation: GenerationName) -> bool:
    """Whether the source's x86 flow embeds first (every modern revision does)."""
    return generation == modern.GENERATION or bool(boot.constants.get(EMBEDS_FIRST))


def node_distances(case: Case) -> tuple[tuple[int, ...], ...] | None:
    """pcpu_cpu_distance() as a node matrix: by node with NUMA, all local
    without (the nodes stay, for the bookkeeping by node)."""
    if case.distance is None:
        return None
    nodes = case.nodes()
    return tuple(tuple(LOCAL_DISTANCE if a == b or not case.numa else REMOTE_DISTANCE
                       for b in range(nodes)) for a in range(nodes))


class TodayX86:
    """setup_per_cpu_areas() of 2.6.32 on, on the generation's allocators."""

    def __init__(self, boot: Boot, generation: GenerationName) -> None:
        self.boot = boot
        self.generation = generation
        facts = boot.constants
        self.facts = facts
        case = boot.record.machine.case
        reserve = facts.get("PERCPU_MODULE_RESERVE", 8 << 10)
        dynamic = facts.get("PERCPU_DYNAMIC_RESERVE", modern.headers_of(boot).dynamic_reserve
                            if self.modern else 20 << 10)
        atom = X86_PMD_SIZE
        if facts.get(ATOM_NEEDS_PSE) and not case.pse:
            atom = case.page_size
        # What x86 hands pcpu_embed_first_chunk() and pcpu_page_first_chunk():
        # the allocators' models read it from the case.
        self.arch_case = replace(case, reserved_size=reserve, dyn_size=dynamic,
                                 atom_size=atom, distance=node_distances(case))
        if self.modern:
            # One memblock and one log for the whole flow: the fallback sees
            # what the first allocator left.
            boot.record = BootRecord(Machine(self.arch_case))
            record = modern.modern_record(boot)
            if facts.get(OWN_FC_ALLOC):
                record.arch_fc_alloc = modern.FcAllocVoice(self.arch_prefix(),
                                                           padded_address=True)
            boot.reports_return = False
        else:
            arch = arch_record(boot, self.arch_case, may_fail=True)
            # pcpu_alloc_bootmem() places each group in its node's memory,
            # and embed's base offsets and spread are those addresses'.
            arch.shared = SharedMemory(case.bootmem_size, -1,
                                       case.memory_of_nodes() if case.numa else None)
            arch.percpu_top_down = bool(facts.get("boot_allocator_top_down"))
            arch.arch_top_down = bool(facts.get(X86_NO_BOOTMEM))
        self.attempts = Attempts(boot)

    @property
    def modern(self) -> bool:
        return self.generation == modern.GENERATION

    @property
    def record(self) -> BootRecord:
        return self.boot.record

    def arch_prefix(self) -> str:
        return "setup_percpu: " if self.facts.get(ARCH_PR_FMT) else ""

    def percpu_prefix(self) -> str:
        return "percpu: " if self.modern or self.facts.get(PERCPU_PR_FMT) else "PERCPU: "

    def parse_percpu_alloc(self) -> str:
        """percpu_alloc= as mm/percpu.c reads it: x86 builds embed and page."""
        word = self.arch_case.percpu_alloc
        if not word:
            return AUTO
        if word in (EMBED, PAGE):
            return word
        self.record.printk(KERN_WARNING, f"{self.percpu_prefix()}unknown allocator {word} "
                                         "specified")
        return AUTO

    def run(self) -> int:
        chosen = self.parse_percpu_alloc()
        machine = self.record.machine
        nr_node_ids = self.arch_case.nodes() if self.arch_case.numa else 1
        self.record.printk(KERN_INFO, f"{self.arch_prefix()}NR_CPUS:{machine.nr_cpus} "
                                      f"nr_cpumask_bits:{machine.nr_cpus} "
                                      f"nr_cpu_ids:{machine.nr_cpu_ids} "
                                      f"nr_node_ids:{nr_node_ids}")
        rc = -EINVAL
        if chosen != PAGE:
            rc = self.allocate(EMBED)
            if rc < 0:
                # 2.6.32 said "PERCPU: " itself; later the file's pr_fmt does.
                said = "" if self.facts.get(ARCH_PR_FMT) else "PERCPU: "
                self.record.printk(KERN_WARNING, f"{self.arch_prefix()}{said}{chosen} allocator "
                                                 f"failed ({rc}), falling back to page size")
        if rc < 0:
            rc = self.allocate(PAGE)
        if rc < 0:
            raise ModelPanic(f"cannot initialize percpu area (err={rc})")
        self.boot.arch = self.arch_info(chosen)
        return rc

    def allocate(self, allocator: str) -> int:
        """One generic allocator with x86's arguments, as an attempt."""
        entry = self.attempts.start(allocator, None)
        if self.modern:
            headers = modern.headers_of(self.boot)
            rc = (modern.embed if allocator == EMBED else modern.page)(self.boot, headers)
        else:
            rc = (alloc_info.embed if allocator == EMBED else alloc_info.page)(self.boot)
        reason = "ok" if rc >= 0 else \
            "too-spread" if rc == -EINVAL and allocator == EMBED else "alloc-failed"
        return self.attempts.end(entry, rc, reason)

    def arch_info(self, chosen: str) -> ArchInfo:
        """Each possible cpu's copy starts at its unit's offset; every cpu's
        variables land in its own unit."""
        machine = self.record.machine
        offsets: list[int | None]
        # A revision's state reports the offsets where it has the variable.
        modern_state = self.boot.modern_state
        if modern_state is not None and "unit_offsets" in modern_state:
            offsets = list(modern_state["unit_offsets"])
        else:
            state = self.boot.state
            assert state is not None
            offsets = [state.unit_of_cpu[cpu] * state.unit_size if cpu in state.unit_of_cpu
                       else None for cpu in range(machine.nr_cpu_ids)]
        return {"name": "x86", "percpu_alloc": chosen, "unit_offsets": offsets,
                "readback_bad_cpus": [], "cpu_number_bad_cpus": []}


def x86(boot: Boot, generation: GenerationName) -> int:
    """x86's setup_per_cpu_areas(): today's flow where the source has it,
    2009's (large pages first, py_impl/arch_flows.py) before."""
    if is_today(boot, generation):
        return TodayX86(boot, generation).run()
    return arch_flows.x86(boot, generation)


def flows(generation: GenerationName) -> dict[str, Callable[[Boot], int]]:
    return {"x86": lambda boot: x86(boot, generation)}

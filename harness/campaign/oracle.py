"""The oracle: real boots of a Debian kernel beside the shim of its source.

Each machine is booted under QEMU; the topology the kernel saw (possible
cpus, each cpu's node, the node distances, its build's NR_CPUS and static
percpu size) becomes a case for the shim's x86 flow, built from the
source the image was built from.  Both sides are reduced to the same
fields and compared; any difference is a shim bug until shown otherwise.

Compared: the percpu:/pcpu-alloc: lines (the x86 code's pr_debug lines
are left out: a real kernel prints them only with dynamic debug on), what
pcpu_setup_first_chunk() left in its variables, where the chunk lives
(direct map or vmalloc) and whether the first chunk is on a slot list.
Where groups lie is compared as their order in memory and each cpu's
offset within its group: the absolute distance between two nodes' groups
depends on what memblock handed out on each node before the first chunk
(page tables, memory maps, node data), which the shim does not simulate.
Not compared: anything dynamic allocations after setup change (free
bytes, populated pages, which slot), addresses themselves.
"""

from __future__ import annotations

import json
import random
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.boot import qemu, reading
from harness.boot.machine import Machine
from harness.campaign.agree import shims_for
from harness.compile import shims
from harness.core.cases import Case, case_to_toml
from harness.core.errors import UserError
from harness.core.fields import Fields
from harness.core.klog import DUMP_PREFIXES, split_log
from harness.core.result import BootResult
from harness.judge import compare
from harness.run import server
from harness.sources.images import KernelImage, section_size
from harness.sources.snapshot import Snapshot

STATE_KEYS = ("nr_units", "unit_pages", "unit_size", "nr_slots", "low_unit_cpu",
              "high_unit_cpu", "atom_size", "nr_groups", "group_sizes")
PER_CPU_KEYS = ("unit_map",)
_DEFAULT_TIMEOUT_S = 60.0


@dataclass
class OracleCase:
    """One machine: booted, run in the shim, compared."""

    name: str
    machine: Machine
    verdict: str  # agree, differ, inconclusive
    seconds: float = 0.0
    reason: str = ""  # inconclusive: why
    differences: list[compare.Difference] = field(default_factory=list)
    case: Case | None = None
    serial: str = ""  # the kept serial log
    source: str = ""

    def reproduce(self) -> list[str]:
        """The commands that show this boot again: the real one, and the shim's."""
        real = ["percpu-diff", "boot", self.source, *self.machine.boot_options()]
        out = [shlex.join(real)]
        if self.case is not None:
            case_file = Path(self.serial).parent / "case.toml"
            out.append(shlex.join(["percpu-diff", "show", self.source, "--case", str(case_file)]))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "machine": asdict(self.machine), "source": self.source,
                "reproduce": self.reproduce(),
                "describe": self.machine.describe(), "verdict": self.verdict,
                "seconds": round(self.seconds, 2), "reason": self.reason, "serial": self.serial,
                "differences": [{"field": d.field, "real": d.kernel, "shim": d.model}
                                for d in self.differences]}


def real_fields(boot: reading.RealBoot) -> Fields:
    out: Fields = {"outcome.kind": boot.outcome, "lines": [ln.rstrip() for ln in boot.lines],
                   "base_region": boot.base_region, "first_chunk_listed": boot.first_chunk_listed}
    return out | _state_fields(dict(boot.state), boot.possible)


def _state_fields(state: dict[str, Any], possible: Sequence[int]) -> Fields:
    out: Fields = {f"state.{key}": state.get(key) for key in STATE_KEYS}
    for key in PER_CPU_KEYS:
        values = state.get(key) or []
        out[f"state.{key}"] = [values[c] if c < len(values) else None for c in possible]
    groups = list(state.get("group_offsets") or [])
    units = list(state.get("unit_offsets") or [])
    # A group's place among the others, and each cpu's offset from the base
    # of the group holding it (the largest group offset not above its own).
    out["layout.group_order"] = sorted(range(len(groups)), key=lambda g: groups[g])
    out["layout.cpu_in_group"] = [
        units[c] - max((g for g in groups if g <= units[c]), default=0)
        if c < len(units) else None for c in possible]
    return out


def shim_fields(result: BootResult, possible: Sequence[int]) -> Fields:
    lines = [ln.text.rstrip() for ln in split_log(result.get("log", ""))
             if ln.text.startswith(DUMP_PREFIXES) or
             (ln.text.startswith("percpu:") and ln.level != "7")]
    state: dict[str, Any] = dict(result.get("state") or {})
    out: Fields = {"outcome.kind": result["outcome"]["kind"], "lines": lines,
                   "base_region": compare.region(state.get("base_addr"))}
    if "first_chunk_slot" in state:
        out["first_chunk_listed"] = state["first_chunk_slot"] is not None
    return out | _state_fields(state, possible)


def case_for(boot: reading.RealBoot, image: KernelImage, machine: Machine, name: str) -> Case:
    """The shim's case for what the booted kernel saw."""
    static = section_size(image.vmlinux, ".data..percpu")
    if static is None:
        raise UserError(f"{image.package}'s vmlinux has no .data..percpu section: pin another "
                        "version")
    nodes = max([*boot.online_nodes, *boot.cpu_node, *boot.node_ranges, 0]) + 1
    # The shim lays nodes out from address 0 in node order; the kernel
    # numbers them as the SRAT names them.  Renaming the nodes by where
    # their memory starts changes nothing mm/percpu.c sees but the names.
    starts = {n: min(start for start, _ in ranges) for n, ranges in boot.node_ranges.items()}
    order = sorted(range(nodes), key=lambda n: (n not in starts, starts.get(n, 0), n))
    rename = {old: new for new, old in enumerate(order)}
    distance = [[10 if a == b else 20 for b in range(nodes)] for a in range(nodes)]
    for row, node in zip(boot.distance, boot.online_nodes, strict=False):
        for col, other in enumerate(boot.online_nodes):
            if col < len(row):
                distance[rename[node]][rename[other]] = row[col]
    alloc = next((p.split("=", 1)[1] for p in machine.params if p.startswith("percpu_alloc=")),
                 "")
    sizes = tuple(sum(end - start for start, end in boot.node_ranges.get(old, []))
                  for old in order)
    renamed = "" if order == sorted(order) else \
        " (kernel nodes " + " ".join(f"{old}->{new}" for old, new in sorted(rename.items())) + ")"
    return Case(name=name, scenario="x86", nr_cpus=int(image.option("CONFIG_NR_CPUS")),
                possible=tuple(boot.possible), cpu_node=tuple(rename[n] for n in boot.cpu_node),
                distance=tuple(tuple(row) for row in distance), static_size=static,
                numa=image.option("CONFIG_NUMA") == "y", percpu_alloc=alloc,
                offline_nodes=tuple(rename[n] for n in range(nodes)
                                    if n not in boot.online_nodes),
                bootmem_size=sum(sizes) or machine.memory_mb << 20,
                node_memory=sizes if sum(sizes) else None,
                description=f"oracle: {machine.describe()}{renamed}").validate()


@dataclass(frozen=True)
class Kernel:
    """One side of the oracle: a source, its image, and its x86 rendering."""

    snapshot: Snapshot
    image: KernelImage
    rendered: shims.Rendered


def check(kernel: Kernel, machine: Machine, name: str, where: Path,
          timeout_s: float = _DEFAULT_TIMEOUT_S) -> OracleCase:
    """Boot the machine, run what it saw in the shim, compare."""
    serial = qemu.boot(kernel.image.vmlinux, machine, reading.requests(), where, timeout_s)
    boot = reading.read(serial.text, serial.timed_out)
    done = OracleCase(name, machine, "inconclusive", serial.seconds, serial=str(serial.path),
                      source=kernel.snapshot.label)
    if boot.outcome != "ok":
        done.reason = f"{boot.outcome}: {boot.message}"
        return done
    if boot.missing:
        done.reason = f"the probe could not read {', '.join(boot.missing)}"
        return done
    case = case_for(boot, kernel.image, machine, name)
    (where / "case.toml").write_text(case_to_toml(case))
    result = run_shim(kernel, case)
    (where / "shim.json").write_text(json.dumps(result, indent=1) + "\n")
    done.case = case
    done.differences = compare.compare_fields(real_fields(boot), shim_fields(result,
                                                                             case.possible))
    done.verdict = "differ" if done.differences else "agree"
    return done


def run_shim(kernel: Kernel, case: Case) -> BootResult:
    for shim, group in shims_for(kernel.snapshot, kernel.rendered, "x86", [case], case.nr_cpus,
                                 sanitize=False):
        return server.run_one(shim, group[0], server.Limits(timeout_ms=60_000))
    raise AssertionError("shims_for built no shim for a case")




def machines(count: int, seed: int, max_cpus: int = 64) -> Iterator[Machine]:
    """Machines QEMU can express, varied the ways the first chunk cares
    about: cpu counts, hot-pluggable cpus, nodes with and without memory
    or cpus, distances, and the boot parameters that change the topology
    or the allocator.  The first few are fixed, so a short run still has
    one of each kind."""
    yield from FIXED[:count]
    draw = random.Random(seed)
    for _ in range(max(0, count - len(FIXED))):
        yield _random_machine(draw, max_cpus)


FIXED = (
    Machine(1, 1),
    Machine(4, 6, ((0, 1, 2), (3, 4, 5)), (512, 512), ((10, 20), (20, 10))),
    Machine(2, 8, params=("percpu_alloc=page",)),
    Machine(4, 4, ((0, 1), (2, 3), ()), (512, 256, 256)),
    Machine(3, 5, ((0, 2, 4), (1, 3)), (384, 0), params=("percpu_alloc=page",)),
    Machine(8, 8, params=("numa=fake=4",)),
    Machine(4, 12, params=("possible_cpus=10",)),
    Machine(6, 6, ((0, 1, 2), (3, 4, 5)), (512, 512), params=("numa=off",)),
)


def _random_machine(draw: random.Random, max_cpus: int) -> Machine:
    maxcpus = draw.choice([1, 2, 3, 4, 5, 7, 8, 12, 16, 31, 32, 64, 100, 255])
    maxcpus = min(maxcpus, max_cpus)
    cpus = draw.randint(1, maxcpus)
    params = draw.choice([(), (), (), ("percpu_alloc=page",), ("percpu_alloc=embed",),
                          (f"possible_cpus={draw.randint(cpus, maxcpus + 4)}",),
                          (f"nr_cpus={draw.randint(1, maxcpus)}",), ("numa=off",)])
    nodes = draw.choice([0, 0, 1, 2, 2, 3, 4, 8])
    if not nodes:
        if draw.random() < 0.2 and "numa=off" not in params:
            params += (f"numa=fake={draw.choice([2, 3, 4, 8])}",)
        return Machine(cpus, maxcpus, params=params)
    owner = [0 if cpu == 0 else draw.randrange(nodes) for cpu in range(maxcpus)]
    node_cpus = tuple(tuple(c for c in range(maxcpus) if owner[c] == n) for n in range(nodes))
    node_mb = tuple(draw.choice([256, 384, 512]) if n == 0 else draw.choice([0, 128, 256, 512])
                    for n in range(nodes))
    distance: tuple[tuple[int, ...], ...] = ()
    if draw.random() < 0.5:
        far = [[10 if a == b else draw.choice([15, 20, 21, 30, 40]) for b in range(nodes)]
               for a in range(nodes)]
        distance = tuple(tuple(max(far[a][b], far[b][a]) if a != b else 10
                               for b in range(nodes)) for a in range(nodes))
    return Machine(cpus, maxcpus, node_cpus, node_mb, distance, params)


def run(kernel: Kernel, todo: Sequence[Machine], out: Path, timeout_s: float,
        say: Any = None) -> list[OracleCase]:
    """Every machine, in order; each result appended to out/results.jsonl
    as it is known, so an interrupted run keeps what it finished."""
    out.mkdir(parents=True, exist_ok=True)
    done: list[OracleCase] = []
    with (out / "results.jsonl").open("a") as sink:
        for index, machine in enumerate(todo):
            name = f"oracle-{index:03d}"
            checked = check(kernel, machine, name, out / name, timeout_s)
            sink.write(json.dumps({"source": kernel.snapshot.label, **checked.to_json()}) + "\n")
            sink.flush()
            done.append(checked)
            if say is not None:
                say(index, len(todo), checked)
    return done


__all__ = ["FIXED", "Kernel", "OracleCase", "case_for", "check", "machines", "real_fields",
           "run", "shim_fields"]

"""A machine QEMU can express, and the command line that makes it.

QEMU's x86 `pc` machine has cpus 0..maxcpus-1, the first `cpus` present at
boot and the rest hot-pluggable (Linux counts them possible); NUMA nodes
own cpus and memory (`-numa node,cpus=,memdev=`), with a distance matrix
(`-numa dist`).  What it cannot express, and the shim's cases can: a
possible mask with holes (Linux numbers present cpus first, the rest after
them), nodes that exist but are offline, more than 255 cpus (the `pc`
machine's APIC ids), a node of cpus with no memory as node 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.case_kinds import format_cpu_list
from harness.core.errors import UserError

MAX_CPUS = 255
MIN_NODE0_MB = 256  # what a Debian kernel needs to reach /init without an initrd
_KERNEL_PARAMS = ("percpu_alloc=", "possible_cpus=", "nr_cpus=", "numa=")


@dataclass(frozen=True)
class Machine:
    cpus: int  # present at boot
    maxcpus: int  # possible
    node_cpus: tuple[tuple[int, ...], ...] = ()  # QEMU cpu indexes of each node; (): no NUMA
    node_mb: tuple[int, ...] = ()  # memory of each node; 0: a memoryless node
    distance: tuple[tuple[int, ...], ...] = ()  # node distances; (): QEMU's default
    params: tuple[str, ...] = ()  # kernel parameters the case is about
    memory_mb: int = 1024  # without NUMA

    def problems(self) -> list[str]:
        out = []
        if not 1 <= self.cpus <= self.maxcpus <= MAX_CPUS:
            out.append(f"needs 1 <= cpus <= maxcpus <= {MAX_CPUS} (QEMU's pc machine)")
        if self.node_cpus:
            nodes = len(self.node_cpus)
            owned = sorted(c for cpus in self.node_cpus for c in cpus)
            if owned != list(range(self.maxcpus)):
                out.append("every cpu 0..maxcpus-1 needs exactly one node")
            if len(self.node_mb) != nodes:
                out.append("node_mb needs one size per node")
            elif self.node_mb[0] < MIN_NODE0_MB:
                out.append(f"node 0 needs at least {MIN_NODE0_MB} MB to boot")
            if self.distance and (len(self.distance) != nodes
                                  or any(len(row) != nodes for row in self.distance)):
                out.append("the distance matrix needs one row and column per node")
        for param in self.params:
            if not param.startswith(_KERNEL_PARAMS) or any(c.isspace() for c in param):
                out.append(f"kernel parameter {param!r} is not one of "
                           f"{', '.join(p + '...' for p in _KERNEL_PARAMS)}")
        return out

    def check(self) -> Machine:
        problems = self.problems()
        if problems:
            raise UserError(f"QEMU cannot boot this machine: {problems[0]}")
        return self

    def describe(self) -> str:
        text = f"{self.cpus}/{self.maxcpus} cpus"
        if self.node_cpus:
            text += ", nodes " + " ".join(
                f"{i}:{format_cpu_list(cpus) or '-'}@{mb}M"
                for i, (cpus, mb) in enumerate(zip(self.node_cpus, self.node_mb, strict=True)))
        return text + "".join(f" {p}" for p in self.params)

    def boot_options(self) -> list[str]:
        """The options of `percpu-diff boot` that make this machine."""
        out = ["--cpus", str(self.cpus), "--maxcpus", str(self.maxcpus)]
        for cpus, mb in zip(self.node_cpus, self.node_mb, strict=False):
            # one word: argparse would read "-@256" as an option
            out.append(f"--node={format_cpu_list(cpus) or '-'}@{mb}")
        if self.distance:
            out += ["--node-distance", ";".join(",".join(map(str, row)) for row in self.distance)]
        for param in self.params:
            out += ["--param", param]
        return out

    def qemu_args(self) -> list[str]:
        """The machine part of QEMU's command line (no kernel, no devices)."""
        args = ["-smp", f"{self.cpus},maxcpus={self.maxcpus}"]
        if not self.node_cpus:
            return [*args, "-m", f"{self.memory_mb}M"]
        args += ["-m", f"{sum(self.node_mb)}M"]
        for node, (cpus, mb) in enumerate(zip(self.node_cpus, self.node_mb, strict=True)):
            spec = f"node,nodeid={node}" + "".join(f",cpus={c}" for c in cpus)
            if mb:
                args += ["-object", f"memory-backend-ram,id=mem{node},size={mb}M"]
                spec += f",memdev=mem{node}"
            args += ["-numa", spec]
        for a, row in enumerate(self.distance):
            for b, value in enumerate(row):
                if a != b:
                    args += ["-numa", f"dist,src={a},dst={b},val={value}"]
        return args

"""A case: one simulated boot's machine topology, sizes and scenario.

Cases live as TOML files in cases/ (read with tomllib) and travel to the
shim as one line of `key=value` fields.  NR_CPUS and PAGE_SIZE are build
parameters in the kernel, so they pick which shim executable runs a case.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.core.errors import UserError

GENERIC_SCENARIOS = ("embed", "page", "lpage")
# Arch flows: setup_per_cpu_areas() of an arch file, which picks the sizes
# and the allocator itself; the case gives the machine and the knobs.
ARCH_SCENARIOS = ("x86", "sparc64")
SCENARIOS = GENERIC_SCENARIOS + ARCH_SCENARIOS
ARCH_PAGE_SIZE = {"x86": 4096, "sparc64": 8192}
# The per-cpu variables an arch flow writes must fit in the static area:
# x86_64's 16K IRQ stack among them.
ARCH_MIN_STATIC = {"x86": 20480, "sparc64": 64}
PERCPU_ALLOC_CHOICES = ("", "auto", "lpage", "embed", "page")
LOCAL_DISTANCE = 10
AUTO = -1


@dataclass(frozen=True)
class Case:
    name: str
    scenario: str = "embed"
    nr_cpus: int = 64
    possible: tuple[int, ...] = (0,)
    # Node of each possible cpu, in the order of `possible`; None: all on node 0.
    cpu_node: tuple[int, ...] | None = None
    # Node distance matrix; None: a single node at LOCAL_DISTANCE.
    distance: tuple[tuple[int, ...], ...] | None = None
    static_size: int = 40960
    reserved_size: int = 8192
    dyn_size: int = AUTO
    atom_size: int = 4096
    page_size: int = 4096
    bootmem_size: int = 64 << 30
    vmalloc_size: int = 32 << 40
    fail_fc_alloc: int = -1
    fail_bootmem: int = -1
    # Arch knobs.  percpu_alloc: the percpu_alloc= boot parameter as typed
    # ("" when absent); pse: x86 cpus with large pages; numa: the kernel is
    # built with CONFIG_NUMA; offline_nodes: nodes with no memory online.
    percpu_alloc: str = ""
    pse: bool = True
    numa: bool = False
    offline_nodes: tuple[int, ...] = ()
    description: str = ""
    expect: Mapping[str, str] = field(default_factory=dict)

    def validate(self) -> Case:
        problems = list(self._problems())
        if problems:
            raise UserError(f"case '{self.name}': {problems[0]}")
        return self

    def _problems(self) -> Sequence[str]:
        out: list[str] = []
        if self.scenario not in SCENARIOS:
            out.append(f"scenario '{self.scenario}' unknown: use one of {', '.join(SCENARIOS)}")
        if not 1 <= self.nr_cpus <= 8192:
            out.append(f"nr_cpus {self.nr_cpus} out of range 1..8192")
        if not self.possible:
            out.append("no possible cpus: give at least one")
        if list(self.possible) != sorted(set(self.possible)):
            out.append("possible cpus must be distinct and increasing")
        if self.possible and (self.possible[0] < 0 or self.possible[-1] >= self.nr_cpus):
            out.append(f"possible cpus must lie in 0..{self.nr_cpus - 1} (NR_CPUS={self.nr_cpus})")
        nodes = len(self.distance) if self.distance else 1
        if self.distance and any(len(row) != nodes for row in self.distance):
            out.append("distance must be a square matrix")
        if nodes > 64:
            out.append("at most 64 nodes")
        if self.cpu_node is not None:
            if len(self.cpu_node) != len(self.possible):
                out.append("cpu_node needs one node per possible cpu")
            elif any(not 0 <= n < nodes for n in self.cpu_node):
                out.append(f"cpu_node names a node outside 0..{nodes - 1}")
        for name in ("static_size", "reserved_size", "atom_size", "page_size"):
            if getattr(self, name) < 0:
                out.append(f"{name} must not be negative")
        if self.dyn_size < AUTO:
            out.append("dyn_size must be >= 0 or 'auto'")
        if self.atom_size <= 0 or self.atom_size & (self.atom_size - 1):
            out.append("atom_size must be a power of two")
        if self.page_size not in (4096, 8192):
            out.append("page_size must be 4096 or 8192")
        if self.scenario in ARCH_SCENARIOS:
            want = ARCH_PAGE_SIZE[self.scenario]
            if self.page_size != want:
                out.append(f"the {self.scenario} flow runs with page_size {want}")
            if self.static_size < ARCH_MIN_STATIC[self.scenario]:
                out.append(f"the {self.scenario} flow needs static_size >= "
                           f"{ARCH_MIN_STATIC[self.scenario]} for the per-cpu variables it "
                           "writes")
        if not re.fullmatch(r"[A-Za-z0-9_.-]*", self.percpu_alloc):
            out.append(f"percpu_alloc '{self.percpu_alloc}' must be one word, like lpage")
        if any(not 0 <= n < nodes for n in self.offline_nodes):
            out.append(f"offline_nodes names a node outside 0..{nodes - 1}")
        return out

    @property
    def arch(self) -> str:
        """The arch flow the case runs, or "generic" for mm/percpu.c's own."""
        return self.scenario if self.scenario in ARCH_SCENARIOS else "generic"

    @property
    def page_shift(self) -> int:
        return self.page_size.bit_length() - 1

    def nodes(self) -> int:
        return len(self.distance) if self.distance else 1

    def node_of(self, cpu: int) -> int:
        if self.cpu_node is None:
            return 0
        return self.cpu_node[self.possible.index(cpu)]

    def shim_line(self) -> str:
        """The case as the shim's stdin protocol wants it."""
        fields = {
            "id": re.sub(r"\s", "_", self.name) or "case",
            "scenario": self.scenario,
            "possible": ",".join(map(str, self.possible)),
            "static_size": self.static_size,
            "reserved_size": self.reserved_size,
            "dyn_size": self.dyn_size,
            "atom_size": self.atom_size,
            "bootmem_size": self.bootmem_size,
            "vmalloc_size": self.vmalloc_size,
            "fail_fc_alloc": self.fail_fc_alloc,
            "fail_bootmem": self.fail_bootmem,
        }
        if self.cpu_node is not None:
            fields["cpu_node"] = ",".join(map(str, self.cpu_node))
        if self.distance is not None:
            fields["distance"] = ",".join(str(d) for row in self.distance for d in row)
        if self.percpu_alloc:
            fields["percpu_alloc"] = self.percpu_alloc
        if not self.pse:
            fields["pse"] = 0
        if self.numa:
            fields["numa"] = 1
        if self.offline_nodes:
            fields["offline_nodes"] = ",".join(map(str, self.offline_nodes))
        return " ".join(f"{k}={v}" for k, v in fields.items())

    def with_name(self, name: str) -> Case:
        return replace(self, name=name)


def parse_cpu_list(text: str) -> tuple[int, ...]:
    """'0,2,4-7' -> (0, 2, 4, 5, 6, 7), the kernel's cpulist syntax."""
    cpus: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise UserError(f"bad cpu list '{text}': write it like 0,2,4-7")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        if hi < lo:
            raise UserError(f"bad cpu range '{part}' in '{text}': the range runs backwards")
        cpus.extend(range(lo, hi + 1))
    return tuple(sorted(set(cpus)))


def parse_distance(text: str) -> tuple[tuple[int, ...], ...]:
    """'10,20;20,10' -> ((10, 20), (20, 10))."""
    try:
        return tuple(tuple(int(x) for x in row.split(",")) for row in text.split(";"))
    except ValueError as err:
        raise UserError(f"bad distance matrix '{text}': write rows as 10,20;20,10") from err


def parse_size(value: Any, name: str) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v == "auto":
            return AUTO
        m = re.fullmatch(r"(\d+)\s*([kmgt]?)i?b?", v)
        if m:
            return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[m.group(2)]
    raise UserError(f"{name}: '{value}' is not a size (use bytes, 64K, 2M or auto)")


_SIZE_FIELDS = ("static_size", "reserved_size", "dyn_size", "atom_size", "page_size",
                "bootmem_size", "vmalloc_size")
_INT_FIELDS = ("nr_cpus", "fail_fc_alloc", "fail_bootmem")


def case_from_mapping(data: Mapping[str, Any], default_name: str) -> Case:
    known = set(_SIZE_FIELDS) | set(_INT_FIELDS) | {
        "name", "scenario", "possible", "description", "topology", "expect",
        "percpu_alloc", "pse", "numa", "offline_nodes"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"case '{default_name}': unknown key '{unknown[0]}'")
    kwargs: dict[str, Any] = {"name": str(data.get("name", default_name))}
    if "scenario" in data:
        kwargs["scenario"] = str(data["scenario"])
    if "description" in data:
        kwargs["description"] = str(data["description"])
    possible = data.get("possible", [0])
    if isinstance(possible, str):
        kwargs["possible"] = parse_cpu_list(possible)
    else:
        kwargs["possible"] = tuple(int(c) for c in possible)
    for name in _SIZE_FIELDS:
        if name in data:
            kwargs[name] = parse_size(data[name], name)
    for name in _INT_FIELDS:
        if name in data:
            kwargs[name] = int(data[name])
    if "percpu_alloc" in data:
        kwargs["percpu_alloc"] = str(data["percpu_alloc"])
    for name in ("pse", "numa"):
        if name in data:
            if not isinstance(data[name], bool):
                raise UserError(f"case '{default_name}': {name} must be true or false")
            kwargs[name] = data[name]
    if "offline_nodes" in data:
        kwargs["offline_nodes"] = tuple(sorted({int(n) for n in data["offline_nodes"]}))
    topology = data.get("topology", {})
    if "cpu_node" in topology:
        kwargs["cpu_node"] = tuple(int(n) for n in topology["cpu_node"])
    if "distance" in topology:
        kwargs["distance"] = tuple(tuple(int(d) for d in row) for row in topology["distance"])
    if "expect" in data:
        kwargs["expect"] = {str(k): str(v) for k, v in data["expect"].items()}
    return Case(**kwargs).validate()


def load_case(path: Path) -> Case:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise UserError(f"case file {path} does not exist") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"case file {path} is not valid TOML: {err}") from err
    return case_from_mapping(data, path.stem)


def case_to_toml(case: Case) -> str:
    dyn = '"auto"' if case.dyn_size == AUTO else str(case.dyn_size)
    lines = [f'name = "{case.name}"']
    if case.description:
        lines.append(f'description = "{case.description}"')
    lines += [
        f'scenario = "{case.scenario}"',
        f"nr_cpus = {case.nr_cpus}",
        f"possible = [{', '.join(map(str, case.possible))}]",
        f"static_size = {case.static_size}",
        f"reserved_size = {case.reserved_size}",
        f"dyn_size = {dyn}",
        f"atom_size = {case.atom_size}",
        f"page_size = {case.page_size}",
    ]
    defaults = Case(name=case.name)
    for name in ("bootmem_size", "vmalloc_size", "fail_fc_alloc", "fail_bootmem"):
        if getattr(case, name) != getattr(defaults, name):
            lines.append(f"{name} = {getattr(case, name)}")
    if case.percpu_alloc:
        lines.append(f'percpu_alloc = "{case.percpu_alloc}"')
    for name in ("pse", "numa"):
        if getattr(case, name) != getattr(defaults, name):
            lines.append(f"{name} = {str(getattr(case, name)).lower()}")
    if case.offline_nodes:
        lines.append(f"offline_nodes = [{', '.join(map(str, case.offline_nodes))}]")
    if case.expect:
        lines.append("\n[expect]")
        lines += [f'{key} = "{value}"' for key, value in case.expect.items()]
    if case.cpu_node is not None or case.distance is not None:
        lines.append("\n[topology]")
        if case.cpu_node is not None:
            lines.append(f"cpu_node = [{', '.join(map(str, case.cpu_node))}]")
        if case.distance is not None:
            rows = ", ".join("[" + ", ".join(map(str, r)) + "]" for r in case.distance)
            lines.append(f"distance = [{rows}]")
    return "\n".join(lines) + "\n"


def format_cpu_list(cpus: Sequence[int]) -> str:
    """(0, 2, 4, 5, 6, 7) -> '0,2,4-7'."""
    parts: list[str] = []
    i = 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        parts.append(str(cpus[i]) if i == j else f"{cpus[i]}-{cpus[j]}")
        i = j + 1
    return ",".join(parts)

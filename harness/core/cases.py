"""A case: one simulated boot's machine topology, sizes and scenario.

Cases live as TOML files in cases/ (read with tomllib), are given as
command-line options to show and repro, and travel to the shim as one line
of `key=value` fields.  Each field of `Case` says once, in its metadata,
how it does all of that (a `FieldSpec`); CASE_FIELDS is the resulting
table, and the readers and writers here, the CLI and the shrinker work
from it.  NR_CPUS and PAGE_SIZE are build parameters in the kernel, so they
pick which shim executable runs a case rather than travel on its line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from harness.core.case_kinds import AUTO as AUTO
from harness.core.case_kinds import (
    AutoSize,
    CaseName,
    CpuList,
    Distance,
    Integer,
    Kind,
    NodeList,
    NodeSet,
    OptionValue,
    Size,
    SizeList,
    Switch,
    Table,
    Text,
    Word,
)
from harness.core.errors import UserError

GENERIC_SCENARIOS = ("embed", "page", "lpage")
# Arch flows: setup_per_cpu_areas() of an arch file, which picks the sizes
# and the allocator itself; the case gives the machine and the knobs.
ARCH_SCENARIOS = ("x86", "sparc64", "arch_numa")
SCENARIOS = GENERIC_SCENARIOS + ARCH_SCENARIOS
ARCH_PAGE_SIZE = {"x86": 4096, "sparc64": 8192, "arch_numa": 4096}
# The per-cpu variables an arch flow writes must fit in the static area:
# x86_64's 16K IRQ stack among them.
ARCH_MIN_STATIC = {"x86": 20480, "sparc64": 64, "arch_numa": 64}
# Flows that exist only in NUMA kernels (drivers/base/arch_numa.c is
# GENERIC_ARCH_NUMA's, which needs NUMA).
NUMA_ONLY_SCENARIOS = ("arch_numa",)
LOCAL_DISTANCE = 10

T = TypeVar("T")
# When a case file or a repro command carries a field: always, when it is
# not the default, or when a test of the case says so.
Written = Literal["always", "changed"] | Callable[["Case"], bool]
# The shrinker's groups of fields it sets back to their default together.
ShrinkGroup = Literal["failure", "arch knob", "memory"]
_SPEC = "case field"


@dataclass(frozen=True)
class FieldSpec:
    """How one field of a case is read, written and simplified."""

    kind: Kind[Any]
    # The option of show and repro (None: no option), its help and choices.
    flag: str | None = None
    help: str | None = None
    choices: tuple[str, ...] | None = None
    # When a case file, and a repro command, carry the field.
    toml: Written = "changed"
    option: Written = "changed"
    # The TOML table the field sits in ("" for the top level).
    section: str = ""
    # Written first in a case file: what the case is called and why.
    heads_file: bool = False
    # Options added after repro commands were first printed go at their
    # end, so that a command reads as it did before.
    option_last: bool = False
    # The shim is told every field it can be: NR_CPUS and PAGE_SIZE are
    # compile-time in the kernel (they pick the shim executable), and the
    # name and notes do not boot.  shim_key: another key than the field's name.
    on_shim_line: bool = True
    shim_key: str | None = None
    # The value the shim is told when the field is absent (None).
    resolve: Callable[[Case], Any] | None = None
    # False for fields that change nothing in a boot: two cases differing
    # only in them are the same attempt.
    booted: bool = True
    shrink: ShrinkGroup | None = None


def knob(default: T, spec: FieldSpec) -> T:
    """A field of Case with its spec (a dataclasses.Field, typed as its value)."""
    return field(default=default, metadata={_SPEC: spec})


TEXT, WORD, INTEGER, SIZE, AUTO_SIZE = Text(), Word(), Integer(), Size(), AutoSize()
CPU_LIST, NODE_LIST, NODE_SET, DISTANCE = CpuList(), NodeList(), NodeSet(), Distance()
SIZE_LIST = SizeList()
SWITCH, TABLE = Switch(), Table()


@dataclass(frozen=True)
class Case:
    name: str = field(metadata={_SPEC: FieldSpec(
        CaseName(), toml="always", heads_file=True, shim_key="id", booted=False)})
    scenario: str = knob("embed", FieldSpec(
        WORD, "--scenario", choices=SCENARIOS, toml="always", option="always"))
    nr_cpus: int = knob(64, FieldSpec(
        INTEGER, "--nr-cpus", "NR_CPUS to build with (default 64)", toml="always",
        option="always", on_shim_line=False))
    possible: tuple[int, ...] = knob((0,), FieldSpec(
        CPU_LIST, "--possible", "possible cpus, e.g. 0,2,4 or 0-7", toml="always",
        option="always"))
    # Node of each possible cpu, in the order of `possible`; None: all on node 0.
    cpu_node: tuple[int, ...] | None = knob(None, FieldSpec(
        NODE_LIST, "--cpu-node", "node of each possible cpu, e.g. 0,0,1,1", section="topology",
        resolve=lambda case: tuple(case.node_of(cpu) for cpu in case.possible)))
    # Node distance matrix; None: a single node at LOCAL_DISTANCE.
    distance: tuple[tuple[int, ...], ...] | None = knob(None, FieldSpec(
        DISTANCE, "--distance", "node distance matrix, e.g. 10,20;20,10", section="topology",
        resolve=lambda case: ((LOCAL_DISTANCE,),)))
    static_size: int = knob(40960, FieldSpec(
        SIZE, "--static-size", toml="always", option="always"))
    reserved_size: int = knob(8192, FieldSpec(
        SIZE, "--reserved-size", toml="always", option="always"))
    dyn_size: int = knob(AUTO, FieldSpec(
        AUTO_SIZE, "--dyn-size", "bytes or auto", toml="always", option="always"))
    atom_size: int = knob(4096, FieldSpec(
        SIZE, "--atom-size", "allocation atom (lpage size), e.g. 2M", toml="always",
        option=lambda case: case.scenario == "lpage" or case.atom_size != case.page_size))
    page_size: int = knob(4096, FieldSpec(
        SIZE, "--page-size", "4K (x86) or 8K (sparc64)", toml="always", on_shim_line=False))
    bootmem_size: int = knob(64 << 30, FieldSpec(SIZE, shrink="memory"))
    vmalloc_size: int = knob(32 << 40, FieldSpec(
        SIZE, "--vmalloc-size", "size of the vmalloc area, e.g. 128M", option_last=True,
        shrink="memory"))
    # Failure injection: -1 (or below), nothing fails.
    fail_fc_alloc: int = knob(-1, FieldSpec(
        INTEGER, "--fail-fc-alloc", "make the Nth arch page allocation fail",
        option=lambda case: case.fail_fc_alloc >= 0, shrink="failure"))
    fail_bootmem: int = knob(-1, FieldSpec(
        INTEGER, "--fail-bootmem", "make the Nth bootmem allocation that may fail, fail",
        option=lambda case: case.fail_bootmem >= 0, shrink="failure"))
    # Arch knobs.  percpu_alloc: the percpu_alloc= boot parameter as typed
    # ("" when absent); pse: x86 cpus with large pages; numa: the kernel is
    # built with CONFIG_NUMA; offline_nodes: nodes with no memory online.
    percpu_alloc: str = knob("", FieldSpec(
        WORD, "--percpu-alloc",
        "x86: the percpu_alloc= boot parameter (lpage, embed, page or any word)",
        shrink="arch knob"))
    pse: bool = knob(True, FieldSpec(
        SWITCH, "--no-pse", "x86: the cpu has no large pages", shrink="arch knob"))
    numa: bool = knob(False, FieldSpec(
        SWITCH, "--numa", "arch flows: build with CONFIG_NUMA", shrink="arch knob"))
    offline_nodes: tuple[int, ...] = knob((), FieldSpec(
        NODE_SET, "--offline-nodes", "arch flows: nodes with no memory, e.g. 1,3",
        shrink="arch knob"))
    # Bytes of memory of each node, in node order, laid out from address 0
    # up (node 0 lowest, as QEMU's `-numa node,memdev=` places them) and
    # adding up to bootmem_size; None: equal shares of the online nodes.
    # Only a CONFIG_NUMA build sees more than one node.
    node_memory: tuple[int, ...] | None = knob(None, FieldSpec(
        SIZE_LIST, "--node-memory",
        "bytes of memory per node in node order, e.g. 1G,1G,0 (default: equal shares of "
        "bootmem_size among the online nodes)", section="topology", option_last=True,
        shrink="memory", resolve=lambda case: case.memory_of_nodes()))
    description: str = knob("", FieldSpec(
        TEXT, heads_file=True, on_shim_line=False, booted=False))
    expect: Mapping[str, str] = field(default_factory=dict, metadata={_SPEC: FieldSpec(
        TABLE, section="expect", on_shim_line=False, booted=False)})

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
            if self.scenario in NUMA_ONLY_SCENARIOS and not self.numa:
                out.append(f"the {self.scenario} flow is built with NUMA only: add numa")
            if self.static_size < ARCH_MIN_STATIC[self.scenario]:
                out.append(f"the {self.scenario} flow needs static_size >= "
                           f"{ARCH_MIN_STATIC[self.scenario]} for the per-cpu variables it "
                           "writes")
        if not re.fullmatch(r"[A-Za-z0-9_.-]*", self.percpu_alloc):
            out.append(f"percpu_alloc '{self.percpu_alloc}' must be one word, like lpage")
        if any(not 0 <= n < nodes for n in self.offline_nodes):
            out.append(f"offline_nodes names a node outside 0..{nodes - 1}")
        out.extend(self._node_memory_problems(nodes))
        return out

    def _node_memory_problems(self, nodes: int) -> list[str]:
        if self.node_memory is None:
            return []
        if len(self.node_memory) != nodes:
            return [f"node_memory needs one size per node ({nodes})"]
        if any(size < 0 for size in self.node_memory):
            return ["node_memory sizes must not be negative"]
        if any(self.node_memory[n] for n in self.offline_nodes if n < nodes):
            return ["node_memory gives an offline node memory"]
        if sum(self.node_memory) != self.bootmem_size:
            return [f"node_memory adds up to {sum(self.node_memory)}, not bootmem_size "
                    f"{self.bootmem_size}"]
        return []

    def memory_of_nodes(self) -> tuple[int, ...]:
        """Bytes of memory of each node: node_memory, or bootmem_size shared
        equally (in whole pages, the last online node taking the rest) among
        the online nodes; all on node 0 when every node is offline."""
        if self.node_memory is not None:
            return self.node_memory
        nodes = self.nodes()
        online = [n for n in range(nodes) if n not in self.offline_nodes] or [0]
        share = self.bootmem_size // len(online) // self.page_size * self.page_size
        sizes = [share if n in online else 0 for n in range(nodes)]
        sizes[online[-1]] += self.bootmem_size - share * len(online)
        return tuple(sizes)

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
        """The case as the shim's stdin protocol wants it: every field it
        can be told, explicitly, so that the shim keeps no defaults."""
        return " ".join(row.shim_field(self) for row in SHIM_FIELDS)

    def with_name(self, name: str) -> Case:
        return replace(self, name=name)


@dataclass(frozen=True)
class CaseField:
    """One row of CASE_FIELDS: a field of Case, its default and its spec."""

    name: str
    default: Any
    spec: FieldSpec

    def value(self, case: Case) -> Any:
        return getattr(case, self.name)

    def changed(self, case: Case) -> bool:
        return bool(self.value(case) != self.default)

    def _written(self, when: Written, case: Case) -> bool:
        if when == "always":
            return True
        if when == "changed":
            return self.changed(case)
        return when(case)

    def given(self, value: OptionValue | None) -> bool:
        """Whether an option's parsed value sets the field: a flag left
        off, an option not given (None) or left empty does not."""
        if value is None or value is False:
            return False
        return not (value == "" and self.spec.kind.empty_option_is_absent)

    def set(self, case: Case, value: Any) -> Case:
        """`case` with this field set to `value`."""
        return replace(case, **{self.name: value})

    def from_option(self, value: OptionValue) -> Any:
        if isinstance(self.spec.kind, Switch):
            return not self.default
        assert self.spec.flag is not None
        return self.spec.kind.from_option(value, self.spec.flag)

    def option_words(self, case: Case) -> list[str]:
        """The option that gives the field its value in `case`, if it is written."""
        if self.spec.flag is None or not self._written(self.spec.option, case):
            return []
        if isinstance(self.spec.kind, Switch):
            return [self.spec.flag]
        return [self.spec.flag, self.spec.kind.option(self.value(case))]

    def toml_lines(self, case: Case) -> list[str]:
        if not self._written(self.spec.toml, case):
            return []
        value = self.value(case)
        if isinstance(self.spec.kind, Table):
            return self.spec.kind.toml_lines(value)
        return [f"{self.name} = {self.spec.kind.toml(value)}"]

    def shim_field(self, case: Case) -> str:
        value = self.value(case)
        if value is None and self.spec.resolve is not None:
            value = self.spec.resolve(case)
        return f"{self.spec.shim_key or self.name}={self.spec.kind.shim(value)}"


def _row(f: Any) -> CaseField:
    default = f.default_factory() if f.default_factory is not MISSING else \
        None if f.default is MISSING else f.default
    return CaseField(f.name, default, f.metadata[_SPEC])


# The table: every field of Case, in declaration order.
CASE_FIELDS: tuple[CaseField, ...] = tuple(_row(f) for f in fields(Case))
SHIM_FIELDS = tuple(row for row in CASE_FIELDS if row.spec.on_shim_line)
OPTION_FIELDS = tuple(row for row in CASE_FIELDS if row.spec.flag is not None)
# A case file: the fields that head it, the rest of the top level, then its tables.
TOML_SECTIONS = ("expect", "topology")
_TOML_ORDER = (
    [row for row in CASE_FIELDS if row.spec.heads_file]
    + [row for row in CASE_FIELDS if not row.spec.heads_file and not row.spec.section])


def shrink_group(group: ShrinkGroup) -> tuple[CaseField, ...]:
    return tuple(row for row in CASE_FIELDS if row.spec.shrink == group)


def case_from_mapping(data: Mapping[str, object], default_name: str) -> Case:
    """A case from a case file's TOML, each field read by its row."""
    known = {row.name for row in _TOML_ORDER} | set(TOML_SECTIONS)
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"case '{default_name}': unknown key '{unknown[0]}'")
    case = Case(name=default_name)
    for row in CASE_FIELDS:
        kind, section = row.spec.kind, row.spec.section
        if isinstance(kind, Table):
            table, key = data, section
        else:
            sub = data.get(section, {}) if section else data
            table, key = (sub if isinstance(sub, Mapping) else {}), row.name
        if key in table:
            case = row.set(case, kind.from_toml(table[key], key, default_name))
    return case.validate()


def load_case(path: Path) -> Case:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise UserError(f"case file {path} does not exist") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"case file {path} is not valid TOML: {err}") from err
    return case_from_mapping(data, path.stem)


def case_to_toml(case: Case) -> str:
    lines = [line for row in _TOML_ORDER for line in row.toml_lines(case)]
    for section in TOML_SECTIONS:
        body = [line for row in CASE_FIELDS if row.spec.section == section
                for line in row.toml_lines(case)]
        if body:
            lines += [f"\n[{section}]", *body]
    return "\n".join(lines) + "\n"


def case_from_options(file_case: Case | None, given: Mapping[str, OptionValue]) -> Case:
    """The case file's case (or the defaults, named "cli") with the given
    options laid over it; `given` maps field names to option values."""
    base = file_case if file_case is not None else Case(name="cli")
    changes = {row.name: row.from_option(given[row.name])
               for row in OPTION_FIELDS if row.name in given}
    scenario = changes.get("scenario", base.scenario)
    if scenario in ARCH_SCENARIOS and "page_size" not in given:
        changes["page_size"] = ARCH_PAGE_SIZE[scenario]
    if "node_memory" in changes and changes["node_memory"] is not None:
        # bootmem_size has no option: the nodes given are all the memory.
        changes["bootmem_size"] = sum(changes["node_memory"])
    if "nr_cpus" not in changes and file_case is None:
        # NR_CPUS must cover the highest possible cpu; 64 otherwise.
        possible = changes.get("possible", base.possible)
        changes["nr_cpus"] = max(64, max(possible) + 1)
    return replace(base, **changes).validate()


def option_words(case: Case) -> list[str]:
    """The options that give a case made from none (show's, repro's) the
    values of `case`: case_from_options reads them back as `case`."""
    rows = sorted(OPTION_FIELDS, key=lambda row: row.spec.option_last)
    return [word for row in rows for word in row.option_words(case)]

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
    BadValue,
    Bounds,
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
    option_text,
    shown,
    type_name,
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

# What a case can hold, each field's numbers bounded by what the kernel and
# the shim can represent (a case file or option outside them is refused
# before anything runs, rather than booted as something else):
# NR_CPUS as x86-64's MAXSMP allows it, and cpu ids below it;
NR_CPUS_BOUNDS = Bounds(1, 8192)
CPU_BOUNDS = Bounds(0, NR_CPUS_BOUNDS.hi - 1)
# nodes as the shim holds them (SHIM_MAX_NODES); a distance as the shim's
# int holds it (firmware tables hold a byte, but arch_numa's
# numa_set_distance() takes an int and refuses one that is not a byte,
# which cases test);
NODE_BOUNDS = Bounds(0, 63)
DISTANCE_BOUNDS = Bounds(0, (1 << 31) - 1)
# the static, reserved and dynamic areas and the atom within the 16 GiB the
# shim reserves per unit for the static area (SHIM_STATIC_RESERVE): three of
# them times every cpu stays far from wrapping an unsigned long;
AREA_BOUNDS = Bounds(0, 16 << 30, sizes=True)
# memory within the shim's simulated 1 TiB less its red zone (REGION_RESERVE);
MEMORY_BOUNDS = Bounds(0, 1023 << 30, sizes=True)
# the vmalloc area within x86-64's 5-level virtual address space (128 PiB);
VMALLOC_BOUNDS = Bounds(0, 1 << 57, sizes=True)
# the index of an allocation to fail, -1 for none (the shim counts in a long).
FAIL_BOUNDS = Bounds(-1, (1 << 31) - 1)

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
    # The numbers the field (each number of a list field) may hold.
    bounds: Bounds | None = None


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
        option="always", on_shim_line=False, bounds=NR_CPUS_BOUNDS))
    possible: tuple[int, ...] = knob((0,), FieldSpec(
        CPU_LIST, "--possible", "possible cpus, e.g. 0,2,4 or 0-7", toml="always",
        option="always", bounds=CPU_BOUNDS))
    # Node of each possible cpu, in the order of `possible`; None: all on node 0.
    cpu_node: tuple[int, ...] | None = knob(None, FieldSpec(
        NODE_LIST, "--cpu-node", "node of each possible cpu, e.g. 0,0,1,1", section="topology",
        resolve=lambda case: tuple(case.node_of(cpu) for cpu in case.possible),
        bounds=NODE_BOUNDS))
    # Node distance matrix; None: a single node at LOCAL_DISTANCE.
    distance: tuple[tuple[int, ...], ...] | None = knob(None, FieldSpec(
        DISTANCE, "--distance", "node distance matrix, e.g. 10,20;20,10", section="topology",
        resolve=lambda case: ((LOCAL_DISTANCE,),), bounds=DISTANCE_BOUNDS))
    static_size: int = knob(40960, FieldSpec(
        SIZE, "--static-size", toml="always", option="always", bounds=AREA_BOUNDS))
    reserved_size: int = knob(8192, FieldSpec(
        SIZE, "--reserved-size", toml="always", option="always", bounds=AREA_BOUNDS))
    dyn_size: int = knob(AUTO, FieldSpec(
        AUTO_SIZE, "--dyn-size", "bytes or auto", toml="always", option="always",
        bounds=AREA_BOUNDS))
    atom_size: int = knob(4096, FieldSpec(
        SIZE, "--atom-size", "allocation atom (lpage size), e.g. 2M", toml="always",
        option=lambda case: case.scenario == "lpage" or case.atom_size != case.page_size,
        bounds=AREA_BOUNDS))
    page_size: int = knob(4096, FieldSpec(
        SIZE, "--page-size", "4K (x86) or 8K (sparc64)", toml="always", on_shim_line=False,
        bounds=AREA_BOUNDS))
    bootmem_size: int = knob(64 << 30, FieldSpec(SIZE, shrink="memory", bounds=MEMORY_BOUNDS))
    vmalloc_size: int = knob(32 << 40, FieldSpec(
        SIZE, "--vmalloc-size", "size of the vmalloc area, e.g. 128M", option_last=True,
        shrink="memory", bounds=VMALLOC_BOUNDS))
    # Failure injection: -1, nothing fails.
    fail_fc_alloc: int = knob(-1, FieldSpec(
        INTEGER, "--fail-fc-alloc", "make the Nth arch page allocation fail",
        option=lambda case: case.fail_fc_alloc >= 0, shrink="failure", bounds=FAIL_BOUNDS))
    fail_bootmem: int = knob(-1, FieldSpec(
        INTEGER, "--fail-bootmem", "make the Nth bootmem allocation that may fail, fail",
        option=lambda case: case.fail_bootmem >= 0, shrink="failure", bounds=FAIL_BOUNDS))
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
        shrink="arch knob", bounds=NODE_BOUNDS))
    # Bytes of memory of each node, in node order, laid out from address 0
    # up (node 0 lowest, as QEMU's `-numa node,memdev=` places them) and
    # adding up to bootmem_size; None: equal shares of the online nodes.
    # Only a CONFIG_NUMA build sees more than one node.
    node_memory: tuple[int, ...] | None = knob(None, FieldSpec(
        SIZE_LIST, "--node-memory",
        "bytes of memory per node in node order, e.g. 1G,1G,0 (default: equal shares of "
        "bootmem_size among the online nodes)", section="topology", option_last=True,
        shrink="memory", resolve=lambda case: case.memory_of_nodes(), bounds=MEMORY_BOUNDS))
    description: str = knob("", FieldSpec(
        TEXT, heads_file=True, on_shim_line=False, booted=False))
    expect: Mapping[str, str] = field(default_factory=dict, metadata={_SPEC: FieldSpec(
        TABLE, section="expect", on_shim_line=False, booted=False)})

    def validate(self, where: str | None = None) -> Case:
        """The case, if it is one the kernel and the shim can boot; else one
        line naming the first problem (after `where`, default the case's name)."""
        problems = list(self._problems())
        if problems:
            name = f"'{self.name}'" if self.name.isprintable() else shown(self.name)
            raise UserError(f"{where or f'case {name}'}: {problems[0]}")
        return self

    def _problems(self) -> Sequence[str]:
        out = _bound_problems(self)
        if not self.name.isprintable():
            out.append(f"the name {shown(self.name)} has a control character: expected one "
                       "line of printable text")
        if self.scenario not in SCENARIOS:
            out.append(f"scenario '{self.scenario}' unknown: use one of {', '.join(SCENARIOS)}")
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
        off or an option not given (None) does not."""
        return value is not None and value is not False

    def set(self, case: Case, value: Any) -> Case:
        """`case` with this field set to `value`."""
        return replace(case, **{self.name: value})

    @property
    def toml_key(self) -> str:
        """Where the field sits in a case file, as messages name it."""
        if isinstance(self.spec.kind, Table):
            return f"[{self.spec.section}]"
        return f"[{self.spec.section}] {self.name}" if self.spec.section else self.name

    def expects(self) -> str:
        return self.spec.kind.expects(self.spec.bounds)

    def from_toml(self, value: Any, where: str) -> Any:
        """The field's value in a case file, or one line naming the file,
        the key, what is wrong and what was expected."""
        try:
            return self.spec.kind.from_toml(value, self.spec.bounds)
        except BadValue as err:
            raise UserError(f"{where}: {self.toml_key} = {shown(value)} {err}; expected "
                            f"{self.expects()}") from None

    def from_option(self, value: OptionValue) -> Any:
        if isinstance(self.spec.kind, Switch):
            return not self.default
        assert self.spec.flag is not None
        text = str(value)
        try:
            return self.spec.kind.from_option(text, self.spec.bounds)
        except BadValue as err:
            raise UserError(f"{self.spec.flag} {option_text(text)} {err}; expected "
                            f"{self.expects()}") from None

    def numbers(self, case: Case) -> list[int]:
        """Every number the field holds in `case`, for its bounds (not AUTO)."""
        value = self.value(case)
        if value is None or isinstance(value, (str, bool, Mapping)):
            return []
        if isinstance(value, int):
            return [] if value == AUTO and isinstance(self.spec.kind, AutoSize) else [value]
        return [n for item in value for n in (item if isinstance(item, tuple) else (item,))]

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


def _bound_problems(case: Case) -> list[str]:
    out = []
    for row in CASE_FIELDS:
        bounds = row.spec.bounds
        if bounds is None:
            continue
        bad = [n for n in row.numbers(case) if not bounds.lo <= n <= bounds.hi]
        if bad:
            out.append(f"{row.name} holds {bad[0]}, out of range {bounds.text()}")
    return out


# The schema of a case file, from the table: the keys of each level (the top
# level's, then each section's; None: a table of free keys, as [expect] is).
_SCHEMA: dict[str, tuple[str, ...] | None] = {
    "": tuple(row.name for row in _TOML_ORDER) + TOML_SECTIONS,
    **{section: None if any(isinstance(row.spec.kind, Table) and row.spec.section == section
                            for row in CASE_FIELDS)
       else tuple(row.name for row in CASE_FIELDS if row.spec.section == section)
       for section in TOML_SECTIONS},
}


def _check_keys(data: Mapping[str, object], where: str) -> None:
    """Every key of a case file known at its level, and every section a table."""
    for key in data:
        if key not in (_SCHEMA[""] or ()):
            home = next((row.spec.section for row in CASE_FIELDS
                         if row.name == key and row.spec.section), None)
            fix = f"it belongs in [{home}]" if home else \
                f"expected one of {', '.join(_SCHEMA[''] or ())}"
            raise UserError(f"{where}: unknown key '{key}'; {fix}")
    for section in TOML_SECTIONS:
        keys = _SCHEMA[section]
        table = data.get(section, {})
        if not isinstance(table, Mapping):
            raise UserError(f"{where}: {section} = {shown(table)} is {type_name(table)}; "
                            f"expected a table [{section}]")
        unknown = [key for key in table if keys is not None and key not in keys]
        if unknown:
            raise UserError(f"{where}: unknown key '{unknown[0]}' in [{section}]; expected "
                            f"one of {', '.join(keys or ())}")


def case_from_mapping(data: Mapping[str, object], default_name: str,
                      where: str | None = None) -> Case:
    """A case from a case file's TOML, each field read and checked by its
    row; `where` names the file in messages."""
    where = where or f"case '{default_name}'"
    _check_keys(data, where)
    case = Case(name=default_name)
    for row in CASE_FIELDS:
        kind, section = row.spec.kind, row.spec.section
        if isinstance(kind, Table):
            table, key = data, section
        else:
            sub = data.get(section, {}) if section else data
            table, key = (sub if isinstance(sub, Mapping) else {}), row.name
        if key in table:
            case = row.set(case, row.from_toml(table[key], where))
    return case.validate(where)


def load_case(path: Path) -> Case:
    where = f"case file {shown(str(path)) if not str(path).isprintable() else path}"
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{where} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"{where} is a directory: name a .toml file, e.g. {path}/NAME.toml") \
            from None
    except OSError as err:
        raise UserError(f"cannot read {where} ({err.strerror}): check its permissions") \
            from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        detail = " ".join(str(err).split())
        raise UserError(f"{where} is not valid TOML: {detail}") from None
    return case_from_mapping(data, path.stem, where)


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

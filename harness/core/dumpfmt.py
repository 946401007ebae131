"""The percpu allocation dump: render it from a table, parse it back.

When the first percpu chunk is set up the kernel prints which cpu each unit
of the chunk serves.  Two generations of the code print this in different
formats:

* ``pcpu-alloc:`` (the alloc_info API) shows units grouped by NUMA group and
  split into allocations of ``alloc_size // unit_size`` units each, e.g.
  ``pcpu-alloc: [0] 0 2 [1] 4 -``;
* ``pcpu-lpage:`` (the older unit_map API, large-page first chunk only)
  lists units in order with ``|`` between large pages and no groups, e.g.
  ``pcpu-lpage: 0 2 | 4 -``.

Both describe the same thing, so a :class:`DumpTable` holds either one, and
two kernels are compared by what their dumps mean instead of by their text.
:func:`render` reproduces the kernel's text byte for byte from a table and
:func:`parse` reads it back (with or without log levels, ignoring other log
lines, whatever the column widths): ``parse(render(t)) == t`` for every valid
table and ``render(parse(s)) == s`` for every text render produces.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "ALLOC_PREFIX",
    "LPAGE_PREFIX",
    "DumpParseError",
    "DumpTable",
    "DumpUnit",
    "alloc_table",
    "lpage_table",
    "parse",
    "render",
    "render_alloc",
    "render_lpage",
]

ALLOC_PREFIX = "pcpu-alloc:"
LPAGE_PREFIX = "pcpu-lpage:"

# The kernel packs as many allocations (or large pages) on a line as fit in
# about this many columns, rounded down to a power of two so that lines
# break at round unit numbers.
_LINE_COLUMNS = 60
# An empty slot is as wide as a cpu number, but never wider than this.
_MAX_EMPTY = 8

# A log line as printed by the harness ("<7>"), by kernels with KERN_SOH
# ("\x017") or by dmesg with timestamps ("[    0.000000] ").
_DUMP_LINE = re.compile(
    r"^\s*(?:<[0-7]>|\x01[0-7c])?(?:\[\s*\d+\.\d+\]\s*)?(pcpu-alloc|pcpu-lpage):(.*)$"
)
_ALLOC_HEADER = re.compile(
    r"s(-?\d+)\s+r(-?\d+)\s+d(-?\d+)\s+u(\d+)\s+alloc=(\d+)\*(\d+)"
)
_LPAGE_HEADER = re.compile(r"sta/res/dyn=(-?\d+)/(-?\d+)/(-?\d+)\s+unit=(\d+)\s+lpage=(\d+)")
_HEADERS = {"alloc": _ALLOC_HEADER, "lpage": _LPAGE_HEADER}
_GROUP = re.compile(r"\[(\d+)\]")
_CPU = re.compile(r"\d+")
_EMPTY = re.compile(r"-+")

Slot = int | None


@dataclass(frozen=True)
class DumpUnit:
    """One unit of the first chunk and the cpu it serves."""

    unit: int
    """Unit number across the whole chunk, from 0."""
    alloc: int
    """Allocation number (pcpu-alloc) or large page number (pcpu-lpage), across the dump."""
    group: int | None
    """Group number; None in pcpu-lpage dumps, which have no groups."""
    cpu: int | None
    """The cpu this unit serves; None for an empty slot."""


@dataclass(frozen=True)
class DumpTable:
    """What one allocation dump says, in either format."""

    format: str
    """"alloc" (pcpu-alloc:) or "lpage" (pcpu-lpage:)."""
    static_size: int
    reserved_size: int
    dyn_size: int
    unit_size: int
    atom_size: int
    """The allocation atom; for "lpage" the large page size."""
    alloc_size: int | None
    """For "alloc" the allocation size (n*atom in the header); None for "lpage"."""
    units: tuple[DumpUnit, ...] = field(default=())

    def __post_init__(self) -> None:
        # A list would make two equal tables compare unequal and unhashable.
        if not isinstance(self.units, tuple):
            object.__setattr__(self, "units", tuple(self.units))

    @property
    def units_per_alloc(self) -> int:
        """Units in one allocation ("alloc") or one large page ("lpage")."""
        if self.unit_size <= 0:
            raise ValueError(f"unit size {self.unit_size} is not positive")
        if self.format == "lpage":
            return max(self.atom_size // self.unit_size, 1)
        if self.format != "alloc":
            raise ValueError(f"unknown dump format {self.format!r}")
        if self.alloc_size is None:
            raise ValueError("an alloc dump needs alloc_size")
        upa = self.alloc_size // self.unit_size
        if upa < 1:
            raise ValueError(
                f"alloc size {self.alloc_size} is smaller than unit size {self.unit_size}"
            )
        return upa

    @property
    def nr_units(self) -> int:
        return len(self.units)

    def slots(self) -> tuple[Slot, ...]:
        """The cpu of every unit in unit order, None for empty slots."""
        return tuple(u.cpu for u in self.units)

    def cpus(self) -> tuple[int, ...]:
        """The cpus the dump names, in unit order."""
        return tuple(u.cpu for u in self.units if u.cpu is not None)

    def cpu_to_unit(self) -> dict[int, int]:
        """Which unit serves each cpu; ValueError if a cpu has two units."""
        mapping: dict[int, int] = {}
        for u in self.units:
            if u.cpu is None:
                continue
            if u.cpu in mapping:
                raise ValueError(f"cpu {u.cpu} is in units {mapping[u.cpu]} and {u.unit}")
            mapping[u.cpu] = u.unit
        return mapping

    def groups(self) -> tuple[tuple[Slot, ...], ...]:
        """The slots of each group, in group order.

        An "lpage" dump has no groups; it is returned as one group holding
        every unit, which is what the older code's single unit map means.
        """
        if self.format == "lpage":
            return (self.slots(),) if self.units else ()
        return _split(self.units, lambda u: u.group)

    def allocs(self) -> tuple[tuple[Slot, ...], ...]:
        """The slots of each allocation ("alloc") or large page ("lpage")."""
        return _split(self.units, lambda u: u.alloc)

    def validate(self) -> None:
        """Raise ValueError unless the table is one the kernel could print.

        These are exactly the conditions for render() to be defined and for
        parse() to give the same table back.
        """
        upa = self.units_per_alloc
        if self.atom_size <= 0:
            raise ValueError(f"atom size {self.atom_size} is not positive")
        if self.format == "alloc":
            assert self.alloc_size is not None
            if self.alloc_size % self.atom_size:
                # The header prints alloc_size as n*atom: anything else is lost.
                raise ValueError(
                    f"alloc size {self.alloc_size} is not a multiple of atom size "
                    f"{self.atom_size}"
                )
        elif self.alloc_size is not None:
            raise ValueError("an lpage dump has no alloc_size")
        for number, u in enumerate(self.units):
            if u.unit != number:
                raise ValueError(f"unit {u.unit} is at position {number}")
            if u.cpu is not None and u.cpu < 0:
                raise ValueError(f"unit {u.unit}: cpu {u.cpu} is negative")
        if self.format == "alloc":
            self._validate_groups(upa)
        elif any(u.group is not None for u in self.units):
            raise ValueError("an lpage dump has no groups")
        for u in self.units:
            if u.alloc != u.unit // upa:
                raise ValueError(
                    f"unit {u.unit}: allocation {u.alloc}, expected {u.unit // upa} "
                    f"with {upa} units per allocation"
                )

    def _validate_groups(self, upa: int) -> None:
        sizes: list[int] = []
        for u in self.units:
            if u.group is None:
                raise ValueError(f"unit {u.unit}: an alloc dump needs a group")
            if u.group == len(sizes) - 1:
                sizes[-1] += 1
            elif u.group == len(sizes):
                sizes.append(1)
            else:
                # A group out of order, or one with no units, cannot be read
                # back from the text.
                expected = f"{len(sizes) - 1} or {len(sizes)}" if sizes else "0"
                raise ValueError(f"unit {u.unit}: group {u.group} where group {expected} was due")
        for group, size in enumerate(sizes):
            if size % upa:
                raise ValueError(
                    f"group {group} has {size} units, not a multiple of {upa} per allocation"
                )


def _split(
    units: Iterable[DumpUnit], key: Callable[[DumpUnit], object]
) -> tuple[tuple[Slot, ...], ...]:
    runs: list[list[Slot]] = []
    last: object = None
    for u in units:
        k = key(u)
        if not runs or k != last:
            runs.append([])
            last = k
        runs[-1].append(u.cpu)
    return tuple(tuple(run) for run in runs)


class DumpParseError(ValueError):
    """Text that is not an allocation dump; says which line and why."""

    def __init__(self, problem: str, line_number: int | None = None, line: str | None = None):
        self.problem = problem
        self.line_number = line_number
        self.line = line
        where = "" if line_number is None else f"line {line_number}: {line!r}: "
        super().__init__(where + problem)


def alloc_table(
    static_size: int,
    reserved_size: int,
    dyn_size: int,
    unit_size: int,
    atom_size: int,
    alloc_size: int,
    groups: Sequence[Sequence[Slot]],
) -> DumpTable:
    """A pcpu-alloc table from the slots (cpu or None) of each group.

    Allocation numbers run on across groups; a group whose size is not a
    multiple of the allocation is still built (its last allocation is short)
    so that render() can refuse it with a clear message.
    """
    table = DumpTable("alloc", static_size, reserved_size, dyn_size, unit_size, atom_size,
                      alloc_size)
    upa = table.units_per_alloc
    units: list[DumpUnit] = []
    first_alloc = 0
    for group, slots in enumerate(groups):
        for index, cpu in enumerate(slots):
            units.append(DumpUnit(len(units), first_alloc + index // upa, group, cpu))
        first_alloc += -(-len(slots) // upa)
    return DumpTable("alloc", static_size, reserved_size, dyn_size, unit_size, atom_size,
                     alloc_size, tuple(units))


def lpage_table(
    static_size: int,
    reserved_size: int,
    dyn_size: int,
    unit_size: int,
    lpage_size: int,
    slots: Sequence[Slot],
) -> DumpTable:
    """A pcpu-lpage table from the cpu (or None) of each unit in unit order."""
    table = DumpTable("lpage", static_size, reserved_size, dyn_size, unit_size, lpage_size, None)
    upl = table.units_per_alloc
    units = tuple(DumpUnit(n, n // upl, None, cpu) for n, cpu in enumerate(slots))
    return DumpTable("lpage", static_size, reserved_size, dyn_size, unit_size, lpage_size, None,
                     units)


def _digits(n: int) -> int:
    return len(str(n))


def _pow2_floor(n: int) -> int:
    return 1 << (n.bit_length() - 1)


def _cell(cpu: Slot, width: int) -> str:
    if cpu is None:
        return "-" * min(width, _MAX_EMPTY) + " "
    # Like printf("%0*d"): a number wider than the column is printed whole.
    return f"{cpu:0{width}d} "


def render(table: DumpTable) -> str:
    """The kernel's text for a table, without log levels or a final newline."""
    if table.format == "alloc":
        return render_alloc(table)
    if table.format == "lpage":
        return render_lpage(table)
    raise ValueError(f"unknown dump format {table.format!r}")


def render_alloc(table: DumpTable) -> str:
    """The pcpu-alloc: text of an "alloc" table."""
    if table.format != "alloc":
        raise ValueError(f"render_alloc() needs an alloc table, not {table.format!r}")
    table.validate()
    assert table.alloc_size is not None
    upa = table.units_per_alloc
    nr_groups = len(table.groups())
    group_width = _digits(nr_groups)
    # Sized by how many cpus there are, not by the largest cpu number.
    cpu_width = _digits(len(table.cpus()))
    width = upa * (cpu_width + 1) + group_width + 3
    per_line = _pow2_floor(max(_LINE_COLUMNS // width, 1))

    lines = [
        f"{ALLOC_PREFIX} s{table.static_size} r{table.reserved_size} d{table.dyn_size} "
        f"u{table.unit_size} alloc={table.alloc_size // table.atom_size}*{table.atom_size}"
    ]
    for u in table.units:
        if u.unit % upa == 0:
            if u.alloc % per_line == 0:
                lines.append(f"{ALLOC_PREFIX} ")
            lines[-1] += f"[{u.group:0{group_width}d}] "
        lines[-1] += _cell(u.cpu, cpu_width)
    return "\n".join(lines)


def render_lpage(table: DumpTable) -> str:
    """The pcpu-lpage: text of an "lpage" table."""
    if table.format != "lpage":
        raise ValueError(f"render_lpage() needs an lpage table, not {table.format!r}")
    table.validate()
    upl = table.units_per_alloc
    # Sized by the number of units, empty ones included.
    width = _digits(table.nr_units)
    per_line = _pow2_floor(max(_LINE_COLUMNS // (upl * (width + 1) + 2), 1))

    lines = [
        f"{LPAGE_PREFIX} sta/res/dyn={table.static_size}/{table.reserved_size}/"
        f"{table.dyn_size} unit={table.unit_size} lpage={table.atom_size}"
    ]
    for u in table.units:
        if u.unit % upl == 0:
            if u.alloc % per_line == 0:
                lines.append(f"{LPAGE_PREFIX} ")
            else:
                lines[-1] += "| "
        lines[-1] += _cell(u.cpu, width)
    return "\n".join(lines)


@dataclass
class _Line:
    number: int
    text: str
    format: str
    body: str

    def error(self, problem: str) -> DumpParseError:
        return DumpParseError(problem, self.number, self.text)


@dataclass
class _Run:
    """An allocation or large page being read: where it starts, how many units."""

    line: _Line
    label: str
    count: int = 0


def parse(text: str) -> DumpTable:
    """The table of the one allocation dump in text (a kernel log or a render())."""
    lines = [
        _Line(number, raw, m.group(1).removeprefix("pcpu-"), m.group(2))
        for number, raw in enumerate(text.splitlines(), 1)
        if (m := _DUMP_LINE.match(raw))
    ]
    if not lines:
        raise DumpParseError(f"no {ALLOC_PREFIX} or {LPAGE_PREFIX} line")
    header, body = lines[0], lines[1:]
    sizes = _parse_header(header)
    for line in body:
        if line.format != header.format:
            raise line.error(f"a pcpu-{line.format}: line in a pcpu-{header.format}: dump")
        if _HEADERS[line.format].fullmatch(line.body.strip()):
            raise line.error("a second dump header; parse one dump at a time")
        if not line.body.split():
            raise line.error("no units on the line")
    upa = sizes.units_per_alloc
    if sizes.format == "alloc":
        assert sizes.alloc_size is not None
        return alloc_table(sizes.static_size, sizes.reserved_size, sizes.dyn_size,
                           sizes.unit_size, sizes.atom_size, sizes.alloc_size,
                           _alloc_groups(body, upa, header))
    return lpage_table(sizes.static_size, sizes.reserved_size, sizes.dyn_size, sizes.unit_size,
                       sizes.atom_size, _lpage_slots(body, upa, header))


def _parse_header(line: _Line) -> DumpTable:
    """The table a header describes, with no units yet."""
    m = _HEADERS[line.format].fullmatch(line.body.strip())
    if not m:
        raise line.error(f"not a pcpu-{line.format}: header")
    values = [int(value) for value in m.groups()]
    if line.format == "alloc":
        static, reserved, dyn, unit, count, atom = values
        table = DumpTable("alloc", static, reserved, dyn, unit, atom, count * atom)
    else:
        static, reserved, dyn, unit, lpage = values
        table = DumpTable("lpage", static, reserved, dyn, unit, lpage, None)
    try:
        table.validate()
    except ValueError as e:
        raise line.error(str(e)) from e
    return table


def _slot(token: str, line: _Line) -> Slot:
    if _CPU.fullmatch(token):
        return int(token)
    if _EMPTY.fullmatch(token):
        return None
    raise line.error(f"{token!r} is neither a cpu number nor an empty slot")


def _check_runs(runs: list[_Run], size: int, header: _Line, short_last: bool) -> None:
    for index, run in enumerate(runs):
        last = index == len(runs) - 1
        if run.count == size or (short_last and last and 0 < run.count < size):
            continue
        raise run.line.error(
            f"{run.label} has {run.count} units; the header ({header.body.strip()}) "
            f"means {size}"
        )


def _alloc_groups(lines: list[_Line], upa: int, header: _Line) -> list[list[Slot]]:
    groups: list[list[Slot]] = []
    runs: list[_Run] = []
    for line in lines:
        for token in line.body.split():
            if runs and token.isdecimal():  # a cpu, as _CPU matches: most tokens
                groups[-1].append(int(token))
                runs[-1].count += 1
            elif m := _GROUP.fullmatch(token):
                group = int(m.group(1))
                if group == len(groups):
                    groups.append([])
                elif group != len(groups) - 1:
                    expected = f"{len(groups) - 1} or {len(groups)}" if groups else "0"
                    raise line.error(f"group {group} where group {expected} was due")
                runs.append(_Run(line, f"allocation {len(runs)} (group {group})"))
            elif not runs:
                raise line.error(f"{token!r} before the first [group]")
            else:
                groups[-1].append(_slot(token, line))
                runs[-1].count += 1
    _check_runs(runs, upa, header, short_last=False)
    return groups


def _lpage_slots(lines: list[_Line], upl: int, header: _Line) -> list[Slot]:
    slots: list[Slot] = []
    runs: list[_Run] = []
    for line in lines:
        # Every line starts a large page, so a line break works like "|".
        for token in ["|", *line.body.split()]:
            if token == "|":
                if runs and runs[-1].count == 0:
                    raise line.error("a large page with no units")
                runs.append(_Run(line, f"large page {len(runs)}"))
            else:
                slots.append(_slot(token, line))
                runs[-1].count += 1
    if runs and runs[-1].count == 0:
        raise runs[-1].line.error("a large page with no units")
    # Units are listed up to the last one, which may end a large page early.
    _check_runs(runs, upl, header, short_last=True)
    return slots

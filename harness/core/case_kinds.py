"""The kinds of value a case field holds, and how each kind is spelled.

A case travels three ways: as TOML (cases/*.toml, a run's repro-N.toml),
as command-line options (show and repro take them; a run prints the repro
command) and as the shim's one line of `key=value` fields.  A kind knows
its value's spelling in all three, so that a field of cases.Case only has
to name its kind.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import tomli_w

from harness.core.errors import UserError

AUTO = -1

T = TypeVar("T")
# What argparse hands over for an option: its text, or True for a flag
# that was given.
OptionValue = str | bool


class BadValue(Exception):
    """A value a kind cannot hold: what is wrong with it (the caller says
    where it was and what was expected)."""


@dataclass(frozen=True)
class Bounds:
    """The whole numbers a field (or each number of a list field) may be,
    and why there: the limits of the kernel and the shim."""

    lo: int
    hi: int
    sizes: bool = False  # shown as 16G rather than 17179869184

    def check(self, number: int, what: str = "") -> int:
        if not self.lo <= number <= self.hi:
            raise BadValue(f"{what}is out of range")
        return number

    def text(self) -> str:
        show = format_size if self.sizes else str
        return f"{show(self.lo)}..{show(self.hi)}"


def format_size(size: int) -> str:
    """16 << 30 -> '16G': the largest unit that divides the size."""
    for shift, unit in ((40, "T"), (30, "G"), (20, "M"), (10, "K")):
        if size and size % (1 << shift) == 0:
            return f"{size >> shift}{unit}"
    return str(size)


def shown(value: Any, width: int = 60) -> str:
    """A value as a message quotes it: on one line, escaped, cut to `width`."""
    text = json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, str) \
        else json.dumps(value, ensure_ascii=False)
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode()
                   for ch in text)
    return text if len(text) <= width else text[:width - 3] + "..."


def option_text(text: str) -> str:
    """An option's text as a message quotes it: bare when it is plain."""
    return text if re.fullmatch(r"[A-Za-z0-9_.,;:+-]+", text) else shown(text)


def type_name(value: Any) -> str:
    """What TOML calls the value's type, for 'is a string' messages."""
    if isinstance(value, bool):
        return "a boolean"
    names = {int: "a whole number", float: "a fraction", str: "a string", list: "a list",
             dict: "a table"}
    return next((name for kind, name in names.items() if isinstance(value, kind)),
                "a date or time")


def cpulist(text: str, bounds: Bounds | None = None) -> tuple[int, ...]:
    """'0,2,4-7' -> (0, 2, 4, 5, 6, 7), the kernel's cpulist syntax.  With
    bounds, every cpu must lie in them (checked before a range is expanded);
    BadValue names the part that is wrong."""
    cpus: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        m = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", part)
        if not m:
            raise BadValue(f"has {shown(part, 24)}, which is not a cpu or a range like 4-7")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        if hi < lo:
            raise BadValue(f"has the range {part}, which runs backwards")
        if bounds is not None:
            bounds.check(hi, f"has {part}, which ")
        cpus.extend(range(lo, hi + 1))
    return tuple(sorted(set(cpus)))


def parse_cpu_list(text: str) -> tuple[int, ...]:
    """cpulist() for text a user wrote (a boot's --node, a sysfs list)."""
    try:
        return cpulist(text)
    except BadValue as err:
        raise UserError(f"bad cpu list {shown(text)}: it {err}; write it like 0,2,4-7") \
            from None


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


def parse_distance(text: str) -> tuple[tuple[int, ...], ...]:
    """'10,20;20,10' -> ((10, 20), (20, 10))."""
    if not re.fullmatch(r"[0-9]+(?:,[0-9]+)*(?:;[0-9]+(?:,[0-9]+)*)*", text.replace(" ", "")):
        raise UserError(f"bad distance matrix {shown(text)}: write rows as 10,20;20,10")
    return tuple(tuple(int(x) for x in row.split(",")) for row in text.replace(" ", "").split(";"))


_SIZE_RE = re.compile(r"([0-9]+)\s*([kmgt]?)i?b?")
SIZE_SPELLING = 'bytes, or text like "64K", "2M"'


def size_of(value: Any, auto: bool = False) -> int:
    """A size from TOML or an option: a whole number of bytes or "64K";
    "auto" (AUTO) where the kernel may choose.  BadValue when it is none."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise BadValue(f"is {type_name(value)}")
    v = value.strip().lower()
    if auto and v == "auto":
        return AUTO
    m = _SIZE_RE.fullmatch(v)
    if not m:
        raise BadValue("is not a size")
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[m.group(2)]


def whole_number(value: Any) -> int:
    """An integer from TOML: not a boolean, a fraction or a string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise BadValue(f"is {type_name(value)}")


def number_text(text: str) -> int:
    """An integer an option spells."""
    if not re.fullmatch(r"\s*-?[0-9]+\s*", text):
        raise BadValue("is not a whole number")
    return int(text)


def each(values: Any, read: Callable[[Any], int], bounds: Bounds | None) -> tuple[int, ...]:
    """Every item of a TOML list, read and bounded; BadValue names the item."""
    if not isinstance(values, list):
        raise BadValue(f"is {type_name(values)}")
    out = []
    for index, item in enumerate(values, 1):
        try:
            number = read(item)
            out.append(bounds.check(number) if bounds is not None else number)
        except BadValue as err:
            raise BadValue(f"item {index} ({shown(item, 24)}) {err}") from None
    return tuple(out)


def _bounded(number: int, bounds: Bounds | None) -> int:
    return bounds.check(number) if bounds is not None else number


def _range(bounds: Bounds | None) -> str:
    return f" {bounds.text()}" if bounds is not None else ""


def toml_string(text: str) -> str:
    """`text` as a TOML basic string, by a TOML writer: quotes, backslashes
    and control characters escaped, so that the file reads back as written."""
    return tomli_w.dumps({"v": text}).removeprefix("v = ").removesuffix("\n")


def _commas(values: Sequence[int]) -> str:
    return ",".join(map(str, values))


def _toml_list(values: Sequence[int]) -> str:
    return f"[{', '.join(map(str, values))}]"


class Kind(Generic[T]):
    """One kind of value.  Options and TOML are read here and written back
    so that reading what was written gives the value again.  Reading checks
    the value's type and, for numbers, the field's bounds: a value the
    kind cannot hold raises BadValue saying what is wrong with it."""

    def from_option(self, text: str, bounds: Bounds | None) -> T:
        raise NotImplementedError(f"{type(self).__name__} has no command-line option")

    def from_toml(self, value: Any, bounds: Bounds | None) -> T:
        raise NotImplementedError

    def expects(self, bounds: Bounds | None) -> str:
        """What a value of the kind looks like, for 'expected ...' in messages."""
        raise NotImplementedError

    def toml(self, value: T) -> str:
        raise NotImplementedError

    def option(self, value: T) -> str:
        """The option's text, as from_option reads it."""
        raise NotImplementedError(f"{type(self).__name__} has no command-line option")

    def shim(self, value: T) -> str:
        """The text after `key=` on the shim's line."""
        raise NotImplementedError(f"{type(self).__name__} does not travel to the shim")

    def departures(self, value: T, plain: T) -> int:
        """How far the value is from its plain one, for the shrinker's key."""
        return int(value != plain)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise BadValue(f"is {type_name(value)}")
    return value


class Text(Kind[str]):
    """Free text: a name, a description."""

    def from_toml(self, value: Any, bounds: Bounds | None) -> str:
        return _text(value)

    def expects(self, bounds: Bounds | None) -> str:
        return "a string"

    def toml(self, value: str) -> str:
        return toml_string(value)


class CaseName(Text):
    """The case's name; the shim's `id`, where fields are split at blanks."""

    def shim(self, value: str) -> str:
        return re.sub(r"\s", "_", value) or "case"


class Word(Kind[str]):
    """One word: a scenario, the percpu_alloc= boot parameter ("" when absent)."""

    def from_option(self, text: str, bounds: Bounds | None) -> str:
        return text

    def from_toml(self, value: Any, bounds: Bounds | None) -> str:
        return _text(value)

    def expects(self, bounds: Bounds | None) -> str:
        return "a string"

    def toml(self, value: str) -> str:
        return toml_string(value)

    def option(self, value: str) -> str:
        return value

    def shim(self, value: str) -> str:
        return value


class Integer(Kind[int]):
    def from_option(self, text: str, bounds: Bounds | None) -> int:
        return _bounded(number_text(text), bounds)

    def from_toml(self, value: Any, bounds: Bounds | None) -> int:
        return _bounded(whole_number(value), bounds)

    def expects(self, bounds: Bounds | None) -> str:
        return f"a whole number{_range(bounds)}"

    def toml(self, value: int) -> str:
        return str(value)

    def option(self, value: int) -> str:
        return str(value)

    def shim(self, value: int) -> str:
        return str(value)


class Size(Integer):
    """Bytes, read as 4096, "64K" or "2M" too."""

    auto = False

    def from_option(self, text: str, bounds: Bounds | None) -> int:
        return self.from_toml(text, bounds)

    def from_toml(self, value: Any, bounds: Bounds | None) -> int:
        size = size_of(value, self.auto)
        return size if size == AUTO and self.auto else _bounded(size, bounds)

    def expects(self, bounds: Bounds | None) -> str:
        return f"a size{_range(bounds)} ({SIZE_SPELLING})"


class AutoSize(Size):
    """A size the kernel may choose itself: AUTO, spelled "auto"."""

    auto = True

    def expects(self, bounds: Bounds | None) -> str:
        return f'{super().expects(bounds)} or "auto"'

    def toml(self, value: int) -> str:
        return '"auto"' if value == AUTO else str(value)

    def option(self, value: int) -> str:
        return "auto" if value == AUTO else str(value)


class Switch(Kind[bool]):
    """On or off.  On the command line the flag alone turns the field away
    from its default (--numa, --no-pse); it takes no text."""

    def from_option(self, text: str, bounds: Bounds | None) -> bool:
        raise AssertionError("a switch's flag sets the field to the opposite of its default")

    def from_toml(self, value: Any, bounds: Bounds | None) -> bool:
        if not isinstance(value, bool):
            raise BadValue(f"is {type_name(value)}")
        return value

    def expects(self, bounds: Bounds | None) -> str:
        return "true or false"

    def toml(self, value: bool) -> str:
        return str(value).lower()

    def shim(self, value: bool) -> str:
        return str(int(value))


def _numbers(text: str, read: Callable[[str], int], bounds: Bounds | None) -> tuple[int, ...]:
    """'a,b,c' read item by item; BadValue names the item."""
    if not text.strip():
        raise BadValue("is empty")
    out = []
    for index, part in enumerate(text.split(","), 1):
        try:
            out.append(_bounded(read(part), bounds))
        except BadValue as err:
            raise BadValue(f"item {index} ({shown(part, 24)}) {err}") from None
    return tuple(out)


class CpuList(Kind[tuple[int, ...]]):
    """Cpu ids: a cpulist ("0,2,4-7") or a TOML array."""

    def from_option(self, text: str, bounds: Bounds | None) -> tuple[int, ...]:
        if not text.strip():
            raise BadValue("is empty")
        return cpulist(text, bounds)

    def from_toml(self, value: Any, bounds: Bounds | None) -> tuple[int, ...]:
        if isinstance(value, str):
            return cpulist(value, bounds)
        return each(value, whole_number, bounds)

    def expects(self, bounds: Bounds | None) -> str:
        return f'a list of cpu numbers{_range(bounds)}, or a cpulist like "0-3,8"'

    def toml(self, value: tuple[int, ...]) -> str:
        return _toml_list(value)

    def option(self, value: tuple[int, ...]) -> str:
        return format_cpu_list(value)

    def shim(self, value: tuple[int, ...]) -> str:
        return _commas(value)


class NodeList(Kind[tuple[int, ...]]):
    """A node per entry, in order ("0,0,1,1"), as for the possible cpus."""

    def from_option(self, text: str, bounds: Bounds | None) -> tuple[int, ...]:
        return _numbers(text, number_text, bounds)

    def from_toml(self, value: Any, bounds: Bounds | None) -> tuple[int, ...]:
        return each(value, whole_number, bounds)

    def expects(self, bounds: Bounds | None) -> str:
        return f"a list of node numbers{_range(bounds)}"

    def toml(self, value: tuple[int, ...]) -> str:
        return _toml_list(value)

    def option(self, value: tuple[int, ...]) -> str:
        return _commas(value)

    def shim(self, value: tuple[int, ...]) -> str:
        return _commas(value)


class NodeSet(NodeList):
    """Some nodes, each once, in increasing order; a cpulist on the command
    line, where "" is no node at all."""

    def from_option(self, text: str, bounds: Bounds | None) -> tuple[int, ...]:
        return cpulist(text, bounds)

    def from_toml(self, value: Any, bounds: Bounds | None) -> tuple[int, ...]:
        return tuple(sorted(set(each(value, whole_number, bounds))))

    def departures(self, value: tuple[int, ...], plain: tuple[int, ...]) -> int:
        return len(set(value) ^ set(plain))


class SizeList(NodeList):
    """Bytes per node, in node order: "1G,1G,0" on the command line, a list
    of sizes (numbers or "1G") in TOML."""

    def from_option(self, text: str, bounds: Bounds | None) -> tuple[int, ...]:
        return _numbers(text, size_of, bounds)

    def from_toml(self, value: Any, bounds: Bounds | None) -> tuple[int, ...]:
        return each(value, size_of, bounds)

    def expects(self, bounds: Bounds | None) -> str:
        return f"a list of sizes{_range(bounds)} ({SIZE_SPELLING})"


Matrix = tuple[tuple[int, ...], ...]


class Distance(Kind[Matrix]):
    """A node distance matrix: "10,20;20,10" on the command line, flat on the shim's line."""

    def from_option(self, text: str, bounds: Bounds | None) -> Matrix:
        rows = text.split(";")
        return tuple(_row_of(index, row, bounds) for index, row in enumerate(rows, 1))

    def from_toml(self, value: Any, bounds: Bounds | None) -> Matrix:
        if not isinstance(value, list) or any(isinstance(row, str) for row in value):
            raise BadValue(f"is {type_name(value)}" if not isinstance(value, list)
                           else "has a row that is a string")
        return tuple(_row_of(index, row, bounds) for index, row in enumerate(value, 1))

    def expects(self, bounds: Bounds | None) -> str:
        return f"rows of distances{_range(bounds)}, like [[10, 20], [20, 10]] (10,20;20,10 " \
            "on the command line)"

    def toml(self, value: Matrix) -> str:
        return "[" + ", ".join(_toml_list(row) for row in value) + "]"

    def option(self, value: Matrix) -> str:
        return ";".join(_commas(row) for row in value)

    def shim(self, value: Matrix) -> str:
        return ",".join(str(d) for row in value for d in row)


def _row_of(index: int, row: Any, bounds: Bounds | None) -> tuple[int, ...]:
    """A row of the matrix: the option's "10,20" text, or a TOML list."""
    try:
        if isinstance(row, str):
            return _numbers(row, number_text, bounds)
        return each(row, whole_number, bounds)
    except BadValue as err:
        raise BadValue(f"row {index} {err}") from None


class Table(Kind[Mapping[str, str]]):
    """A TOML table of its own, of text values."""

    def from_toml(self, value: Any, bounds: Bounds | None) -> Mapping[str, str]:
        if not isinstance(value, dict):
            raise BadValue(f"is {type_name(value)}")
        for key, text in value.items():
            if not isinstance(text, str):
                raise BadValue(f"has {key} = {shown(text, 24)}, which is {type_name(text)}")
        return dict(value)

    def expects(self, bounds: Bounds | None) -> str:
        return "a table of strings"

    def toml_lines(self, value: Mapping[str, str]) -> list[str]:
        # The TOML writer quotes a key with more than bare-key characters
        # ("unit_map@a530b795861", "modern@5.4") and escapes the values.
        return tomli_w.dumps({str(key): str(text) for key, text in value.items()}).splitlines()

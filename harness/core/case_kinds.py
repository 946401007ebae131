"""The kinds of value a case field holds, and how each kind is spelled.

A case travels three ways: as TOML (cases/*.toml, a run's repro-N.toml),
as command-line options (show and repro take them; a run prints the repro
command) and as the shim's one line of `key=value` fields.  A kind knows
its value's spelling in all three, so that a field of cases.Case only has
to name its kind.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import tomli_w

from harness.core.errors import UserError

AUTO = -1

T = TypeVar("T")
# What argparse hands over for an option: its text, an int (type=int), or
# True for a flag that was given.
OptionValue = str | int | bool


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
    so that reading what was written gives the value again."""

    # The option's text is a whole number, which argparse checks itself.
    option_is_int: ClassVar[bool] = False
    # An empty option text leaves the field alone instead of emptying it:
    # `--possible ""` is as if --possible were not given.
    empty_option_is_absent: ClassVar[bool] = False

    def from_option(self, value: OptionValue, flag: str) -> T:
        raise NotImplementedError(f"{type(self).__name__} has no command-line option")

    def from_toml(self, value: Any, key: str, case: str) -> T:
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


class Text(Kind[str]):
    """Free text: a name, a description."""

    def from_toml(self, value: Any, key: str, case: str) -> str:
        return str(value)

    def toml(self, value: str) -> str:
        return toml_string(value)


class CaseName(Text):
    """The case's name; the shim's `id`, where fields are split at blanks."""

    def shim(self, value: str) -> str:
        return re.sub(r"\s", "_", value) or "case"


class Word(Kind[str]):
    """One word: a scenario, the percpu_alloc= boot parameter ("" when absent)."""

    def from_option(self, value: OptionValue, flag: str) -> str:
        return str(value)

    def from_toml(self, value: Any, key: str, case: str) -> str:
        return str(value)

    def toml(self, value: str) -> str:
        return toml_string(value)

    def option(self, value: str) -> str:
        return value

    def shim(self, value: str) -> str:
        return value


class Integer(Kind[int]):
    option_is_int = True

    def from_option(self, value: OptionValue, flag: str) -> int:
        return int(value)

    def from_toml(self, value: Any, key: str, case: str) -> int:
        return int(value)

    def toml(self, value: int) -> str:
        return str(value)

    def option(self, value: int) -> str:
        return str(value)

    def shim(self, value: int) -> str:
        return str(value)


class Size(Integer):
    """Bytes, read as 4096, "64K" or "2M" too."""

    option_is_int = False

    def from_option(self, value: OptionValue, flag: str) -> int:
        return parse_size(value, flag)

    def from_toml(self, value: Any, key: str, case: str) -> int:
        return parse_size(value, key)


class AutoSize(Size):
    """A size the kernel may choose itself: AUTO, spelled "auto"."""

    def toml(self, value: int) -> str:
        return '"auto"' if value == AUTO else str(value)

    def option(self, value: int) -> str:
        return "auto" if value == AUTO else str(value)


class Switch(Kind[bool]):
    """On or off.  On the command line the flag alone turns the field away
    from its default (--numa, --no-pse); it takes no text."""

    def from_option(self, value: OptionValue, flag: str) -> bool:
        raise AssertionError("a switch's flag sets the field to the opposite of its default")

    def from_toml(self, value: Any, key: str, case: str) -> bool:
        if not isinstance(value, bool):
            raise UserError(f"case '{case}': {key} must be true or false")
        return value

    def toml(self, value: bool) -> str:
        return str(value).lower()

    def shim(self, value: bool) -> str:
        return str(int(value))


class CpuList(Kind[tuple[int, ...]]):
    """Cpu ids: a cpulist ("0,2,4-7") or a TOML array."""

    empty_option_is_absent = True

    def from_option(self, value: OptionValue, flag: str) -> tuple[int, ...]:
        return parse_cpu_list(str(value))

    def from_toml(self, value: Any, key: str, case: str) -> tuple[int, ...]:
        if isinstance(value, str):
            return parse_cpu_list(value)
        return tuple(int(c) for c in value)

    def toml(self, value: tuple[int, ...]) -> str:
        return _toml_list(value)

    def option(self, value: tuple[int, ...]) -> str:
        return format_cpu_list(value)

    def shim(self, value: tuple[int, ...]) -> str:
        return _commas(value)


class NodeList(Kind[tuple[int, ...]]):
    """A node per entry, in order ("0,0,1,1"), as for the possible cpus."""

    empty_option_is_absent = True

    def from_option(self, value: OptionValue, flag: str) -> tuple[int, ...]:
        return tuple(int(n) for n in str(value).split(","))

    def from_toml(self, value: Any, key: str, case: str) -> tuple[int, ...]:
        return tuple(int(n) for n in value)

    def toml(self, value: tuple[int, ...]) -> str:
        return _toml_list(value)

    def option(self, value: tuple[int, ...]) -> str:
        return _commas(value)

    def shim(self, value: tuple[int, ...]) -> str:
        return _commas(value)


class NodeSet(NodeList):
    """Some nodes, each once, in increasing order; a cpulist on the command line."""

    def from_option(self, value: OptionValue, flag: str) -> tuple[int, ...]:
        return parse_cpu_list(str(value))

    def from_toml(self, value: Any, key: str, case: str) -> tuple[int, ...]:
        return tuple(sorted({int(n) for n in value}))

    def departures(self, value: tuple[int, ...], plain: tuple[int, ...]) -> int:
        return len(set(value) ^ set(plain))


class SizeList(NodeList):
    """Bytes per node, in node order: "1G,1G,0" on the command line, a list
    of sizes (numbers or "1G") in TOML."""

    def from_option(self, value: OptionValue, flag: str) -> tuple[int, ...]:
        return tuple(parse_size(part, flag) for part in str(value).split(","))

    def from_toml(self, value: Any, key: str, case: str) -> tuple[int, ...]:
        return tuple(parse_size(part, key) for part in value)


Matrix = tuple[tuple[int, ...], ...]


class Distance(Kind[Matrix]):
    """A node distance matrix: "10,20;20,10" on the command line, flat on the shim's line."""

    empty_option_is_absent = True

    def from_option(self, value: OptionValue, flag: str) -> Matrix:
        return parse_distance(str(value))

    def from_toml(self, value: Any, key: str, case: str) -> Matrix:
        return tuple(tuple(int(d) for d in row) for row in value)

    def toml(self, value: Matrix) -> str:
        return "[" + ", ".join(_toml_list(row) for row in value) + "]"

    def option(self, value: Matrix) -> str:
        return ";".join(_commas(row) for row in value)

    def shim(self, value: Matrix) -> str:
        return ",".join(str(d) for row in value for d in row)


class Table(Kind[Mapping[str, str]]):
    """A TOML table of its own, of text values."""

    def from_toml(self, value: Any, key: str, case: str) -> Mapping[str, str]:
        return {str(k): str(v) for k, v in value.items()}

    def toml_lines(self, value: Mapping[str, str]) -> list[str]:
        # The TOML writer quotes a key with more than bare-key characters
        # ("unit_map@a530b795861", "modern@5.4") and escapes the values.
        return tomli_w.dumps({str(key): str(text) for key, text in value.items()}).splitlines()

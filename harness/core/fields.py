"""Every field path a comparison reports and a rule may name.

Comparisons flatten a result into dotted paths ("state.last_unit_cpu",
"setup_args.alloc_info.groups[2].cpu_map[5]"); triage entries and declared
changes are written in those paths.  They are defined here, once: the raw
paths come from the result's shape (harness/core/result.py), the derived
ones - what the judge computes from a result to compare two generations by
meaning - are listed below with what each holds.  A rule naming a path
that is not here is refused when its file is loaded, with the closest
known path, so a renamed field cannot silently turn an explained
difference into an unexplained one.

Indices are written [*] here; a rule may write [*] or a number.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from functools import cache
from typing import get_args, get_origin, get_type_hints

from harness.core.errors import UserError
from harness.core.result import BootResult, JsonValue, section_shape

# A result flattened: field path -> value.
Fields = dict[str, JsonValue]

# Fields the judge derives (harness/judge/compare.py), by what they hold.
DERIVED: dict[str, str] = {
    # fields(): the log, split
    "dump": "the pcpu-alloc:/pcpu-lpage: lines, byte for byte",
    "messages": "every other log line, addresses masked",
    "bootmem.vm_areas[*][*]": "each vm area as [size, align]",
    # neutral(): old against new by meaning
    "state.unit_of_cpu[*]": "the unit of each possible cpu",
    "sizes.static_size": "the static size pcpu_setup_first_chunk() was given",
    "sizes.reserved_size": "the reserved size it was given",
    "sizes.dyn_size": "the dynamic size it was given",
    "sizes.unit_size": "the unit size it was given",
    "sizes.base_addr": "the region of the base address",
    "dump.unreadable": "why the dump could not be parsed",
    "dump.format": "alloc or lpage: which dump the kernel printed",
    "dump.sizes[*]": "the dump's static, reserved, dynamic and unit sizes",
    "dump.slots[*]": "the cpu of each unit the dump lists (None: empty)",
    "dump.groups[*]": "the group of each unit the dump lists",
    "build.ok": "whether the lpage layout builder succeeded",
    "build.slots[*]": "the cpu of each unit the builder laid out",
    # cross_generation(): 2009 against today
    "return.ok": "success, whatever the API returns on it",
    "return.errno": "the error returned, if any",
    "attempts[*].ok": "an x86 allocator's success, whatever it returned on it",
    "attempts[*].errno": "the error an x86 allocator returned, if any",
    "state.first_chunk.present": "whether there is a first chunk",
    "state.reserved_chunk.present": "whether there is a reserved chunk",
}

_INDEX = re.compile(r"\[[^\]]*\]")


def normal(path: str) -> str:
    """A path with every index written [*]."""
    return _INDEX.sub("[*]", path)


def _raw_paths(shape: type, prefix: str) -> Iterator[str]:
    for key, hint in get_type_hints(shape).items():
        path = f"{prefix}{key}"
        yield path
        listed = any(get_origin(arg) is list for arg in (hint, *get_args(hint)))
        if listed:
            yield f"{path}[*]"
        sub = section_shape(hint)
        if sub is not None:
            yield from _raw_paths(sub, f"{path}[*]." if listed else f"{path}.")


@cache
def known_paths() -> frozenset[str]:
    """Every nameable path and each of its parents."""
    paths = {*_raw_paths(BootResult, ""), *DERIVED}
    parents = {p[:m.start()] for p in paths for m in re.finditer(r"\.|\[", p)}
    return frozenset(paths | parents)


def _pattern(path: str) -> re.Pattern[str]:
    """A rule's shell pattern over normal paths: '*' is anything, [*] an index."""
    parts = normal(path).split("[*]")
    return re.compile(r"\[\*\]".join(".*".join(map(re.escape, p.split("*"))) for p in parts))


def check_path(path: str, where: str) -> None:
    """Refuse a rule's field path no result can have."""
    known = known_paths()
    if normal(path) in known:
        return
    if "*" in normal(path).replace("[*]", "") and any(_pattern(path).fullmatch(k)
                                                       for k in known):
        return
    close = difflib.get_close_matches(normal(path), sorted(known), n=1, cutoff=0.5)
    hint = f": did you mean '{close[0]}'?" if close else \
        " (the known paths are in harness/core/fields.py)"
    raise UserError(f"{where}: no result has a field '{path}'{hint}")

"""Field-by-field comparison of two results of the shim's shape.

A result is flattened into named fields ("state.nr_units",
"setup_args.alloc_info.groups", ...) holding plain values, after the
normalisations that make two honest results comparable: pointers become
the region they point into, per-cpu arrays keep only possible cpus, the
log is split into the allocation dump (compared byte for byte) and the
other messages (compared with addresses masked).  Fields that describe the
simulation rather than the kernel (timings, the allocator's own metadata
in bootmem, struct sizes) are not compared.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.core import attempts, generation
from harness.core import dumpfmt as dump_format
from harness.core.fields import Fields
from harness.core.klog import DUMP_PREFIXES, split_log
from harness.core.result import BootResult, Build

# Compared fields; a trailing ".*" compares every key below that object.
COMPARED = (
    "outcome.kind",
    "return",
    "attempts",
    "arch.*",
    "dump",
    "messages",
    "setup_args.*",
    "build.*",
    "state.*",
    "static_copies.bad_cpus",
    "static_copies.checked",
    "static_copies.chunk_held",
    "bootmem.fc_allocs",
    "bootmem.fc_alloc_bytes",
    "bootmem.fc_frees",
    "bootmem.fc_free_bytes",
    "bootmem.fc_alloc_bytes_by_node",
    "bootmem.node_bytes",
    "bootmem.bad_free_count",
    "bootmem.vm_areas",
    "bootmem.maps",
    "bootmem.ptes_populated",
)

# Implementation details inside compared objects: the size the kernel
# rounded its own info struct to, the static vm struct, map capacity, the
# first API's pointer to its own page array, the chunk struct's size.
IGNORED = frozenset({
    "setup_args.alloc_info.__ai_size",
    "build.alloc_info.__ai_size",
    "state.first_chunk.vm",
    "state.reserved_chunk.vm",
    "state.first_chunk.map_alloc",
    "state.reserved_chunk.map_alloc",
    "state.first_chunk.page",
    "state.reserved_chunk.page",
    # sizeof(struct pcpu_chunk) and its bitmap: the ABI's and the build
    # configuration's (the shim's is not a distribution kernel's), not the
    # contract's; reported, so a reader can see it.
    "state.chunk_struct_size",
})

# Addresses in messages: '@0x...' after the allocator's banner, the bare
# 16-digit physical addresses of the arch files' debug lines, and a %p
# anywhere else (2009's "Embedded 12 pages at 0x...", where a model says
# which region: "<bootmem>").
_ADDRESS = re.compile(r"@\S+|\b[0-9a-f]{16}\b|\b0x[0-9a-f]{8,}\b|<(?:bootmem|vmalloc)>")
ABSENT = "<absent>"
_POINTER = re.compile(r"^(phys|vmalloc):0x[0-9a-f]+$")


@dataclass(frozen=True)
class Difference:
    field: str
    kernel: Any
    model: Any

    def describe(self) -> str:
        return f"{self.field}: kernel {short(self.kernel)}, model {short(self.model)}"


def short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def region(pointer: Any) -> Any:
    """'phys:0x1000' -> 'phys': models know where a chunk lives, not its address."""
    if isinstance(pointer, str):
        return pointer.split(":", 1)[0]
    return pointer


# Leaf types, tested before the Mapping ABC, whose check is slow: a result
# has a few hundred leaves.
_LEAVES = (str, int, float, list, type(None))


def _flatten_into(out: Fields, prefix: str, value: Any) -> None:
    """Every leaf of `value` under its dotted name, in order, but IGNORED ones."""
    if isinstance(value, _LEAVES) or not isinstance(value, Mapping):
        if prefix not in IGNORED:
            out[prefix] = value
        return
    for key, sub in value.items():
        _flatten_into(out, f"{prefix}.{key}", sub)


def _per_possible(values: Any, possible: list[int]) -> Any:
    if not isinstance(values, list):
        return values
    return [values[cpu] if cpu < len(values) else None for cpu in possible]


def _mask(match: re.Match[str]) -> str:
    return "@ADDR" if match.group(0).startswith("@") else "ADDR"


def fields(result: BootResult) -> Fields:
    """The compared fields of one result."""
    possible = list(result.get("possible", []))
    out: Fields = {}
    outcome = result.get("outcome") or {}
    out["outcome.kind"] = outcome.get("kind")
    if "return" in result:
        out["return"] = result["return"]
    if result.get("log_truncated"):
        out["log_truncated"] = True
    lines = split_log(str(result.get("log", "")))
    out["dump"] = "\n".join(ln.text for ln in lines if ln.text.startswith(DUMP_PREFIXES))
    out["messages"] = "\n".join(
        f"<{ln.level}>{_ADDRESS.sub(_mask, ln.text)}"
        for ln in lines if not ln.text.startswith(DUMP_PREFIXES)
    )
    tried = attempts.result_attempts(result)
    if tried is not None:
        out["attempts"] = tried
    for section in ("setup_args", "build", "state", "arch"):
        if section in result and result[section] is not None:
            _flatten_into(out, section, result[section])
    # Every pointer the shim reports ("phys:0x...") becomes its region.
    for name, value in out.items():
        if isinstance(value, str) and _POINTER.match(value):
            out[name] = region(value)
    # The kernel leaves whatever it likes in the slots of impossible cpus.
    for name in ("state.unit_map", "state.unit_offsets", "arch.unit_offsets"):
        if name in out:
            out[name] = _per_possible(out[name], possible)
    for section, values in (("static_copies", result.get("static_copies")),
                            ("bootmem", result.get("bootmem"))):
        for key, value in (values or {}).items():
            name = f"{section}.{key}"
            if name in COMPARED:
                out[name] = value
    if isinstance(out.get("bootmem.vm_areas"), list):
        out["bootmem.vm_areas"] = [[a["size"], a["align"]] for a in out["bootmem.vm_areas"]]
    return out


def compare(kernel: BootResult, model: BootResult) -> list[Difference]:
    """Every compared field whose values differ, in a stable order."""
    return compare_fields(fields(kernel), fields(model))


def compare_fields(kernel_fields: Fields, model_fields: Fields) -> list[Difference]:
    """compare() on results already reduced to their fields (captured ones, say)."""
    names = sorted(set(kernel_fields) | set(model_fields), key=_field_order)
    if kernel_fields.get("log_truncated") or model_fields.get("log_truncated"):
        # The shim's log filled up: what it kept cannot be compared whole.
        names = [n for n in names if n not in ("dump", "messages", "log_truncated")]
    return [
        Difference(name, kernel_fields.get(name, ABSENT), model_fields.get(name, ABSENT))
        for name in names
        if kernel_fields.get(name, ABSENT) != model_fields.get(name, ABSENT)
    ]


@functools.cache
def _field_order(name: str) -> tuple[int, str]:
    for rank, pattern in enumerate(COMPARED):
        if name == pattern or (pattern.endswith(".*") and name.startswith(pattern[:-1])):
            return rank, name
    return len(COMPARED), name


# ----------------------------------------------------------- across generations

@dataclass(frozen=True)
class Change:
    """A field whose value differs between the old and the new side."""

    field: str
    old: Any
    new: Any

    def describe(self) -> str:
        return f"{self.field}: old {short(self.old)}, new {short(self.new)}"


# A case's kernel and model dumps are often the same text, and each is read
# by both comparisons: parsed once.  Tables are frozen, so sharing one is
# safe; a few, as a 4096-cpu table is large.
_parsed_dump = functools.lru_cache(maxsize=8)(dump_format.parse)


def neutral(result: BootResult, flat: Fields | None = None) -> Fields:
    """A result in terms both API generations share, so old and new compare
    by meaning: sizes wherever the API put them, cpu -> unit for possible
    cpus, the dump parsed into its table, the lpage layout as unit slots.
    `flat` is fields(result), when the caller has it already."""
    flat = fields(result) if flat is None else flat
    out: Fields = {}
    for name, value in flat.items():
        if name.startswith(("outcome.", "return", "messages", "state.", "static_copies.",
                            "bootmem.", "attempts", "arch.")):
            out[name] = value
    possible = list(result.get("possible", []))
    if isinstance(out.get("state.unit_map"), list):
        out["state.unit_of_cpu"] = dict(zip(possible, out.pop("state.unit_map"), strict=True))
    elif "state.unit_size" in out:
        # No map at all (the first API): cpu N's unit is unit N.
        out["state.unit_of_cpu"] = {cpu: cpu for cpu in possible}
    if isinstance(out.get("arch.unit_offsets"), list):
        out["arch.unit_offsets"] = dict(zip(possible, out["arch.unit_offsets"], strict=True))
    args = result.get("setup_args")
    if isinstance(args, Mapping):
        sizes = args.get("alloc_info") or args
        for key in ("static_size", "reserved_size", "dyn_size", "unit_size"):
            out[f"sizes.{key}"] = sizes.get(key)
        out["sizes.base_addr"] = region(args.get("base_addr"))
    if flat.get("dump"):
        try:
            table = _parsed_dump(flat["dump"])
        except dump_format.DumpParseError as err:
            out["dump.unreadable"] = str(err)
        else:
            out["dump.format"] = table.format
            out["dump.sizes"] = [table.static_size, table.reserved_size, table.dyn_size,
                                 table.unit_size]
            out["dump.slots"] = list(table.slots())
            out["dump.groups"] = [u.group for u in table.units]
    else:
        out["dump.format"] = None
    build = result.get("build")
    if isinstance(build, Mapping):
        out.update(_neutral_build(build, int(result.get("nr_cpus", 0))))
    return out


def _neutral_build(build: Build, nr_cpus: int) -> Fields:
    ai = build.get("alloc_info")
    if "alloc_info" in build:
        if not ai:
            return {"build.ok": False}
        slots = [None if c == nr_cpus else c for g in ai["groups"] for c in g["cpu_map"]]
        return {"build.ok": True, "build.unit_size": ai["unit_size"],
                "build.dyn_size": ai["dyn_size"], "build.slots": slots}
    nr_units = int(build.get("return", -1))
    if nr_units < 0:
        return {"build.ok": False}
    by_unit = {u: cpu for cpu, u in enumerate(build.get("unit_map") or []) if u is not None}
    return {"build.ok": True, "build.unit_size": build.get("unit_size"),
            "build.dyn_size": build.get("dyn_size"),
            "build.slots": [by_unit.get(u) for u in range(nr_units)]}


_NUMBER = re.compile(r"\d+")
_LEVEL = re.compile(r"^(<\d>)?(.*)$")


def cross_generation(flat: Fields, renames: Mapping[str, str], dropped: tuple[str, ...]
                     ) -> Fields:
    """A neutral result in the vocabulary two generations share: fields
    renamed and dropped as their specs say (generation.cross_vocabulary()),
    success as a flag (2009 returned the unit size, today 0), the x86
    flow's attempts likewise and without 2009's `chosen` argument, the
    messages as their kinds (prefix case, addresses and numbers aside: the
    sizes are compared on their own), the chunks' presence."""
    out: Fields = {}
    for name, value in flat.items():
        if name.startswith(dropped):
            continue
        out[renames.get(name, name)] = value
    if "return" in out:
        value = out.pop("return")
        out["return.ok"] = _succeeded(value)
        out["return.errno"] = _errno(value)
    if isinstance(out.get("attempts"), list):
        out["attempts"] = [_cross_attempt(a) for a in out["attempts"]]
    if isinstance(out.get("messages"), str):
        out["messages"] = "\n".join(sorted({_message_kind(line)
                                             for line in out["messages"].splitlines()}))
    if any(n.startswith("state.") for n in flat):
        for chunk in ("first_chunk", "reserved_chunk"):
            out[f"state.{chunk}.present"] = any(n.startswith(f"state.{chunk}.") for n in flat)
            out.pop(f"state.{chunk}", None)
    return out


def _succeeded(value: object) -> bool:
    return isinstance(value, int) and value >= 0


def _errno(value: object) -> object:
    return value if isinstance(value, int) and value < 0 else None


def _cross_attempt(attempt: object) -> object:
    """An x86 allocator attempt in the shared vocabulary.  Its return is a
    flag like the setup's: 2009's setup_pcpu_*() returned the unit size,
    today's pcpu_*_first_chunk() 0.  `chosen` goes: it is the argument of
    2009's setup_pcpu_lpage/embed(bool chosen), which today's flow (one
    pcpu_embed_first_chunk() call in setup_per_cpu_areas(), 4518e6a0c03)
    does not have, so it is None on every modern attempt; which allocator
    percpu_alloc= named is compared on its own (arch.percpu_alloc)."""
    if not isinstance(attempt, Mapping):
        return attempt
    out = {k: v for k, v in attempt.items() if k not in ("chosen", "return")}
    if "return" in attempt:
        out["ok"] = _succeeded(attempt["return"])
        out["errno"] = _errno(attempt["return"])
    return out


def _message_kind(line: str) -> str:
    m = _LEVEL.match(line)
    level, text = (m.group(1) or "", m.group(2)) if m else ("", line)
    text = text.replace(" @ADDR", "").replace("PERCPU: ", "percpu: ")
    return level + _NUMBER.sub("N", text)


def compare_sides(old: BootResult, new: BootResult, old_fields: Fields | None = None,
                  new_fields: Fields | None = None) -> list[Change]:
    """Old against new by meaning, element by element.  A 2009 side and a
    modern one compare in the fields both have (cross_generation())."""
    a, b = neutral(old, old_fields), neutral(new, new_fields)
    generations = old.get("generation"), new.get("generation")
    if generation.is_cross_generation(*generations):
        renames, dropped = generation.cross_vocabulary(*generations)
        a, b = cross_generation(a, renames, dropped), cross_generation(b, renames, dropped)
        # A field only one generation has is no change; a section one side
        # lacks altogether (no state after a BUG) shows in the outcome.
        shared = set(a) & set(b)
        a = {k: v for k, v in a.items() if k in shared}
        b = {k: v for k, v in b.items() if k in shared}
    if a.get("dump.format") is None or b.get("dump.format") is None:
        # A dump on one side only is one change, not one per unit.
        for side in (a, b):
            for name in [n for n in side if n.startswith("dump.") and n != "dump.format"]:
                del side[name]
    changes: list[Change] = []
    for name in sorted(set(a) | set(b)):
        changes += [Change(path, x, y) for path, x, y in
                    expand(name, a.get(name, ABSENT), b.get(name, ABSENT))]
    return changes


def expand(path: str, a: Any, b: Any) -> list[tuple[str, Any, Any]]:
    """Differing leaves, with paths like groups[1].cpu_map[3]; lists of
    different lengths differ as a whole, since their elements do not line up."""
    if a == b:
        return []
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"
            out += expand(sub, a.get(key, ABSENT), b.get(key, ABSENT))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += expand(f"{path}[{i}]", x, y)
        return out
    return [(path, a, b)]

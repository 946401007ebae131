"""A real boot's serial log, read: its pcpu lines, what the probe read out
of the kernel, and how the boot ended.

The probe answers in bytes; the types here are those mm/percpu.c declares
for 6.x (int counts and sizes, unsigned int cpus, unsigned long offsets,
size_t sizes, pointers) on a 64-bit little-endian machine.  A kernel whose
variable is missing leaves the field out, which the comparison shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.core.case_kinds import parse_cpu_list
from harness.core.errors import UserError
from harness.core.result import BootResult, Outcome, State

_MAX_NODES = 16
# (probe request, State key or None, element size, signed)
_VALUES = (
    ("val nr_cpu_ids 4", None, 4, False),
    ("val pcpu_nr_units 4", "nr_units", 4, True),
    ("val pcpu_unit_pages 4", "unit_pages", 4, True),
    ("val pcpu_unit_size 4", "unit_size", 4, True),
    ("val pcpu_nr_slots 4", "nr_slots", 4, True),
    ("val pcpu_low_unit_cpu 4", "low_unit_cpu", 4, False),
    ("val pcpu_high_unit_cpu 4", "high_unit_cpu", 4, False),
    ("val pcpu_atom_size 4", "atom_size", 4, True),
    ("val pcpu_nr_groups 4", "nr_groups", 4, True),
    ("val pcpu_base_addr 8", None, 8, False),
    ("val pcpu_first_chunk 8", None, 8, False),
    ("val pcpu_reserved_chunk 8", None, 8, False),
    ("arr pcpu_unit_map nr_cpu_ids 4", "unit_map", 4, True),
    ("arr pcpu_unit_offsets nr_cpu_ids 8", "unit_offsets", 8, False),
    ("arr pcpu_group_offsets pcpu_nr_groups 8", "group_offsets", 8, False),
    ("arr pcpu_group_sizes pcpu_nr_groups 8", "group_sizes", 8, False),
    ("pcpu numa_node 4 nr_cpu_ids", None, 4, True),
)
_FILES = ("/sys/devices/system/cpu/possible", "/sys/devices/system/node/online",
          *(f"/sys/devices/system/node/node{n}/distance" for n in range(_MAX_NODES)))
# x86-64's vmalloc area starts here with 4-level paging (and above it with 5)
_VMALLOC_START = 0xFFFFC90000000000
_CHUNK_SPAN = 512  # a chunk's list_head lies within its first bytes
_TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")
_NODE_RANGE = re.compile(r"^\s+node\s+(\d+): \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\]$")
_PCPU_LINE = ("percpu:", "pcpu-alloc:", "pcpu-lpage:")


def requests() -> list[str]:
    return [r for r, *_ in _VALUES] + ["list pcpu_chunk_lists pcpu_nr_slots"] + \
        [f"file {path}" for path in _FILES]


@dataclass
class RealBoot:
    """A boot, read.  outcome: ok, panic, timeout or harness (no probe)."""

    outcome: str
    message: str = ""
    lines: list[str] = field(default_factory=list)  # percpu:/pcpu-alloc: lines
    state: State = field(default_factory=State)
    possible: list[int] = field(default_factory=list)
    cpu_node: list[int] = field(default_factory=list)  # of each possible cpu
    distance: list[list[int]] = field(default_factory=list)  # between online nodes
    online_nodes: list[int] = field(default_factory=list)
    # Each node's memory, from the boot log's "Early memory node ranges"
    # (end exclusive): the kernel numbers nodes in the order the firmware's
    # SRAT names them, not in the order of their memory.
    node_ranges: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    base_region: str | None = None  # "phys" (direct map) or "vmalloc"
    first_chunk_listed: bool | None = None  # on one of the chunk slot lists
    missing: list[str] = field(default_factory=list)  # what the probe could not read


def read(serial: str, timed_out: bool) -> RealBoot:
    lines = [_TIMESTAMP.sub("", raw.rstrip("\r")) for raw in serial.splitlines()]
    answers = {parts[1] + " " + parts[2]: parts[3] if len(parts) > 3 else ""
               for parts in (ln.split(" ", 3) for ln in lines if ln.startswith("percpu-probe: "))
               if len(parts) > 2}
    boot = RealBoot(_outcome(lines, answers, timed_out))
    boot.lines = [ln for ln in lines if ln.startswith(_PCPU_LINE)]
    for match in filter(None, map(_NODE_RANGE.match, lines)):
        boot.node_ranges.setdefault(int(match.group(1)), []).append(
            (int(match.group(2), 16), int(match.group(3), 16) + 1))
    if boot.outcome != "ok":
        boot.message = _panic_message(lines) or ("no answer from the probe" if not timed_out
                                                  else "timed out")
        return boot
    _decode(boot, answers)
    return boot


def _outcome(lines: list[str], answers: dict[str, str], timed_out: bool) -> str:
    if any("Kernel panic" in ln for ln in lines):
        return "panic"
    if "done " in answers or any(ln == "percpu-probe: done" for ln in lines):
        return "ok"
    return "timeout" if timed_out else "harness"


def _panic_message(lines: list[str]) -> str:
    return next((ln for ln in lines if "Kernel panic" in ln), "")


def _numbers(hexed: str, size: int, signed: bool) -> list[int] | None:
    if not re.fullmatch(r"(?:[0-9a-f]{2})+", hexed) or len(hexed) % (2 * size):
        return None
    raw = bytes.fromhex(hexed)
    return [int.from_bytes(raw[i:i + size], "little", signed=signed)
            for i in range(0, len(raw), size)]


def _decode(boot: RealBoot, answers: dict[str, str]) -> None:
    got: dict[str, list[int]] = {}
    for request, key, size, signed in _VALUES:
        kind, name = request.split()[:2]
        values = _numbers(answers.get(f"{kind} {name}", ""), size, signed)
        if values is None:
            boot.missing.append(name)
            continue
        got[name] = values
        if key is not None:
            boot.state[key] = values if kind == "arr" else values[0]  # type: ignore[literal-required]
    boot.possible = _sysfs_list(answers.get("file /sys/devices/system/cpu/possible", ""))
    boot.online_nodes = _sysfs_list(answers.get("file /sys/devices/system/node/online", ""))
    boot.distance = [[int(v) for v in answers.get(
        f"file /sys/devices/system/node/node{n}/distance", "").split()]
        for n in boot.online_nodes]
    nodes = got.get("numa_node", [])
    boot.cpu_node = [nodes[cpu] for cpu in boot.possible if cpu < len(nodes)]
    if "pcpu_base_addr" in got:
        boot.base_region = "vmalloc" if got["pcpu_base_addr"][0] >= _VMALLOC_START else "phys"
    chunk = got.get("pcpu_first_chunk", [0])[0]
    lists = answers.get("list pcpu_chunk_lists")
    if lists is None or not chunk:
        boot.missing.append("pcpu_chunk_lists")
    else:
        boot.first_chunk_listed = _slot_of(lists, chunk) is not None


def _slot_of(lists: str, chunk: int) -> int | None:
    """The slot whose list holds an entry within the chunk's first bytes."""
    for slot, entries in enumerate(lists.split("/")):
        for entry in filter(None, entries.split(",")):
            if 0 <= int(entry, 16) - chunk < _CHUNK_SPAN:
                return slot
    return None


def _sysfs_list(text: str) -> list[int]:
    """A sysfs cpulist ("0-3,8"); empty when the probe did not read one."""
    try:
        return list(parse_cpu_list(text))
    except UserError:
        return []



def as_result(boot: RealBoot, name: str, source: str, nr_cpus: int) -> BootResult:
    """The boot in the shim's shape (harness/core/result.py)."""
    outcome: Outcome = {"kind": boot.outcome}
    if boot.message:
        outcome["message"] = boot.message
    state: State = dict(boot.state)  # type: ignore[assignment]  # same keys
    if boot.base_region is not None:
        state["base_addr"] = boot.base_region
    return {"id": name, "case": name, "outcome": outcome, "log": "\n".join(boot.lines),
            "possible": boot.possible, "nr_cpus": nr_cpus, "page_size": 4096,
            "source": source, "state": state if boot.outcome == "ok" else None}

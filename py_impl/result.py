"""A model's boot result, in the shape the shim reports.

Only what a model can know from the contract is filled in: no pointers
other than which region the first chunk lives in, no bootmem bookkeeping
of the allocator's own metadata, no timings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.core.generation import SLOT_LISTS_FACT, GenerationName
from harness.core.result import (
    ArchInfo,
    Attempt,
    BootResult,
    Build,
    Outcome,
    SetupArgs,
    State,
    StaticCopies,
)
from py_impl.first_chunk import FirstChunkState
from py_impl.machine import BootRecord, ModelBug


@dataclass
class Boot:
    """Sections of the result that the scenario fills in as it goes."""

    record: BootRecord
    setup_args: SetupArgs | None = None
    build: Build | None = None
    # The 2009 generations' state, reported when the boot ends well; the
    # modern generation writes its sections itself.
    state: FirstChunkState | None = None
    modern_state: State | None = None
    static_copies: StaticCopies | None = None
    returned: int | None = None
    # False for flows whose entry point returns nothing (an arch's
    # setup_per_cpu_areas()): the result then has no "return".
    reports_return: bool = True
    # What the arch flows add: the allocators they tried, what they left.
    attempts: list[Attempt] | None = None
    arch: ArchInfo | None = None
    # The revision's size parameters by macro name (run_model()).
    constants: dict[str, int] = field(default_factory=dict)


def result_json(generation: GenerationName, boot: Boot, bug: ModelBug | None) -> BootResult:
    machine = boot.record.machine
    case = machine.case
    out: BootResult = {
        "id": case.name,
        "generation": generation,
        "nr_cpus": case.nr_cpus,
        "page_size": case.page_size,
        "outcome": _outcome(bug),
        "log": boot.record.log_text(),
        "log_truncated": False,
    }
    if boot.build is not None:
        out["build"] = boot.build
    if boot.setup_args is not None:
        out["setup_args"] = boot.setup_args
    if boot.returned is not None and bug is None and boot.reports_return:
        out["return"] = boot.returned
    if boot.state is not None and bug is None:
        out["state"] = boot.state.to_json(machine)
        out["static_copies"] = {
            "bad_cpus": [],
            "checked": machine.nr_possible,
            "chunk_held": boot.record.chunk_held,
        }
    if boot.modern_state is not None:
        out["state"] = boot.modern_state
    state = out.get("state")
    if state and not boot.constants.get(SLOT_LISTS_FACT, 1):
        out["state"] = _without_slots(state)
    if boot.static_copies is not None:
        out["static_copies"] = boot.static_copies
    if boot.attempts is not None:
        out["attempts"] = boot.attempts
    if boot.arch is not None:
        out["arch"] = boot.arch
    out["bootmem"] = boot.record.bootmem_json()
    out["case"] = case.name
    out["possible"] = list(case.possible)
    out["source"] = f"model:{generation}"
    return out


def _without_slots(state: State) -> State:
    """The state of a revision that keeps no chunk slot lists the glue can
    read (harness/core/generation.py slot_lists()): no chunk's slot."""
    return {key: value for key, value in state.items()  # type: ignore[return-value]
            if key not in ("first_chunk_slot", "reserved_chunk_slot")}


def _outcome(bug: ModelBug | None) -> Outcome:
    if bug is None:
        return {"kind": "ok"}
    if bug.kind == "panic":
        return {"kind": "panic", "message": bug.check}
    return {"kind": bug.kind, "check": bug.check}

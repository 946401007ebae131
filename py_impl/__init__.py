"""Independent Python models of the percpu first-chunk API generations.

Written from the documented contract (kernel-doc comments, the comments on
the variables, the seed patch's commit message), never from the C: a model
that copied the code would copy its mistakes.  Each model boots a case the
way the shim does and returns a result of the shim's shape, so the two can
be compared field by field (harness/compare.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from harness.core.cases import Case
from harness.core.errors import UserError
from harness.core.result import BootResult
from py_impl import alloc_info, arch_flows, modern, unit_map
from py_impl.machine import BootRecord, Machine, ModelBug
from py_impl.result import Boot, result_json

Scenario = Callable[[Boot], int]

# The 2009 generations also model the arch flows, which call the
# generation's own allocators.
MODELS: Mapping[str, Mapping[str, Scenario]] = {
    unit_map.GENERATION: {**unit_map.SCENARIOS, **arch_flows.flows(unit_map.GENERATION)},
    alloc_info.GENERATION: {**alloc_info.SCENARIOS, **arch_flows.flows(alloc_info.GENERATION)},
    modern.GENERATION: modern.SCENARIOS,
}


def run_model(generation: str, case: Case,
              constants: Mapping[str, int] | None = None) -> BootResult:
    """Boot `case` in the model of `generation`; the result has the shim's shape.
    `constants` are the revision's size parameters (PERCPU_DYNAMIC_EARLY_SIZE
    and the like, as the shim reports them), for models whose generation
    spans revisions that set them differently."""
    scenarios = MODELS.get(generation)
    if scenarios is None:
        raise UserError(f"no model for generation '{generation}': use one of "
                        f"{', '.join(MODELS)}")
    scenario = scenarios.get(case.scenario)
    if scenario is None:
        raise UserError(f"the {generation} model has no scenario '{case.scenario}'")
    boot = Boot(BootRecord(Machine(case)), constants=dict(constants or {}))
    bug: ModelBug | None = None
    try:
        boot.returned = scenario(boot)
    except ModelBug as err:
        bug = err
    return result_json(generation, boot, bug)

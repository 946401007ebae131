"""Independent Python models of the percpu first-chunk API generations.

Written from the documented contract (kernel-doc comments, the comments on
the variables, the seed patch's commit message), never from the C: a model
that copied the code would copy its mistakes.  Each model boots a case the
way the shim does and returns a result of the shim's shape, so the two can
be compared field by field (harness/judge/compare.py).

Each API generation's spec (harness/core/generations/) names the model
that judges it: the module py_impl/<model>.py, whose SCENARIOS maps
scenario names to functions of a Boot.  The registry below is built from
the specs, so a new generation's model needs no edit here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

from harness.core.cases import Case
from harness.core.errors import UserError
from harness.core.generation import GenerationName, GenerationSpec, all_specs
from harness.core.generations._bitmap_eras import BITMAP_CHUNKS
from harness.core.result import BootResult
from py_impl import arch_flows, arch_numa, arch_x86
from py_impl.machine import BootRecord, Machine, ModelBug
from py_impl.result import Boot, result_json

Scenario = Callable[[Boot], int]


def _scenarios(spec: GenerationSpec) -> Mapping[str, Scenario]:
    """The model's scenarios, and the arch flows of a generation that has
    them (they call the generation's own allocators)."""
    module = importlib.import_module(f"{__name__}.{spec.model}")
    scenarios: Mapping[str, Scenario] | None = getattr(module, "SCENARIOS", None)
    if scenarios is None:
        raise ImportError(f"py_impl/{spec.model}.py, the model of the {spec.name} generation, "
                          "defines no SCENARIOS")
    flows = {**arch_flows.flows(spec.name), **arch_x86.flows(spec.name),
             **arch_numa.flows(spec.name)}
    return {**scenarios, **{name: flows[name] for name in spec.arch_flows}}


# Generation name -> scenario -> model, for every generation's spec.
MODELS: Mapping[GenerationName, Mapping[str, Scenario]] = {
    spec.name: _scenarios(spec) for spec in all_specs()
}


# The model of the bitmap chunk allocator (4.14 on), which also judges the
# scenarios of the revisions that had it under an older signature (4.14 -
# 5.2, alloc_info): their facts say so (BITMAP_CHUNKS).  The generic
# scenarios and the arch flows both: x86's setup_per_cpu_areas() of those
# revisions calls the same allocators the generic scenarios do.
BITMAP_GENERATION = GenerationName("modern")


def _scenario(generation: GenerationName, name: str,
              constants: Mapping[str, int]) -> Scenario | None:
    if constants.get(BITMAP_CHUNKS):
        bitmap = MODELS[BITMAP_GENERATION]
        if name in bitmap and name in MODELS[generation]:
            return bitmap[name]
    return MODELS[generation].get(name)


def run_model(generation: GenerationName, case: Case,
              constants: Mapping[str, int] | None = None) -> BootResult:
    """Boot `case` in the model of `generation`; the result has the shim's shape.
    `constants` are the revision's size parameters (PERCPU_DYNAMIC_EARLY_SIZE
    and the like, as the shim reports them), for models whose generation
    spans revisions that set them differently."""
    scenarios = MODELS.get(generation)
    if scenarios is None:
        raise UserError(f"no model for generation '{generation}': use one of "
                        f"{', '.join(MODELS)}")
    scenario = _scenario(generation, case.scenario, constants or {})
    if scenario is None:
        raise UserError(f"the {generation} model has no scenario '{case.scenario}'")
    boot = Boot(BootRecord(Machine(case)), constants=dict(constants or {}))
    bug: ModelBug | None = None
    try:
        boot.returned = scenario(boot)
    except ModelBug as err:
        bug = err
    return result_json(generation, boot, bug)

"""What an API generation of mm/percpu.c means, in one place per generation.

pcpu_setup_first_chunk() changed its signature as the allocator grew; each
signature is a generation, and code of one generation needs glue, state
reporting and a model of its own.  A GenerationSpec holds all of it: how
the generation is recognised, the functions each scenario starts from and
what a generation that dropped a scenario runs instead, the variables and
constants a boot reports, how the glue calls its entry points, the field
names its results use, its arch flows, and the model that judges it.

Each generation is one module in harness/core/generations/ that defines
SPEC; the registry finds them there, so adding a generation edits nothing
else in the harness (its model registers in py_impl the same way).
"""

from __future__ import annotations

import difflib
import functools
import importlib
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NewType, Protocol

from harness.core.cases import ARCH_SCENARIOS, GENERIC_SCENARIOS
from harness.core.errors import UserError

# A generation's name as results, rule files and the shim spell it
# ("unit_map", "alloc_info", "modern"): a str that came from a spec.
GenerationName = NewType("GenerationName", str)

# Detection: does a pcpu_setup_first_chunk() returning this C type and
# taking parameters of these C types (as written, typedefs intact) belong
# to the generation?
Detects = Callable[[str, tuple[str, ...]], bool]

SPEC_PACKAGE = "harness.core.generations"

# The arrays of chunk slot lists, by the name a revision declares them
# under: pcpu_slot[] from 2009, pcpu_chunk_lists[] from 5.9 on (until 5.14
# one run of pcpu_nr_slots lists per chunk type); chunks are kept on them
# by free size.  Every kernel since 2009 has one; the glue reports which
# list holds each chunk, and the fact tells a model whether the revision
# has lists to report (an invented fixture kernel may not).
SLOT_LISTS = ("pcpu_chunk_lists", "pcpu_slot")
SLOT_COUNT = "pcpu_nr_slots"
SLOT_LISTS_FACT = "chunk_slot_lists"


def slot_lists(defines: Callable[[str], bool]) -> str | None:
    """The name of a revision's array of chunk slot lists, None if it has
    none (or no count of them)."""
    if not defines(SLOT_COUNT):
        return None
    return next((name for name in SLOT_LISTS if defines(name)), None)


class SpecError(Exception):
    """A generation spec contradicts itself or the harness (a bug in the spec)."""


@dataclass(frozen=True)
class ScenarioSpec:
    """How one scenario runs in a generation.

    `roots` must all be defined for a revision to have the scenario; the
    extraction follows them.  The glue either calls `entry` with arguments
    picked by meaning (EntryArgs), or includes the template fragment
    `driver` (under harness/templates/), which drives the scenario itself.
    """

    roots: tuple[str, ...]
    entry: str | None = None
    driver: str | None = None
    # What runs the scenario in a revision that lacks some of `roots` (an
    # allocator that came later, where the glue drives the setup itself as
    # the arch code of the time did); tried in turn, as this one is.
    fallback: ScenarioSpec | None = None

    def chain(self) -> tuple[ScenarioSpec, ...]:
        """This way of running the scenario and every fallback, in order."""
        return (self, *(self.fallback.chain() if self.fallback is not None else ()))

    def chosen(self, has_definition: Callable[[str], bool]) -> ScenarioSpec | None:
        """The first way whose roots a revision all defines, None if none."""
        return next((way for way in self.chain()
                     if all(has_definition(root) for root in way.roots)), None)


def called(function: str) -> ScenarioSpec:
    """A scenario that is one call of `function`."""
    return ScenarioSpec((function,), entry=function)


class RevisionView(Protocol):
    """What a spec's `facts` may ask of a revision's source: whether it
    defines a name, the parameters a function takes ((type, name) pairs, as
    written; None if it is not defined), the type it returns (None if it
    is not defined), the names a function uses, whether its text holds a
    string (a message's format, say) and the fields a struct declares
    (None if it is not declared)."""

    def defines(self, name: str) -> bool: ...

    def params(self, function: str) -> tuple[tuple[str, str], ...] | None: ...

    def returns(self, function: str) -> str | None: ...

    def uses(self, function: str, name: str) -> bool: ...

    def fields(self, struct: str) -> tuple[str, ...] | None: ...

    def says(self, function: str, text: str) -> bool: ...


# Facts of a revision its model needs where a generation's signatures and
# documented behaviour changed from one revision to the next: fact -> value,
# reported with the constants.
Facts = Callable[[RevisionView], Mapping[str, int]]


@dataclass(frozen=True)
class EntryArgs:
    """What the glue hands an entry point, by parameter type (callbacks) or
    by how the parameter's name starts (sizes): signatures changed over the
    years, the meaning of each parameter did not."""

    callbacks: Mapping[str, str]  # C type named in the parameter -> shim function
    sizes: Mapping[str, str]  # name prefix -> field of the case (c->...)
    # dyn_size where the parameter is unsigned: that API has no "auto" (-1),
    # so the kernel's own default stands in.
    unsigned_dyn_size: str
    # Parameters no case field answers, by name prefix -> the C expression
    # passed (an allocator's unit_size left to its "auto").
    fixed: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class GenerationSpec:
    name: GenerationName
    # "YYYY-MM" the signature appeared (or "YYYY-MM-DD", for two of one
    # month): orders the registry, oldest first.
    since: str
    # The signature in words, for the message when no generation matches.
    shape: str
    detects: Detects
    # Structs whose fields results report (in the order the glue emits
    # their serializers), and those the generation cannot do without.
    structs: tuple[str, ...]
    required_structs: tuple[str, ...]
    scenarios: Mapping[str, ScenarioSpec]
    # Scenario -> the one that took over its job, for revisions without it.
    successors: Mapping[str, str]
    # Variables pcpu_setup_first_chunk() leaves, reported after every boot
    # (those a revision defines), and which of them are arrays counted by
    # what expression.
    state_variables: tuple[str, ...]
    array_state: Mapping[str, str]
    # Size parameters a revision sets, reported as "constants" for models.
    constants: tuple[str, ...]
    entry_args: EntryArgs
    # Template fragment recording what pcpu_setup_first_chunk() is handed.
    setup_args_glue: str
    # mm/percpu.c's own first chunk callbacks, counted like the shim's.
    counted_functions: tuple[str, ...]
    # The arch flows (setup_per_cpu_areas() of an arch file) built for it.
    arch_flows: tuple[str, ...]
    # Generations of one vocabulary name result fields alike; across
    # vocabularies results compare only in the fields both have, after
    # `cross_renames` (older names -> this one's) and without the fields
    # starting with `cross_dropped`, whose meaning changed.
    vocabulary: str
    # The py_impl model judging it: the module py_impl/<model>.py.
    model: str
    cross_renames: Mapping[str, str] = field(default_factory=dict)
    cross_dropped: tuple[str, ...] = ()
    facts: Facts | None = None
    # The function the first chunk is set up by, whose signature `detects`
    # is asked about (pcpu_setup_static() until February 2009).
    setup_function: str = "pcpu_setup_first_chunk"

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise SpecError(f"generation spec '{self.name}': {'; '.join(problems)}")



def _closest(name: str, known: tuple[str, ...]) -> str:
    near = difflib.get_close_matches(name, known, n=1)
    return f" (known: {', '.join(known)}{f'; did you mean {near[0]!r}?' if near else ''})"


def _scenario_problems(spec: GenerationSpec) -> list[str]:
    problems: list[str] = []
    for name, scenario in spec.scenarios.items():
        if name not in GENERIC_SCENARIOS:
            problems.append(f"scenario '{name}' is unknown{_closest(name, GENERIC_SCENARIOS)}")
        for way in scenario.chain():
            problems += _way_problems(name, way)
    own = tuple(spec.scenarios)
    for dropped, successor in spec.successors.items():
        if dropped not in GENERIC_SCENARIOS:
            problems.append(f"successor of unknown scenario '{dropped}'"
                            f"{_closest(dropped, GENERIC_SCENARIOS)}")
        if successor not in own:
            problems.append(f"'{dropped}' runs on '{successor}', a scenario the generation "
                            f"does not have{_closest(successor, own)}")
    return problems


def _way_problems(name: str, way: ScenarioSpec) -> list[str]:
    """What is wrong with one way of running scenario `name`."""
    problems: list[str] = []
    if not way.roots:
        problems.append(f"scenario '{name}' has no roots")
    if (way.entry is None) == (way.driver is None):
        problems.append(f"scenario '{name}' needs either an entry point or a driver")
    if way.entry is not None and way.entry not in way.roots:
        problems.append(f"scenario '{name}' calls {way.entry}() but does not "
                        "extract it (not among its roots)")
    return problems


def _problems(spec: GenerationSpec) -> list[str]:
    problems = _scenario_problems(spec)
    if not re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", spec.since):
        problems.append(f"since '{spec.since}' is not YYYY-MM")
    for flow in spec.arch_flows:
        if flow not in ARCH_SCENARIOS:
            problems.append(f"arch flow '{flow}' is unknown{_closest(flow, ARCH_SCENARIOS)}")
    problems += [f"required struct {tag} is not among its structs"
                 for tag in spec.required_structs if tag not in spec.structs]
    problems += [f"array {var} is not among its state variables"
                 for var in spec.array_state if var not in spec.state_variables]
    return problems


# ----------------------------------------------------------------- the registry

@functools.cache
def all_specs() -> tuple[GenerationSpec, ...]:
    """Every generation, oldest first."""
    return discover(SPEC_PACKAGE)


def discover(package_name: str) -> tuple[GenerationSpec, ...]:
    """The SPEC of every module of a package, oldest first; a module whose
    name starts with '_' holds no spec."""
    package = importlib.import_module(package_name)
    found: list[GenerationSpec] = []
    for module_info in pkgutil.iter_modules(package.__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package_name}.{module_info.name}")
        spec = getattr(module, "SPEC", None)
        if not isinstance(spec, GenerationSpec):
            raise SpecError(f"{module.__name__} defines no SPEC (a GenerationSpec)")
        if spec.name != module_info.name:
            raise SpecError(f"{module.__name__} defines the spec of '{spec.name}': name "
                            "the module after its generation")
        found.append(spec)
    return tuple(sorted(found, key=lambda s: (s.since, s.name)))


def names() -> tuple[GenerationName, ...]:
    return tuple(spec.name for spec in all_specs())


def find(name: object) -> GenerationSpec | None:
    """The spec called `name`, None for anything else (a result without one)."""
    return next((spec for spec in all_specs() if spec.name == name), None)


def named(name: str) -> GenerationSpec:
    spec = find(name)
    if spec is None:
        raise UserError(f"unknown API generation '{name}': use one of {', '.join(names())}")
    return spec


# The vocabulary of a result that names no known generation (one the
# harness wrote itself when a shim failed): that of the oldest generation,
# which the neutral form of a result is written in.
def _vocabulary(name: object) -> str:
    spec = find(name)
    return spec.vocabulary if spec is not None else all_specs()[0].vocabulary


def is_cross_generation(old: object, new: object) -> bool:
    """Whether results of generations `old` and `new` name their fields
    differently, so that they compare only in the fields both have."""
    return old != new and _vocabulary(old) != _vocabulary(new)


def cross_vocabulary(old: object, new: object) -> tuple[dict[str, str], tuple[str, ...]]:
    """Renames and dropped field prefixes for comparing `old` with `new`
    across vocabularies: what either generation declares."""
    renames: dict[str, str] = {}
    dropped: tuple[str, ...] = ()
    for spec in (find(old), find(new)):
        if spec is not None:
            renames.update(spec.cross_renames)
            dropped += tuple(p for p in spec.cross_dropped if p not in dropped)
    return renames, dropped

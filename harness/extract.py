"""Pick the code a scenario needs out of mm/percpu.c and linux/percpu.h.

Starting from the entry points of the scenarios, follow every identifier to
the top-level item of either file that defines it, transitively, and keep
the items in source order, verbatim.  Whatever is referenced but defined in
neither file must come from the shim's stub headers; the build reports any
that are missing by name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from harness import ctext
from harness.errors import UserError

PERCPU_C = "mm/percpu.c"
PERCPU_H = "include/linux/percpu.h"

# Entry points per API generation and scenario.  A scenario whose functions
# are absent from a revision is simply not built into its shim.
SCENARIO_ROOTS: dict[str, dict[str, tuple[str, ...]]] = {
    "unit_map": {
        "embed": ("pcpu_embed_first_chunk",),
        "page": ("pcpu_page_first_chunk",),
        "lpage": ("pcpu_lpage_build_unit_map", "pcpu_lpage_first_chunk"),
    },
    "alloc_info": {
        "embed": ("pcpu_embed_first_chunk",),
        "page": ("pcpu_page_first_chunk",),
        "lpage": (
            "pcpu_build_alloc_info",
            "pcpu_lpage_first_chunk",
            "pcpu_free_alloc_info",
        ),
    },
}

# Arch flows: the arch file that sets up the percpu areas, built into a
# translation unit of its own (as in the kernel: its statics may clash with
# mm/percpu.c's, x86's pcpul_map() with the lpage allocator's pcpul_map).
ARCH_FILES = {
    "x86": "arch/x86/kernel/setup_percpu.c",
    "sparc64": "arch/sparc/kernel/smp_64.c",
}
# __per_cpu_offset is only ever named through the per_cpu_offset() macro.
ARCH_ROOTS = ("setup_per_cpu_areas", "__per_cpu_offset")
# mm/percpu.c items the glue of an arch flow calls itself: the percpu_alloc=
# boot parameter is read with the kernel's own parser, on every arch.
ARCH_GLUE_ROOTS = {arch: ("percpu_alloc_setup", "pcpu_chosen_fc", "pcpu_fc_names")
                   for arch in ARCH_FILES}

# The state pcpu_setup_first_chunk() leaves, reported after every boot
# (the variables a revision has).
STATE_VARIABLES = (
    "pcpu_unit_map",
    "pcpu_first_unit_cpu",
    "pcpu_last_unit_cpu",
    "pcpu_nr_units",
    "pcpu_unit_pages",
    "pcpu_unit_size",
    "pcpu_chunk_size",
    "pcpu_nr_slots",
    "pcpu_first_chunk",
    "pcpu_reserved_chunk",
    "pcpu_reserved_chunk_limit",
    "pcpu_base_addr",
)
# Always needed: the shim wraps the setup function and reads the state.
COMMON_ROOTS = ("pcpu_setup_first_chunk", *STATE_VARIABLES)


@dataclass(frozen=True)
class Extraction:
    """The verbatim items a shim is built from."""

    header_items: tuple[ctext.Item, ...]
    source_items: tuple[ctext.Item, ...]
    scenarios: tuple[str, ...]
    missing_roots: tuple[str, ...]
    includes: tuple[str, ...]

    def functions(self) -> dict[str, ctext.Item]:
        """Function definitions by name (the unit of byte-for-byte comparison)."""
        return {
            item.name: item
            for item in self.source_items + self.header_items
            if item.kind == "function"
        }

    def defined(self) -> frozenset[str]:
        names: set[str] = set()
        for item in self.header_items + self.source_items:
            names |= item.names
        return frozenset(names)

    def has_function(self, name: str) -> bool:
        return name in self.functions()


@dataclass(frozen=True)
class ArchExtraction:
    """The items of an arch file reached from setup_per_cpu_areas()."""

    arch: str
    path: str
    items: tuple[ctext.Item, ...]
    includes: tuple[str, ...]
    # Every identifier those items use that the arch file does not define:
    # mm/percpu.c's share of them is extracted and, for functions, traced.
    references: frozenset[str]


def extract_arch(arch_file: ctext.SourceFile, arch: str) -> ArchExtraction:
    """setup_per_cpu_areas() and the arch file's items it reaches, in source order."""
    defined = _definitions(arch_file.items)
    if not any(it.kind == "function" for it in defined.get("setup_per_cpu_areas", [])):
        raise UserError(f"{arch_file.path} defines no setup_per_cpu_areas(): the {arch} flow "
                        "needs a revision that has it")
    reached = _closure(set(ARCH_ROOTS), defined, {})
    items = tuple(it for it in arch_file.items if id(it) in reached)
    refs: set[str] = set()
    own: set[str] = set()
    for item in items:
        refs |= item.refs
        own |= item.names
    # A name the arch file defines is its own (x86's pcpul_map() is not the
    # lpage allocator's pcpul_map).
    return ArchExtraction(
        arch=arch,
        path=arch_file.path,
        items=items,
        includes=tuple(_clean_include(i) for i in arch_file.includes),
        references=frozenset(refs - own),
    )


def item_digest(item: ctext.Item) -> str:
    return hashlib.sha256(item.text.encode()).hexdigest()[:16]


def parse_files(percpu_c: str, percpu_h: str) -> tuple[ctext.SourceFile, ctext.SourceFile]:
    return ctext.split(percpu_c, PERCPU_C), ctext.split(percpu_h, PERCPU_H)


def extract(
    c_file: ctext.SourceFile,
    h_file: ctext.SourceFile,
    generation: str,
    scenarios: Iterable[str] | None = None,
    extra_roots: Iterable[str] = (),
) -> Extraction:
    """Items reached from the scenario entry points, in source order."""
    roots_by_scenario = SCENARIO_ROOTS.get(generation)
    if roots_by_scenario is None:
        raise UserError(f"no scenarios are known for API generation '{generation}'")
    wanted = list(scenarios) if scenarios is not None else list(roots_by_scenario)
    for name in wanted:
        if name not in roots_by_scenario:
            known = ", ".join(roots_by_scenario)
            raise UserError(f"unknown scenario '{name}': choose one of {known}")

    defined_in_c = _definitions(c_file.items)
    defined_in_h = _definitions(h_file.items)

    def has_definition(name: str) -> bool:
        return any(
            it.kind == "function" for it in defined_in_c.get(name, []) + defined_in_h.get(name, [])
        )

    available: list[str] = []
    missing: list[str] = []
    roots: set[str] = set()
    for scenario in wanted:
        scenario_roots = roots_by_scenario[scenario]
        absent = [r for r in scenario_roots if not has_definition(r)]
        if absent:
            missing.extend(absent)
            continue
        available.append(scenario)
        roots.update(scenario_roots)
    roots.update(r for r in COMMON_ROOTS if r in defined_in_c or r in defined_in_h)
    roots.update(r for r in extra_roots if r in defined_in_c or r in defined_in_h)

    reached = _closure(roots, defined_in_c, defined_in_h)
    return Extraction(
        header_items=tuple(it for it in h_file.items if id(it) in reached),
        source_items=tuple(it for it in c_file.items if id(it) in reached),
        scenarios=tuple(available),
        missing_roots=tuple(sorted(set(missing))),
        includes=tuple(_clean_include(i) for i in c_file.includes),
    )


def _clean_include(spec: str) -> str:
    spec = spec.split("/*")[0].split("//")[0].strip()
    return spec


def _definitions(items: Iterable[ctext.Item]) -> dict[str, list[ctext.Item]]:
    table: dict[str, list[ctext.Item]] = {}
    for item in items:
        for name in item.names:
            table.setdefault(name, []).append(item)
    return table


def _closure(
    roots: set[str],
    defined_in_c: dict[str, list[ctext.Item]],
    defined_in_h: dict[str, list[ctext.Item]],
) -> set[int]:
    reached: set[int] = set()
    seen_names: set[str] = set()
    work = list(roots)
    while work:
        name = work.pop()
        if name in seen_names:
            continue
        seen_names.add(name)
        for item in defined_in_c.get(name, []) + defined_in_h.get(name, []):
            if id(item) in reached:
                continue
            reached.add(id(item))
            work.extend(item.refs - seen_names)
    return reached

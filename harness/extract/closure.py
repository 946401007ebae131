"""Pick the code a scenario needs out of mm/percpu.c and linux/percpu.h.

Starting from the entry points of the scenarios, follow every identifier to
the top-level item of either file that defines it, transitively, and keep
the items in source order, verbatim.  Whatever is referenced but defined in
neither file must come from the shim's stub headers; the build reports any
that are missing by name.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from harness.core.errors import UserError
from harness.core.generation import GenerationSpec, ScenarioSpec
from harness.core.kernel_files import (
    ARCH_FILES,
    PERCPU_C,
    PERCPU_H,
)
from harness.extract import ctext

# C files percpu.c includes by name: percpu-vm.c's reached items are
# inlined where the #include stands, percpu-km.c is the !MMU variant.  (The
# internal header is rendered from its reached items under its own name.)
INLINED_INCLUDES = frozenset({'"percpu-vm.c"', '"percpu-km.c"'})

# __per_cpu_offset is only ever named through the per_cpu_offset() macro.
# pcpu_populate_pte(): x86's own (6.6 on), which overrides mm/percpu.c's
# __weak one for the page allocator, as the kernel's link does.
ARCH_ROOTS = ("setup_per_cpu_areas", "__per_cpu_offset", "pcpu_populate_pte")
# What fills an arch's cpu -> node map before the percpu areas are set up,
# called by the arch's shim_arch_prepare() the way firmware parsing does.
ARCH_EXTRA_ROOTS = {"arch_numa": ("early_map_cpu_to_node",),
                    # x86 read percpu_alloc= itself until mm/percpu.c did
                    # (f58dc01ba2c, 2.6.32): the glue calls its parser.
                    "x86": ("percpu_alloc_setup",)}
# mm/percpu.c items the glue of an arch flow calls itself: the percpu_alloc=
# boot parameter is read with the kernel's own parser, on every arch.
ARCH_GLUE_ROOTS = {arch: ("percpu_alloc_setup", "pcpu_chosen_fc", "pcpu_fc_names")
                   for arch in ARCH_FILES}

# Always needed: the shim wraps the generation's setup function and reads
# the state and the constants its generation reports (GenerationSpec).
# pr_fmt, where a file defines it, prefixes its messages ("percpu: ").
COMMON_ROOTS = ("pr_fmt",)


@dataclass(frozen=True)
class Extraction:
    """The verbatim items a shim is built from."""

    header_items: tuple[ctext.Item, ...]
    source_items: tuple[ctext.Item, ...]
    scenarios: tuple[str, ...]
    missing_roots: tuple[str, ...]
    includes: tuple[str, ...]
    # The modern generation: mm/percpu-internal.h's reached items (rendered
    # as that header), and percpu-vm.c's, which go where percpu.c includes
    # it, after the percpu.c items before `included_at`.
    internal_items: tuple[ctext.Item, ...] = ()
    included_items: tuple[ctext.Item, ...] = ()
    included_at: int = 0
    # Items that precede the includes, as in the file (pr_fmt).
    prelude_items: tuple[ctext.Item, ...] = ()
    # How each scenario it has runs here: the first of its spec's ways
    # (ScenarioSpec.chain()) whose roots the revision defines.
    ways: tuple[tuple[str, ScenarioSpec], ...] = ()

    def way(self, scenario: str) -> ScenarioSpec:
        return dict(self.ways)[scenario]

    def functions(self) -> dict[str, ctext.Item]:
        """Function definitions by name (the unit of byte-for-byte comparison)."""
        return {
            item.name: item
            for item in self.all_items()
            if item.kind == "function"
        }

    def all_items(self) -> tuple[ctext.Item, ...]:
        return (self.prelude_items + self.source_items + self.included_items
                + self.header_items + self.internal_items)

    def defined(self) -> frozenset[str]:
        names: set[str] = set()
        for item in self.all_items():
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
    # Macros defined before the includes (pr_fmt).
    prelude_items: tuple[ctext.Item, ...] = ()


def extract_arch(arch_file: ctext.SourceFile, arch: str) -> ArchExtraction:
    """setup_per_cpu_areas() and the arch file's items it reaches, in source order."""
    defined = _definitions(arch_file.items)
    if not any(it.kind == "function" for it in defined.get("setup_per_cpu_areas", [])):
        raise UserError(f"{arch_file.path} defines no setup_per_cpu_areas(): the {arch} flow "
                        "needs a revision that has it")
    reached = _closure({*ARCH_ROOTS, *ARCH_EXTRA_ROOTS.get(arch, ())}, defined, {})
    # pr_fmt (2.6.39 on: KBUILD_MODNAME ": "), which the arch's messages
    # expand through the stub printk macros, so no item refers to it.
    prelude = tuple(it for it in arch_file.items if it.kind == "macro" and it.names == {"pr_fmt"})
    items = tuple(it for it in arch_file.items if id(it) in reached and it not in prelude)
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
        prelude_items=prelude,
    )


# Facts of an arch flow its model needs, by what setup_per_cpu_areas() and
# the arch file reached from it use; reported with the constants, and only
# where true, so the flows of 2009 report what they always did.
EMBEDS_FIRST = "x86_embeds_first"
ATOM_NEEDS_PSE = "x86_atom_needs_pse"
OWN_FC_ALLOC = "x86_own_fc_alloc"
# Messages: the arch file's pr_fmt (2.6.39 on), mm/percpu.c's (4.9 on).
ARCH_PR_FMT = "x86_pr_fmt"
PERCPU_PR_FMT = "percpu_pr_fmt"


def _defines_pr_fmt(items: Iterable[ctext.Item]) -> bool:
    return any(it.kind == "macro" and it.names == {"pr_fmt"} for it in items)


# The arch's early page tables come from memblock where the arch file
# includes it (5.4 on): populate_extra_pte() stands for that.
PTE_FROM_MEMBLOCK = "SHIM_X86_PTE_FROM_MEMBLOCK"


def arch_defines(arch_x: ArchExtraction) -> tuple[str, ...]:
    """Stub contracts the arch file asks for, as preprocessor names."""
    if arch_x.arch == "x86" and "<linux/memblock.h>" in arch_x.includes:
        return (PTE_FROM_MEMBLOCK,)
    return ()


NUMA_PAGE_FALLBACK = "numa_page_fallback"
NUMA_OWN_FC_ALLOC = "numa_own_fc_alloc"


def _arch_numa_facts(arch_x: ArchExtraction) -> dict[str, int]:
    """The generic NUMA flow: the page allocator as its fallback (5.18 on),
    its own pcpu_fc_alloc() (until 5.17)."""
    setup = next(it for it in arch_x.items if it.kind == "function"
                 and "setup_per_cpu_areas" in it.names)
    facts = {}
    if "pcpu_page_first_chunk" in setup.refs:
        facts[NUMA_PAGE_FALLBACK] = 1
    if "pcpu_fc_alloc" in {n for it in arch_x.items for n in it.names}:
        facts[NUMA_OWN_FC_ALLOC] = 1
    return facts


# x86's own percpu_alloc= parser (2009, before f58dc01ba2c), and its page
# allocator's older name, "4k" (before 00ae4064b14).
OWN_PERCPU_ALLOC = "x86_own_percpu_alloc"
PAGE_NAMED_4K = "x86_page_named_4k"
LPAGE_PER_CPU = "x86_lpage_per_cpu"


def _x86_own_percpu_alloc(arch_x: ArchExtraction) -> dict[str, int]:
    own = {n for it in arch_x.items for n in it.names}
    if "percpu_alloc_setup" not in own:
        return {}
    facts = {OWN_PERCPU_ALLOC: 1}
    if "setup_pcpu_4k" in own:
        facts[PAGE_NAMED_4K] = 1
    lpage = [it for it in arch_x.items if it.kind == "function"
             and "setup_pcpu_lpage" in it.names and "pcpu_lpage_first_chunk" in it.refs]
    if lpage and "pcpu_lpage_build_unit_map" not in lpage[0].refs:
        facts[LPAGE_PER_CPU] = 1
    return facts


def arch_facts(arch_x: ArchExtraction, c_file: ctext.SourceFile) -> dict[str, int]:
    """What an x86 flow of today's shape (embedding first, the page allocator
    as the fallback; 2.6.32 on) does that differs between revisions: the atom
    follows PSE (until 3.3), the arch allocates the first chunk itself with
    pcpu_fc_alloc() (until 5.16, mm/percpu.c's own after)."""
    if arch_x.arch == "arch_numa":
        return _arch_numa_facts(arch_x)
    if arch_x.arch != "x86":
        return {}
    setup = [it for it in arch_x.items if it.kind == "function"
             and "setup_per_cpu_areas" in it.names]
    if not setup or "pcpu_embed_first_chunk" not in setup[0].refs:
        return _x86_own_percpu_alloc(arch_x)
    own = {n for it in arch_x.items for n in it.names}
    facts = {EMBEDS_FIRST: 1}
    if "cpu_has_pse" in setup[0].refs:
        facts[ATOM_NEEDS_PSE] = 1
    if "pcpu_fc_alloc" in own:
        facts[OWN_FC_ALLOC] = 1
    if _defines_pr_fmt(arch_x.prelude_items):
        facts[ARCH_PR_FMT] = 1
    if _defines_pr_fmt(c_file.items):
        facts[PERCPU_PR_FMT] = 1
    return facts


def item_digest(item: ctext.Item) -> str:
    return hashlib.sha256(item.text.encode()).hexdigest()[:16]


def parse_files(percpu_c: str, percpu_h: str) -> tuple[ctext.SourceFile, ctext.SourceFile]:
    return ctext.split(percpu_c, PERCPU_C), ctext.split(percpu_h, PERCPU_H)


def included_line(c_file: ctext.SourceFile, text: str, name: str) -> int:
    """The line of percpu.c's `#include "name"`, 0 if it has none."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#") and "include" in line and f'"{name}"' in line:
            return number
    return 0


def extract(
    c_file: ctext.SourceFile,
    h_file: ctext.SourceFile,
    spec: GenerationSpec,
    scenarios: Iterable[str] | None = None,
    extra_roots: Iterable[str] = (),
    internal_h: ctext.SourceFile | None = None,
    included_c: ctext.SourceFile | None = None,
    included_at: int = 0,
) -> Extraction:
    """Items reached from the scenario entry points, in source order.

    internal_h and included_c are mm/percpu-internal.h and mm/percpu-vm.c
    when the revision has them: their items are definitions like any other.
    """
    defined_in_c = _definitions(c_file.items)
    defined_in_h = _definitions(h_file.items)
    # One table for every file: the closure does not care where a name lives.
    for extra in (internal_h, included_c):
        if extra is not None:
            for name, items in _definitions(extra.items).items():
                defined_in_h.setdefault(name, []).extend(items)

    def has_definition(name: str) -> bool:
        return any(
            it.kind == "function" for it in defined_in_c.get(name, []) + defined_in_h.get(name, [])
        )

    ways, missing, roots = _scenario_roots(spec, scenarios, has_definition)
    common = (spec.setup_function, *COMMON_ROOTS, *spec.constants, *spec.state_variables)
    roots.update(r for r in common if r in defined_in_c or r in defined_in_h)
    roots.update(r for r in extra_roots if r in defined_in_c or r in defined_in_h)

    reached = _closure(roots, defined_in_c, defined_in_h)
    source = [it for it in c_file.items if id(it) in reached]
    prelude = tuple(it for it in source if it.kind == "macro" and it.names == {"pr_fmt"})
    return Extraction(
        header_items=tuple(it for it in h_file.items if id(it) in reached),
        source_items=tuple(it for it in source if it not in prelude),
        scenarios=tuple(ways),
        missing_roots=tuple(sorted(set(missing))),
        includes=tuple(i for i in (_clean_include(i) for i in c_file.includes)
                       if i not in INLINED_INCLUDES),
        internal_items=tuple(it for it in (internal_h.items if internal_h else [])
                             if id(it) in reached),
        included_items=tuple(it for it in (included_c.items if included_c else [])
                             if id(it) in reached),
        included_at=included_at,
        prelude_items=prelude,
        ways=tuple(ways.items()),
    )


def _scenario_roots(spec: GenerationSpec, scenarios: Iterable[str] | None,
                    has_definition: Callable[[str], bool]
                    ) -> tuple[dict[str, ScenarioSpec], list[str], set[str]]:
    """The wanted scenarios a revision has with the way each runs there, the
    roots the others lack, and the roots of those it has: all of a way's
    roots must be defined."""
    wanted = list(scenarios) if scenarios is not None else list(spec.scenarios)
    for name in wanted:
        if name not in spec.scenarios:
            known = ", ".join(spec.scenarios)
            raise UserError(f"unknown scenario '{name}': choose one of {known}")
    available: dict[str, ScenarioSpec] = {}
    missing: list[str] = []
    roots: set[str] = set()
    for scenario in wanted:
        way = spec.scenarios[scenario].chosen(has_definition)
        if way is None:
            missing.extend(r for r in spec.scenarios[scenario].roots if not has_definition(r))
            continue
        available[scenario] = way
        roots.update(way.roots)
    return available, missing, roots


def _clean_include(include: str) -> str:
    return include.split("/*")[0].split("//")[0].strip()


def _definitions(items: Iterable[ctext.Item]) -> dict[str, list[ctext.Item]]:
    table: dict[str, list[ctext.Item]] = {}
    for item in items:
        for name in item.names:
            table.setdefault(name, []).append(item)
    return table


@functools.cache
def _condition_names_of(conditions: tuple[ctext.Conditional, ...]) -> frozenset[str]:
    # The directives' operands: a preprocessor line is one token to the lexer.
    operands = (re.sub(r"^\s*#\s*\w+", "", line) for c in conditions for line in c.lines)
    return frozenset(name for text in operands for name in re.findall(r"[A-Za-z_]\w*", text)
                     if name != "defined")


def _condition_names(item: ctext.Item) -> frozenset[str]:
    return _condition_names_of(item.conditions) if item.conditions else frozenset()


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
            # Macros an item's #if tests are needed too (modern percpu.c
            # builds embed under its own BUILD_EMBED_FIRST_CHUNK).
            work.extend(_condition_names(item) - seen_names)
    return reached

"""Render the shim's translation unit and compile it, cached by content.

The translation unit is the extracted kernel items, verbatim, plus glue
rendered from jinja2 templates for the detected API generation.  The
executable is cached under a hash of everything that goes into it (the
rendered text, the runtime and stub headers, the flags, the compiler), so
building the same source twice costs nothing; its sha256, recorded at
build time, is checked on every use, so a damaged entry is rebuilt rather
than run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2

import kernel_shim
from harness.compile import render_cache
from harness.core import generation, kernel_files
from harness.core.errors import UserError
from harness.core.generation import GenerationSpec
from harness.core.paths import TEMPLATES, cache_root
from harness.extract import closure, ctext, detect, stubs
from harness.sources.snapshot import Snapshot

SHIM_ROOT = kernel_shim.ROOT
STUB_INCLUDE = kernel_shim.INCLUDE
RUNTIME_C = kernel_shim.RUNTIME / "shim_runtime.c"

# Pointer fields that are arrays, and the field (or variable) counting them.
COUNTED_FIELDS = {
    ("pcpu_alloc_info", "groups"): "p->nr_groups",
    ("pcpu_group_info", "cpu_map"): "p->nr_units",
    ("pcpu_chunk", "map"): "p->map_used",
}
BITMAP_FIELDS = {("pcpu_chunk", "populated"): "pcpu_unit_pages"}
# State variables the glue reports in a shape of their own: the chunks, and
# the cpu -> unit map (every cpu id); the generation's arrays are counted
# as its spec says, and the rest are scalars.
CHUNK_STATE = ("pcpu_first_chunk", "pcpu_reserved_chunk")
UNIT_MAP_STATE = "pcpu_unit_map"
# 5.9 - 5.13 keep one run of pcpu_nr_slots slot lists per chunk type.
CHUNK_TYPES = "PCPU_NR_CHUNK_TYPES"
# The setup function is emitted under this prefix; the glue's wrapper takes its name.
REAL_PREFIX = "shim_real_"
ARCHES = ("generic", *kernel_files.ARCH_FILES)
# Static functions of the arch files whose calls the trace records: the
# allocator attempts and the questions they ask.  A revision without one of
# them simply has nothing to trace there.
# setup_pcpu_4k(): the page allocator before 00ae4064b14 renamed it.
ARCH_TRACED = ("pcpu_need_numa", "setup_pcpu_lpage", "setup_pcpu_embed", "setup_pcpu_page",
               "setup_pcpu_4k")
# The arch's first chunk callbacks: counted like the shim's own in the
# generic scenarios (bootmem.fc_*), too many calls to trace.  (mm/percpu.c's
# own are counted where a generation's spec says so.)
ARCH_COUNTED = ("pcpu_fc_alloc", "pcpu_fc_free")
ARCH_SHIM = kernel_shim.ROOT / "arch"


@dataclass(frozen=True)
class BuildConfig:
    nr_cpus: int = 64
    page_shift: int = 12
    sanitize: bool = False
    # The arch flow built in ("generic": mm/percpu.c's scenarios only), and
    # CONFIG_NUMA, which changes what the arch files compile.
    arch: str = "generic"
    numa: bool = False
    # gcov instrumentation of the kernel code (its own cache key: the flags differ).
    coverage: bool = False

    def __post_init__(self) -> None:
        if self.arch not in ARCHES:
            raise UserError(f"unknown arch '{self.arch}': use one of {', '.join(ARCHES)}")
        if not 1 <= self.nr_cpus <= 8192:
            raise UserError(f"NR_CPUS {self.nr_cpus} is out of range: use 1..8192")
        if self.page_shift not in (12, 13, 14, 16):
            raise UserError(f"page shift {self.page_shift} unsupported: use 12 (4K) or 13 (8K)")

    @property
    def page_size(self) -> int:
        return 1 << self.page_shift


def config_for(case_nr_cpus: int, page_shift: int, sanitize: bool, arch: str = "generic",
               numa: bool = False, coverage: bool = False) -> BuildConfig:
    """The shim a case needs: NR_CPUS, PAGE_SIZE, CONFIG_NUMA and the arch
    flow are all compile-time in the kernel."""
    return BuildConfig(case_nr_cpus, page_shift, sanitize, arch, numa, coverage)


@dataclass(frozen=True)
class Rendered:
    """What a source turns into before the compiler sees it."""

    label: str
    api: detect.ApiInfo
    extraction: closure.Extraction
    header_text: str
    tu_text: str
    # An arch flow: its own translation unit and the mm/percpu.c functions
    # it calls, which the link wraps to trace.
    arch: str = "generic"
    arch_text: str | None = None
    wraps: tuple[str, ...] = ()
    # mm/percpu-internal.h as the modern generation's code sees it.
    internal_text: str | None = None
    # The stub contracts the source's files chose (harness/extract/stubs.py).
    stub_defines: tuple[str, ...] = ()
    # Where each #include of a translation unit is in the tree, as
    # (unit, include, tree file, line, column): the units carry no #line
    # before their includes, so a compiler error on one is named by these.
    include_lines: tuple[tuple[str, str, str, int, int], ...] = ()

    @property
    def scenarios(self) -> tuple[str, ...]:
        return (self.arch,) if self.arch != "generic" else self.extraction.scenarios


@dataclass(frozen=True)
class Shim:
    path: Path
    key: str
    rendered: Rendered
    config: BuildConfig
    warnings: str
    cached: bool



@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def arches(snapshot: Snapshot) -> tuple[str, ...]:
    """The arch flows a source can build: those whose arch file it has, in
    a shape the harness builds."""
    return tuple(a for a, path in kernel_files.ARCH_FILES.items()
                 if snapshot.has(path) and not _unbuilt_shape(a, snapshot.read(path)))


# sparc64's flow is built in its 2009 shape: chunks of its own, handed to
# pcpu_setup_first_chunk().  From bcb2107fdbe ("sparc64: use embedding
# percpu first chunk allocator", 2.6.32) it calls the generic allocators,
# a shape neither built nor modelled.
_SPARC64_GENERIC_CALL = re.compile(r"\bpcpu_(embed|page)_first_chunk\s*\(")


def _unbuilt_shape(arch: str, text: str) -> bool:
    return arch == "sparc64" and _SPARC64_GENERIC_CALL.search(text) is not None


def render(snapshot: Snapshot, scenarios: list[str] | None = None, arch: str = "generic"
           ) -> Rendered:
    """Detect, extract and render one source into C text, or read the
    rendering kept from an earlier command on the same files."""
    name = render_cache.key(snapshot.label, snapshot.digest(), repr(scenarios), arch)
    return render_cache.kept(name, Rendered, lambda: _render(snapshot, scenarios, arch))


def _render(snapshot: Snapshot, scenarios: list[str] | None, arch: str) -> Rendered:
    c_text = snapshot.read(kernel_files.PERCPU_C)
    c_file, h_file = closure.parse_files(c_text, snapshot.read(kernel_files.PERCPU_H))
    more = {path: ctext.split(snapshot.read(path), path)
            for path in (kernel_files.PERCPU_INTERNAL_H, kernel_files.PERCPU_VM_C)
            if snapshot.has(path)}
    internal_h = more.get(kernel_files.PERCPU_INTERNAL_H)
    vm_c = more.get(kernel_files.PERCPU_VM_C)
    api = detect.detect(c_file, h_file, *more.values())
    arch_part = _arch_extraction(snapshot, arch) if arch != "generic" else None
    extra_roots: set[str] = set()
    if arch_part is not None:
        extra_roots = set(arch_part[1].references) | set(closure.ARCH_GLUE_ROOTS[arch])
        scenarios = []
    extraction = closure.extract(
        c_file, h_file, api.spec, scenarios, extra_roots, internal_h, vm_c,
        closure.included_line(c_file, c_text, "percpu-vm.c") if vm_c else 0)
    env = _environment()
    emit = _emitter(env, api, arch_part[0] if arch_part else None)
    header = env.get_template("percpu_h.j2")
    header_text = header.render(
        label=snapshot.label, items=extraction.header_items, emit=emit,
        guard="_PERCPU_DIFF_GENERATED_PERCPU_H", path=kernel_files.PERCPU_H, includes=(),
    )
    internal_text = None
    if internal_h is not None:
        internal_text = header.render(
            label=snapshot.label, items=extraction.internal_items, emit=emit,
            guard="_PERCPU_DIFF_GENERATED_PERCPU_INTERNAL_H", path=kernel_files.PERCPU_INTERNAL_H,
            includes=("<linux/percpu.h>",),
        )
    stub_defines = stubs.stub_defines(snapshot.files, c_file if arch == "generic" else None)
    tu_text = env.get_template("tu.c.j2").render(
        label=snapshot.label, emit=emit, arch=arch if arch != "generic" else None,
        stub_defines=stub_defines,
        **_glue_plan(api, extraction, {
            **detect.facts(api, c_file, h_file, *more.values()),
            **(closure.arch_facts(arch_part[1], c_file) if arch_part is not None else {}),
            **stubs.arch_stub_facts(snapshot.files, arch)}))
    include_lines = _include_lines("shim_tu.c", kernel_files.PERCPU_C, c_text)
    if arch_part is None:
        return Rendered(snapshot.label, api, extraction, header_text, tu_text,
                        internal_text=internal_text, stub_defines=stub_defines,
                        include_lines=include_lines)
    arch_text, wraps = _arch_text(env, snapshot.label, arch_part[1], extraction, emit,
                                  stubs.arch_stub_defines(snapshot.files, arch))
    arch_file = kernel_files.ARCH_FILES[arch]
    return Rendered(snapshot.label, api, extraction, header_text, tu_text, arch, arch_text,
                    wraps, internal_text, stub_defines, include_lines
                    + _include_lines("arch_tu.c", arch_file, snapshot.read(arch_file)))


_INCLUDE = re.compile(r"^\s*#\s*include\s*([<\"][^>\"]+[>\"])")


def _include_lines(unit: str, path: str, text: str
                   ) -> tuple[tuple[str, str, str, int, int], ...]:
    """Each #include of the tree file `path`: (unit, include, path, line, column
    of the name), as the compiler would have named it there."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        m = _INCLUDE.match(line)
        if m:
            found.append((unit, m.group(1), path, number, m.start(1) + 1))
    return tuple(found)


def _arch_extraction(snapshot: Snapshot, arch: str
                     ) -> tuple[ctext.SourceFile, closure.ArchExtraction]:
    """The arch file of an arch flow and what setup_per_cpu_areas() reaches in it."""
    if arch not in kernel_files.ARCH_FILES:
        raise UserError(f"unknown arch '{arch}': use one of {', '.join(ARCHES)}")
    path = kernel_files.ARCH_FILES[arch]
    if not snapshot.has(path):
        raise UserError(f"{path} is not in source {snapshot.label}: the {arch} flow needs "
                        "a kernel tree or patch source that has it")
    arch_file = ctext.split(snapshot.read(path), path)
    return arch_file, closure.extract_arch(arch_file, arch)


def _emitter(env: jinja2.Environment, api: detect.ApiInfo, arch_file: ctext.SourceFile | None
             ) -> Callable[[ctext.Item], str]:
    """How an extracted item is written out: verbatim, renamed where the
    glue wraps it (the setup function; traced and counted functions)."""
    item_template = env.get_template("item.j2")
    wrapper_template = env.get_template("trace_wrapper.j2")

    def emit(item: ctext.Item) -> str:
        rename = None
        wrapper = ""
        counted_here = item.path == kernel_files.PERCPU_C and not item.is_prototype \
            and item.name in api.spec.counted_functions
        if item.kind == "function" and api.setup.name in item.names:
            rename = (api.setup.name, REAL_PREFIX + api.setup.name)
        elif item.kind == "function" and (counted_here or (
                arch_file is not None and item.path == arch_file.path
                and item.name in ARCH_TRACED + ARCH_COUNTED)):
            rename = (item.name, f"shim_real_{item.name}")
            wrapper = wrapper_template.render(
                w=_wrap_plan(item), counted=counted_here or item.name in ARCH_COUNTED,
                storage="static ", defined=item.name, called=f"shim_real_{item.name}")
        return item_template.render(item=item, rename=rename, wrapper=wrapper).rstrip("\n")

    return emit


def _glue_plan(api: detect.ApiInfo, extraction: closure.Extraction,
               facts: Mapping[str, int]) -> dict[str, object]:
    """What tu.c.j2 needs besides the label, the emitter and the arch: the
    items, the generation's glue (its spec) and what the revision defines."""
    spec = api.spec
    defined = extraction.defined()
    functions = extraction.functions()
    ways = dict(extraction.ways)
    items = extraction.source_items
    structs = _struct_plans(api, defined)
    fixed = _fixed_arrays(extraction, [v for v in spec.state_variables if v in defined])
    return {
        "generation": spec.name, "spec": spec, "source_path": kernel_files.PERCPU_C,
        "includes": extraction.includes, "prelude_items": extraction.prelude_items,
        "items": items, "included_items": extraction.included_items,
        "included_index": next((i for i, it in enumerate(items)
                                if it.line > extraction.included_at), len(items)),
        "entry_calls": [(name, _entry_call(functions[entry], spec))
                        for name, way in ways.items() if (entry := way.entry) is not None],
        "drivers": [(name, driver) for name, way in ways.items()
                    if (driver := way.driver) is not None],
        "driver_params": _driver_params(extraction),
        "structs": structs, "struct_tags": {s["tag"] for s in structs},
        "setup": api.setup, "p": [param.name for param in api.setup.params],
        "state_vars": defined,
        "unit_map_var": UNIT_MAP_STATE in spec.state_variables and UNIT_MAP_STATE in defined,
        "scalar_state_vars": [v for v in spec.state_variables if v in defined and v not in
                              (*CHUNK_STATE, UNIT_MAP_STATE, *spec.array_state, *fixed)],
        "fixed_array_state_vars": fixed,
        "array_state_vars": [(v, n) for v, n in spec.array_state.items() if v in defined],
        "chunk_vars": [v for v in CHUNK_STATE if v in defined and v in spec.state_variables],
        "slot_lists": _slot_lists(defined),
        "static_check": _static_check(defined),
        "scenarios": extraction.scenarios,
        "constants": [name for name in spec.constants if name in defined],
        "facts": sorted(facts.items()),
        "call": call_by_prefix, "by_prefix": by_prefix,
    }


def _slot_lists(defined: frozenset[str]) -> tuple[str, str] | None:
    """The revision's array of chunk slot lists and the C expression
    counting its lists, None where it has none the glue can read."""
    lists = generation.slot_lists(defined.__contains__)
    if lists is None:
        return None
    count = generation.SLOT_COUNT
    return lists, f"{count} * {CHUNK_TYPES}" if CHUNK_TYPES in defined else count


def _fixed_arrays(extraction: closure.Extraction, variables: list[str]) -> list[str]:
    """The state variables a revision defines as arrays of a fixed size
    (5.9 - 5.13 count empty populated pages per chunk type), which are
    reported element by element where other revisions have a scalar."""
    arrays: list[str] = []
    for item in extraction.all_items():
        if item.kind != "declaration" or item.is_prototype:
            continue
        for var in variables:
            if var in item.names and var not in arrays and \
                    re.search(rf"\b{re.escape(var)}\s*\[", item.text):
                arrays.append(var)
    return arrays


def _driver_params(extraction: closure.Extraction) -> dict[str, list[str]]:
    """The parameter names of the functions a scenario driver calls, so a
    driver can follow a revision's signature (2009's lpage functions took
    static_size first until fd1e8a1fe2b5^ dropped it)."""
    functions = extraction.functions()
    return {root: [param.name for param in detect.parse_prototype(functions[root].text).params]
            for _, way in extraction.ways if way.driver is not None
            for root in way.roots if root in functions}


def _static_check(defined: frozenset[str]) -> bool | str:
    """How the glue finds each possible cpu's unit to check its static copy:
    through the revision's cpu -> unit map, or, where it keeps none (the
    first API), at its cpu number ("identity"); False where it cannot."""
    if not {"pcpu_base_addr", "pcpu_unit_size"} <= defined:
        return False
    if {"pcpu_unit_map", "pcpu_nr_units"} <= defined:
        return True
    return "identity" if "pcpu_unit_map" not in defined else False


def by_prefix(proto: detect.Prototype, param: detect.Param, meanings: Mapping[str, str]) -> str:
    """What a parameter of `proto` means to the glue, by how its name starts
    (the glue of functions whose parameter lists changed over the years)."""
    meaning = next((v for prefix, v in meanings.items() if param.name.startswith(prefix)), None)
    if meaning is None:
        raise UserError(f"{proto.signature()}: the glue knows no meaning of its parameter "
                        f"'{param.ctype} {param.name}'")
    return meaning


def call_by_prefix(proto: detect.Prototype, args: Mapping[str, str]) -> str:
    """A call of `proto` from a template's driver, each argument picked by
    how the parameter's name starts."""
    picked = [by_prefix(proto, param, args) for param in proto.params]
    return f"{proto.name}({', '.join(picked)})"


def _arch_text(env: jinja2.Environment, label: str, arch_x: closure.ArchExtraction,
               extraction: closure.Extraction, emit: Callable[[ctext.Item], str],
               stub_defines: tuple[str, ...] = ()) -> tuple[str, tuple[str, ...]]:
    """An arch flow's translation unit, and the mm/percpu.c functions its
    calls reach, which the link wraps to trace."""
    functions = extraction.functions()
    wraps = [_wrap_plan(functions[name]) for name in sorted(arch_x.references & set(functions))]
    arch_defined = {n for it in arch_x.items for n in it.names}
    text = env.get_template("arch_tu.c.j2").render(
        label=label,
        arch=arch_x.arch,
        reports_chosen_fc={"pcpu_chosen_fc", "pcpu_fc_names"} <= extraction.defined(),
        own_percpu_alloc={"percpu_alloc_setup", "pcpu_chosen_alloc"} <= arch_defined,
        cpu_number_var=_cpu_number_var(arch_x, arch_defined),
        source_path=arch_x.path,
        includes=arch_x.includes,
        prelude_items=arch_x.prelude_items,
        arch_defines=(*closure.arch_defines(arch_x), *stub_defines),
        items=arch_x.items,
        emit=emit,
        wraps=wraps,
    )
    return text, tuple(str(w["name"]) for w in wraps)


def _cpu_number_var(arch_x: closure.ArchExtraction, arch_defined: set[str]) -> str | None:
    """The per-cpu variable an x86 flow stores each cpu's number in, when it
    defines this_cpu_off too: its own cpu_number, or (6.2 - 6.14) the field
    of the pcpu_hot the arch keeps elsewhere."""
    if "this_cpu_off" not in arch_defined:
        return None
    if "cpu_number" in arch_defined:
        return "cpu_number"
    return "pcpu_hot.cpu_number" if "pcpu_hot" in arch_x.references else None


def _entry_call(item: ctext.Item, spec: GenerationSpec) -> str:
    """The call of a first chunk allocator, its arguments picked by meaning."""
    proto = detect.parse_prototype(item.text)
    conventions = spec.entry_args
    args: list[str] = []
    for param in proto.params:
        callback = next((v for t, v in conventions.callbacks.items() if t in param.ctype), None)
        size = next((v for prefix, v in conventions.sizes.items()
                     if param.name.startswith(prefix)), None)
        fixed = next((v for prefix, v in conventions.fixed.items()
                      if param.name.startswith(prefix)), None)
        if callback is not None:
            args.append(callback)
        elif size == "dyn_size" and not param.ctype.startswith(("ssize_t", "long", "int")):
            args.append(conventions.unsigned_dyn_size)
        elif size is not None:
            args.append(f"c->{size}")
        elif fixed is not None:
            args.append(fixed)
        else:
            raise UserError(f"cannot call {proto.signature()}: the shim has nothing to pass "
                            f"for its parameter '{param.ctype} {param.name}'; teach the "
                            f"entry_args of harness/core/generations/{spec.name}.py about it")
    return f"{proto.name}({', '.join(args)})"


# The counters take what the runtime records of a first chunk allocation:
# cpu, size and align; pointer and size of a free.
_COUNTED_ARITY = {"pcpu_fc_alloc": 3, "pcpu_fc_free": 2}


def _wrap_plan(item: ctext.Item) -> dict[str, object]:
    """What a tracing wrapper of a function needs: its prototype as written."""
    proto = detect.parse_prototype(item.text)
    args = [p.name for p in proto.params if p.name not in ("", "...") and p.ctype != "void"]
    counted = args[:_COUNTED_ARITY.get(proto.name, len(args))]
    if proto.name == "pcpu_fc_alloc" and len(counted) == 2:
        # (cpu, size) before "percpu: add @align to pcpu_fc_alloc_fn_t"
        # (3cbc8565276): x86's allocated aligned to the size it was asked.
        counted = [*counted, counted[1]]
    return {"name": proto.name, "return_type": proto.return_type,
            "params_text": proto.params_text, "args": args, "counted_args": counted}


def _struct_plans(api: detect.ApiInfo, defined: frozenset[str]) -> list[dict[str, object]]:
    """How to serialize each struct the source declares, field by field."""
    plans: list[dict[str, object]] = []
    for tag in api.spec.structs:
        fields = api.fields(tag)
        if not fields or tag not in defined:
            continue
        names = {f.name for f in fields}
        planned: list[dict[str, object]] = []
        for f in fields:
            count = COUNTED_FIELDS.get((tag, f.name))
            bitmap = BITMAP_FIELDS.get((tag, f.name))
            elem = None
            if f.pointee and f.pointee.startswith("struct "):
                elem_tag = f.pointee.split()[-1]
                elem = elem_tag if api.fields(elem_tag) else None
            if count and count.removeprefix("p->") in names:
                how = "flex_array" if f.kind == "flexible_array" else "array"
                planned.append({"name": f.name, "how": how, "count": count, "elem_struct": elem})
            elif bitmap and "nr_pages" in names:
                # The modern chunk's bitmap covers its own pages, which the
                # first chunk's region need not share with a unit.
                planned.append({"name": f.name, "how": "bitmap", "count": "p->nr_pages"})
            elif bitmap and bitmap in defined:
                planned.append({"name": f.name, "how": "bitmap", "count": bitmap})
            elif f.kind in ("scalar", "pointer", "function_pointer"):
                planned.append({"name": f.name, "how": "value"})
            else:
                planned.append({"name": f.name, "how": f"{f.kind} field, not serialized"})
            planned[-1]["conditions"] = f.conditions
            # one #endif per #if level (the #elif/#else lines passed add none)
            planned[-1]["levels"] = sum(1 for line in f.conditions
                                        if re.match(r"#\s*if", line))
        plans.append({"tag": tag, "fields": planned})
    return plans


@cache
def _compiler_identity(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as err:
        raise UserError(f"C compiler '{cc}' does not run ({err}): install gcc or set CC") from err
    return out.stdout.splitlines()[0] if out.stdout else cc


@cache
def _shim_inputs_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(SHIM_ROOT.rglob("*")):
        if path.suffix in (".c", ".h") and path.is_file():
            h.update(str(path.relative_to(SHIM_ROOT)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def compile_flags(config: BuildConfig) -> list[str]:
    flags = [
        "-std=gnu11",
        "-O1",
        "-g",
        "-fno-strict-aliasing",
        "-fno-delete-null-pointer-checks",
        "-fno-common",
        "-Wall",
        "-Wno-unused-function",
        "-Werror=implicit-function-declaration",
        "-Werror=implicit-int",
        f"-DNR_CPUS={config.nr_cpus}",
        f"-DSHIM_PAGE_SHIFT={config.page_shift}",
    ]
    if config.arch != "generic":
        flags.append(f"-DSHIM_ARCH_{config.arch.upper()}")
    if config.numa:
        flags.append("-DSHIM_CONFIG_NUMA")
    if config.coverage:
        # The runtime dumps each child's counters before it ends (outcome.c).
        flags.append("-DSHIM_COVERAGE")
    if config.sanitize:
        flags += [
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer",
        ]
    return flags


# The kernel code's objects only: gcov's advice is no optimisation, so that
# every line of a function keeps a block of its own to count.
COVERAGE_FLAGS = ["-O0", "--coverage"]


def build(
    rendered: Rendered, config: BuildConfig, cc: str | None = None, root: Path | None = None
) -> Shim:
    """Compile a rendered shim, or return the cached executable once its
    content is checked against the digest recorded when it was built."""
    cc = cc or os.environ.get("CC", "cc")
    if config.arch != rendered.arch:
        raise ValueError(f"a {rendered.arch} rendering cannot build a {config.arch} shim")
    flags = compile_flags(config)
    key = _cache_key(rendered, flags, cc)
    shims = (root or cache_root()) / "shims"
    final = shims / key
    if _damage(final) is None:
        return _cached(final, key, rendered, config)
    try:
        shims.mkdir(parents=True, exist_ok=True)
        with _build_lock(shims, key):
            # Another process may have built it while this one waited.
            damage = _damage(final)
            if damage is None:
                return _cached(final, key, rendered, config)
            if damage != _ABSENT:
                print(f"percpu-diff: the cached shim {final / 'shim'} {damage}: rebuilding it",
                      file=sys.stderr)
                _discard(final)
            stderr = _compile(shims, key, rendered, config, cc, flags)
    except OSError as err:
        if err.errno not in _CACHE_TROUBLE:
            raise
        raise UserError(_cache_trouble(shims, err.strerror)) from err
    return Shim(final / "shim", key, rendered, config, stderr, cached=False)


# The executable's sha256, written beside it when it is built and checked on
# every use: a truncated, emptied or altered file in the cache is rebuilt,
# never run.
DIGEST_FILE = "shim.sha256"
_ABSENT = "is not built"
# What a cache that cannot take a build says: read-only, no permission, full.
_CACHE_TROUBLE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC,
                            errno.EDQUOT})


# Entries with a recorded digest live under keys of their own: an older
# percpu-diff sharing the cache keeps its entries, and this one never meets
# an entry it cannot check.
_CACHE_FORMAT = "sha256-checked, bound at start"


def _damage(final: Path) -> str | None:
    """Why the cache entry `final` cannot be used, or None when it can."""
    if not final.exists():
        return _ABSENT
    try:
        data = (final / "shim").read_bytes()
        digest = final / DIGEST_FILE
        if not digest.exists():
            return f"has no recorded {DIGEST_FILE}"
        recorded = digest.read_text().strip()
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if not data:
        return "is empty"
    if hashlib.sha256(data).hexdigest() != recorded:
        return "differs from what was built (its sha256 changed: truncated or altered)"
    return None


def _cached(final: Path, key: str, rendered: Rendered, config: BuildConfig) -> Shim:
    log = final / "build.log"
    warnings = log.read_text() if log.exists() else ""
    return Shim(final / "shim", key, rendered, config, warnings, cached=True)


@contextlib.contextmanager
def _build_lock(shims: Path, key: str) -> Iterator[None]:
    """One build of a key at a time, across processes; a valid entry is never
    removed, so readers need no lock."""
    with (shims / f".lock-{key}").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _discard(final: Path) -> None:
    """Move a damaged entry aside in one step, then delete it."""
    aside = final.with_name(f".damaged-{final.name}-{os.getpid()}")
    final.rename(aside)
    shutil.rmtree(aside, ignore_errors=True)


def _cache_trouble(shims: Path, reason: str | None) -> str:
    return (f"cannot build a shim in the cache {shims} ({reason}): make it writable or free "
            "space there, or set PERCPU_DIFF_CACHE to a writable directory")


def _compile(shims: Path, key: str, rendered: Rendered, config: BuildConfig, cc: str,
             flags: list[str]) -> str:
    """Build in a scratch directory beside the entry and rename it into place
    whole; what the compiler said."""
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=shims))
    try:
        _write_inputs(work, rendered)
        stderr, returncode = _run(_commands(cc, flags, work, rendered, config), work)
        (work / "build.log").write_text(stderr)
        if returncode != 0:
            if "No space left on device" in stderr:
                raise UserError(_cache_trouble(shims, "No space left on device"))
            failed = shims / f"failed-{key}"
            shutil.rmtree(failed, ignore_errors=True)
            work.rename(failed)
            raise UserError(describe_failure(stderr, rendered.label, failed / "build.log",
                                             rendered, work))
        _write_meta(work, rendered, config)
        digest = hashlib.sha256((work / "shim").read_bytes()).hexdigest()
        (work / DIGEST_FILE).write_text(digest + "\n")
        try:
            work.rename(shims / key)
        except OSError:
            # Another process finished the same build first; theirs is identical.
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return stderr


def _cache_key(rendered: Rendered, flags: list[str], cc: str) -> str:
    """Everything the executable depends on: the rendered text, the
    runtime and stubs, the flags, the compiler."""
    h = hashlib.sha256()
    for part in (
        _CACHE_FORMAT,
        rendered.tu_text,
        rendered.header_text,
        rendered.arch_text or "",
        rendered.internal_text or "",
        _shim_inputs_digest(),
        " ".join(flags),
        _compiler_identity(cc),
    ):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:20]


def _write_inputs(work: Path, rendered: Rendered) -> None:
    (work / "include" / "linux").mkdir(parents=True)
    (work / "include" / "linux" / "percpu.h").write_text(rendered.header_text)
    if rendered.internal_text is not None:
        # Found by percpu.c's #include "percpu-internal.h", beside the TU.
        (work / "percpu-internal.h").write_text(rendered.internal_text)
    (work / "shim_tu.c").write_text(rendered.tu_text)
    if rendered.arch_text is not None:
        (work / "arch_tu.c").write_text(rendered.arch_text)


def _commands(cc: str, flags: list[str], work: Path, rendered: Rendered,
              config: BuildConfig) -> list[list[str]]:
    """The compiler and linker runs that make work/shim, in order."""
    # The runtime is plain userspace C: it must see libc's headers, not
    # the kernel stubs, so it is compiled on its own.
    runtime_cmd = [cc, *flags, "-iquote", str(STUB_INCLUDE), "-c", str(RUNTIME_C),
                   "-o", str(work / "runtime.o")]
    # An arch's stub headers come before the generic ones, as
    # arch/*/include comes before include/ in a kernel build.
    includes = ["-I", str(work / "include")]
    if config.arch != "generic":
        includes += ["-I", str(ARCH_SHIM / config.arch / "include")]
    includes += ["-I", str(STUB_INCLUDE)]
    # kbuild names each object's module; pr_fmt() may print it.
    kernel_flags = [*flags, *(COVERAGE_FLAGS if config.coverage else [])]
    tu_cmd = [cc, *kernel_flags, *includes, '-DKBUILD_MODNAME="percpu"', "-c",
              str(work / "shim_tu.c"), "-o", str(work / "shim_tu.o")]
    objects = [work / "shim_tu.o", work / "runtime.o"]
    commands = [runtime_cmd, tu_cmd]
    if rendered.arch_text is not None:
        # kbuild's name for the arch file's object (setup_percpu), as its pr_fmt prints it
        modname = Path(kernel_files.ARCH_FILES[config.arch]).stem
        commands.append([cc, *kernel_flags, *includes, f'-DKBUILD_MODNAME="{modname}"', "-c",
                         str(work / "arch_tu.c"), "-o", str(work / "arch_tu.o")])
        commands.append([cc, *flags, *includes, "-c",
                         str(ARCH_SHIM / config.arch / "shim_arch.c"),
                         "-o", str(work / "shim_arch.o")])
        objects += [work / "arch_tu.o", work / "shim_arch.o"]
    wrap_flags = [f"-Wl,--wrap={name}" for name in rendered.wraps]
    # Bind every symbol at start: lazily, each forked boot would resolve
    # its library calls anew, a tenth of its time at NR_CPUS=8.
    link_flags = ["-Wl,-z,now", *(["--coverage"] if config.coverage else [])]
    commands.append([cc, *flags, *map(str, objects), *wrap_flags, *link_flags,
                     "-o", str(work / "shim")])
    return commands


# How build.log shows each command before what it said, so that a flag
# such as -Werror=implicit-int is never taken for a diagnostic.
COMMAND_ECHO = "$ "


def _run(commands: list[list[str]], work: Path) -> tuple[str, int]:
    """Each command in turn until one fails: what they said, and the status."""
    # LC_ALL=C keeps gcc's quotes ASCII, which the symbol parser expects.
    env = {**os.environ, "LC_ALL": "C"}
    stderr = ""
    returncode = 0
    for cmd in commands:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work, env=env)
        stderr += COMMAND_ECHO + " ".join(cmd) + "\n" + proc.stderr
        returncode = proc.returncode
        if returncode:
            break
    return stderr, returncode


def _write_meta(work: Path, rendered: Rendered, config: BuildConfig) -> None:
    (work / "meta.json").write_text(json.dumps({
        "label": rendered.label,
        "generation": rendered.api.generation,
        "nr_cpus": config.nr_cpus,
        "page_size": config.page_size,
        "sanitize": config.sanitize,
        "arch": config.arch,
        "numa": config.numa,
        "coverage": config.coverage,
        "scenarios": list(rendered.extraction.scenarios),
    }, indent=2))


_UNRESOLVED_PATTERNS = (
    re.compile(r"implicit declaration of function '(\w+)'"),
    re.compile(r"'(\w+)' undeclared"),
    re.compile(r"unknown type name '(\w+)'"),
    re.compile(r"undefined reference to `(\w+)'"),
    re.compile(r"incomplete type 'struct (\w+)'"),
    re.compile(r"storage size of '\w+' isn't known"),
)
_IN_FUNCTION = re.compile(r"In function '(\w+)'")


def _user_name(function: str) -> str:
    """A wrapped setup function, renamed while it was emitted, as the user wrote it."""
    setups = {spec.setup_function for spec in generation.all_specs()}
    plain = function.removeprefix(REAL_PREFIX)
    return plain if plain in setups else function


def unresolved_symbols(stderr: str) -> dict[str, list[str]]:
    """Symbol -> functions using it, from compiler and linker messages."""
    found: dict[str, list[str]] = {}
    current = "?"
    for line in stderr.splitlines():
        m = _IN_FUNCTION.search(line)
        if m:
            # The wrapped setup function was renamed; name it as the user wrote it.
            current = _user_name(m.group(1))
            continue
        for pattern in _UNRESOLVED_PATTERNS:
            m = pattern.search(line)
            if m and m.groups():
                users = found.setdefault(m.group(1), [])
                if current not in users:
                    users.append(current)
    return found


def describe_failure(stderr: str, label: str, log: Path, rendered: Rendered | None = None,
                     work: Path | None = None) -> str:
    """One line: the unresolved symbols, else how many errors and the first,
    named by the tree's files where the build's scratch `work` had them."""
    symbols = unresolved_symbols(stderr)
    if symbols:
        listed = "; ".join(
            f"{name} (used in {', '.join(users)})" for name, users in sorted(symbols.items())
        )
        return (
            f"cannot build the shim for {label}: unresolved symbols: {listed}; "
            f"add them to the stub headers in kernel_shim/include (full log: {log})"
        )
    errors = compiler_errors(stderr)
    if not errors:
        said = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith(COMMAND_ECHO)]
        last = said[-1].strip() if said else "no message"
        return f"cannot build the shim for {label}: the build failed: {last} (full log: {log})"
    count = f"{len(errors)} compiler error{'s' if len(errors) > 1 else ''}"
    first = tree_named(errors[0], rendered, work) if work is not None else errors[0]
    return f"cannot build the shim for {label}: {count}, first: {first} (full log: {log})"


_MISSING_HEADER = re.compile(r" fatal error: (\S+): No such file or directory$")
_DIAGNOSTIC_AT = re.compile(r"^(?P<path>[^:\s][^:]*):(?P<line>\d+):(?P<col>\d+):(?P<rest> .*)$")
# The scratch files a build writes, by the tree file each stands for.
_SCRATCH_NAMES = {"include/linux/percpu.h": kernel_files.PERCPU_H,
                  "percpu-internal.h": kernel_files.PERCPU_INTERNAL_H}


def tree_named(diagnostic: str, rendered: Rendered | None, work: Path) -> str:
    """A gcc diagnostic with the build's scratch paths named as the tree's
    files: an #include of a unit by its place in mm/percpu.c (or the arch
    file), a generated header by the header it renders, a stub header by its
    place in the project; any other scratch path relative to the scratch."""
    m = _DIAGNOSTIC_AT.match(diagnostic)
    if m is None:
        return diagnostic.replace(f"{work}/", "")
    path, line = m["path"], int(m["line"])
    inside = path.removeprefix(f"{work}/") if path.startswith(f"{work}/") else None
    missing = _MISSING_HEADER.match(m["rest"])
    if missing is not None and rendered is not None:
        # The units' includes follow the pr_fmt item's #line: gcc names them
        # by a line of the tree that is not theirs. The header's name is sure.
        where = next((f"{tree}:{number}:{column}" for unit, name, tree, number, column
                      in rendered.include_lines
                      if name[1:-1] == missing[1] and (inside or path) in (unit, tree)), None)
        if where is not None:
            return f"{where}:{m['rest']}"
    if inside is None:
        root = f"{STUB_INCLUDE.parent.parent}/"
        return diagnostic.removeprefix(root) if path.startswith(root) else diagnostic
    if inside in ("shim_tu.c", "arch_tu.c") and rendered is not None:
        unit_text = rendered.tu_text if inside == "shim_tu.c" else rendered.arch_text or ""
        lines = unit_text.splitlines()
        include = _INCLUDE.match(lines[line - 1]) if 0 < line <= len(lines) else None
        where = next((f"{tree}:{number}:{column}" for unit, name, tree, number, column
                      in rendered.include_lines
                      if include is not None and unit == inside and name == include[1]), None)
        if where is not None:
            return f"{where}:{m['rest']}"
    named = _SCRATCH_NAMES.get(inside, inside)
    return f"{named}:{line}:{m['col']}:{m['rest']}"


# gcc's and ld's diagnostics: "file:line:col: error: ...", "fatal error:",
# "collect2: error: ..."; not the summary "some warnings being treated as errors".
_ERROR_LINE = re.compile(r"(?:^|: )(?:fatal )?error: ")


def compiler_errors(stderr: str) -> list[str]:
    """The error diagnostics of a build log, in order, without the echoed commands."""
    return [ln.strip() for ln in stderr.splitlines()
            if not ln.startswith(COMMAND_ECHO) and _ERROR_LINE.search(ln)]

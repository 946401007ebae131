"""Decide a source's percpu API generation and read its structures.

The signature of pcpu_setup_first_chunk() tells the generation apart: each
generation's spec (harness/core/generations/) says which signatures are
its own, and detection asks them all.  The fields of the structs a
generation reports (struct pcpu_alloc_info, pcpu_group_info, pcpu_chunk)
are read from the source with pycparser, so the C code that serializes
them is generated from what the revision actually declares: a patch that
adds a field shows up in the results without a change here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from pycparser import c_ast, c_parser

from harness.core import generation
from harness.core.errors import UserError
from harness.core.generation import (
    SLOT_LISTS_FACT,
    GenerationName,
    GenerationSpec,
    slot_lists,
)
from harness.extract import ctext

FieldKind = Literal["scalar", "pointer", "array", "flexible_array", "struct", "function_pointer"]

# Kernel typedefs the declarations we parse may mention.  Their exact
# definition does not matter: only field names and shapes are read.
_BASE_TYPEDEFS = """
typedef unsigned long size_t; typedef long ssize_t; typedef _Bool bool;
typedef unsigned char u8; typedef unsigned short u16; typedef unsigned int u32;
typedef unsigned long long u64; typedef signed char s8; typedef short s16;
typedef int s32; typedef long long s64; typedef unsigned int gfp_t;
typedef unsigned long phys_addr_t; typedef unsigned long pgprot_t;
typedef int spinlock_t; typedef int atomic_t; typedef int cpumask_t;
typedef unsigned long uintptr_t; typedef int pid_t;
"""

_ATTRIBUTE_GROUPS = ("__attribute__", "__aligned", "__section", "__printf", "__cond_lock")


@dataclass(frozen=True)
class Field:
    name: str
    ctype: str
    kind: FieldKind
    pointee: str | None = None  # for pointers/arrays: the element type text
    # The #if lines the field sits in inside its struct (CONFIG_PERCPU_STATS
    # fields, say), so code touching it is compiled under the same ones.
    conditions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Param:
    name: str
    ctype: str


@dataclass(frozen=True)
class Prototype:
    name: str
    return_type: str
    params: tuple[Param, ...]
    params_text: str  # the parameter list exactly as written in the source

    def signature(self) -> str:
        return f"{self.return_type} {self.name}({', '.join(p.ctype for p in self.params)})"


@dataclass(frozen=True)
class ApiInfo:
    spec: GenerationSpec
    setup: Prototype
    structs: dict[str, tuple[Field, ...]]

    @property
    def generation(self) -> GenerationName:
        return self.spec.name

    def fields(self, struct: str) -> tuple[Field, ...]:
        return self.structs.get(struct, ())


def detect(c_file: ctext.SourceFile, h_file: ctext.SourceFile,
           *more: ctext.SourceFile) -> ApiInfo:
    """Generation, setup prototype and struct layouts of one source; `more`
    are further files that may declare them (mm/percpu-internal.h)."""
    funcs = {it.name: it for it in c_file.items if it.kind == "function"}
    # Each generation names the function it sets the first chunk up by.
    setup_item = next((funcs[name] for name in dict.fromkeys(
        s.setup_function for s in generation.all_specs()) if name in funcs), None)
    if setup_item is None:
        raise UserError(
            "mm/percpu.c defines no pcpu_setup_first_chunk(): percpu-diff needs a kernel "
            "from the percpu allocator era (2.6.30 or later)"
        )
    setup = parse_prototype(setup_item.text)
    spec = _generation_of(setup)

    structs: dict[str, tuple[Field, ...]] = {}
    for source in (h_file, c_file, *more):
        for item in source.items:
            for tag in spec.structs:
                if tag in item.names and item.kind == "declaration" and "{" in item.text:
                    structs[tag] = parse_struct(item.text, tag)
    for tag in spec.required_structs:
        if tag not in structs:
            raise UserError(
                f"{setup.name}() of the {spec.name} generation needs struct {tag}, "
                f"but struct {tag} is not defined in include/linux/percpu.h or mm/percpu.c: "
                "is the tree complete?"
            )

    return ApiInfo(spec, setup, structs)


class SourceView:
    """A revision's files as a spec's facts ask about them
    (harness.core.generation.RevisionView): the first definition of a
    function in the order the files are given (mm/percpu.c first)."""

    def __init__(self, *files: ctext.SourceFile) -> None:
        self._names = frozenset(n for f in files for it in f.items for n in it.names)
        self._functions: dict[str, ctext.Item] = {}
        # struct tag -> the text of its first full declaration
        self._structs: dict[str, str] = {}
        for source in files:
            for item in source.items:
                if item.kind == "function":
                    self._functions.setdefault(item.name, item)
                elif item.kind == "declaration" and "{" in item.text:
                    for tag in item.names:
                        if re.search(rf"\bstruct\s+{re.escape(tag)}\s*{{", item.text):
                            self._structs.setdefault(tag, item.text)

    def defines(self, name: str) -> bool:
        return name in self._names

    def params(self, function: str) -> tuple[tuple[str, str], ...] | None:
        item = self._functions.get(function)
        if item is None:
            return None
        return tuple((p.ctype, p.name) for p in parse_prototype(item.text).params)

    def returns(self, function: str) -> str | None:
        item = self._functions.get(function)
        return None if item is None else parse_prototype(item.text).return_type

    def uses(self, function: str, name: str) -> bool:
        item = self._functions.get(function)
        return item is not None and name in item.refs

    def fields(self, struct: str) -> tuple[str, ...] | None:
        declared = self._structs.get(struct)
        return None if declared is None else tuple(f.name for f in parse_struct(declared, struct))

    def says(self, function: str, text: str) -> bool:
        item = self._functions.get(function)
        return item is not None and text in item.text


def facts(api: ApiInfo, *files: ctext.SourceFile) -> dict[str, int]:
    """What the generation's spec says its model needs to know of this
    revision, and whether it keeps chunks on slot lists the glue reports."""
    view = SourceView(*files)
    lists = {SLOT_LISTS_FACT: int(slot_lists(view.defines) is not None)}
    return {**(api.spec.facts(view) if api.spec.facts is not None else {}), **lists}


def _generation_of(setup: Prototype) -> GenerationSpec:
    types = tuple(p.ctype for p in setup.params)
    matching = [s for s in generation.all_specs()
                if s.setup_function == setup.name and s.detects(setup.return_type, types)]
    if len(matching) > 1:
        raise UserError(f"{setup.signature()} matches the specs of several API generations "
                        f"({', '.join(s.name for s in matching)}): make their detection "
                        "tell them apart")
    if not matching:
        shapes = "; ".join(f"{s.shape} ({s.name})" for s in generation.all_specs())
        raise UserError(f"unknown percpu API generation: found {setup.signature()}, which "
                        f"takes none of the known shapes: {shapes}")
    return matching[0]


def _declaration_text(text: str) -> str:
    """Make kernel C digestible for pycparser: no comments, no attributes."""
    out: list[str] = []
    toks = [t for t in ctext.tokenize(text) if t.kind != "pp"]
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok.kind == "ident" and tok.text in _ATTRIBUTE_GROUPS:
            i += 1
            if i < len(toks) and toks[i].text == "(":
                depth = 0
                while i < len(toks):
                    if toks[i].text == "(":
                        depth += 1
                    elif toks[i].text == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    i += 1
            i += 1
            continue
        if tok.kind == "ident" and tok.text in ctext.ANNOTATIONS and tok.text not in (
            "static", "extern", "const", "volatile", "inline"
        ):
            i += 1
            continue
        if tok.kind == "ident" and tok.text.startswith("__") and tok.text.endswith("data"):
            i += 1
            continue
        out.append(tok.text)
        i += 1
    return " ".join(out)


_C_KEYWORDS = frozenset(
    (
        "auto break case char const continue default do double else enum extern float for "
        "goto if inline int long register restrict return short signed sizeof static struct "
        "switch typedef union unsigned void volatile while _Bool _Complex"
    ).split()
)


def _parse(decl: str) -> c_ast.FileAST:
    """Parse with pycparser, declaring every type name the text uses.

    A non-keyword identifier that is followed by another identifier or a
    '*' (and not preceded by struct/union/enum) stands in type position.
    """
    known = set(re.findall(r"typedef [^;]* (\w+);", _BASE_TYPEDEFS))
    toks = [t for t in ctext.tokenize(decl) if t.kind != "pp"]
    extra: list[str] = []
    for i, tok in enumerate(toks[:-1]):
        if tok.kind != "ident" or tok.text in _C_KEYWORDS or tok.text in known:
            continue
        if i > 0 and toks[i - 1].text in ("struct", "union", "enum"):
            continue
        nxt = toks[i + 1]
        if nxt.kind == "ident" or nxt.text == "*":
            extra.append(tok.text)
            known.add(tok.text)
    source = _BASE_TYPEDEFS + "".join(f"typedef int {n};" for n in extra) + decl
    try:
        return c_parser.CParser().parse(source, "<decl>")
    except c_parser.ParseError as err:
        raise UserError(f"cannot parse declaration '{decl[:80]}': {err}") from err


def parse_prototype(function_text: str) -> Prototype:
    """Name, return type and parameters of a function definition or prototype."""
    head = _function_head(function_text)
    ast = _parse(_declaration_text(head) + ";")
    decl = ast.ext[-1]
    if not isinstance(decl, c_ast.Decl) or not isinstance(decl.type, c_ast.FuncDecl):
        raise UserError(f"not a function declaration: {head[:80]}")
    func = decl.type
    params: list[Param] = []
    if func.args is not None:
        for p in func.args.params:
            if isinstance(p, c_ast.EllipsisParam):
                params.append(Param("...", "..."))
                continue
            ctype = _type_text(p.type)
            if ctype == "void" and p.name is None:
                continue
            params.append(Param(p.name or "", ctype))
    params_text = head[head.index("(", head.index(decl.name)) + 1: head.rindex(")")]
    return Prototype(decl.name, _type_text(func.type), tuple(params), params_text.strip())


def _function_head(text: str) -> str:
    """Text of a definition up to its body, or of a prototype without ';'."""
    toks = ctext.tokenize(text)
    depth = 0
    for tok in toks:
        if tok.kind == "punct" and tok.text == "(":
            depth += 1
        elif tok.kind == "punct" and tok.text == ")":
            depth -= 1
        elif tok.kind == "punct" and tok.text in "{;" and depth == 0:
            return text[: tok.start]
    return text


def parse_struct(text: str, tag: str) -> tuple[Field, ...]:
    """Fields of `struct tag { ... }` in declaration text."""
    ast = _parse(_declaration_text(text))
    for ext in ast.ext:
        struct = _find_struct(ext, tag)
        if struct is not None and struct.decls is not None:
            conditions = _field_conditions(text)
            return tuple(replace(f, conditions=conditions.get(f.name, ()))
                         for f in (_field(d) for d in struct.decls))
    raise UserError(f"struct {tag} not found in its declaration")


def _field_conditions(text: str) -> dict[str, tuple[str, ...]]:
    """Field name -> the preprocessor lines (opening #if and any #elif/#else
    passed) that enclose its declaration; one #endif closes each level."""
    open_levels: list[list[str]] = []
    found: dict[str, tuple[str, ...]] = {}
    last_ident: str | None = None
    depth = 0
    for tok in ctext.tokenize(text):
        if tok.kind == "pp":
            directive = tok.text.lstrip()[1:].lstrip().split(None, 1)[0] if \
                tok.text.strip() != "#" else ""
            if directive in ("if", "ifdef", "ifndef"):
                open_levels.append([tok.text.strip()])
            elif directive in ("elif", "else") and open_levels:
                open_levels[-1].append(tok.text.strip())
            elif directive == "endif" and open_levels:
                open_levels.pop()
            continue
        if tok.text == "{":
            depth += 1
        elif tok.text == "}":
            depth -= 1
        elif tok.kind == "ident":
            last_ident = tok.text
        elif tok.text in (";", "[", ":", ",") and depth == 1 and last_ident and \
                last_ident not in found and open_levels:
            found[last_ident] = tuple(line for level in open_levels for line in level)
        if tok.text in (";", ","):
            last_ident = None
    return found


def _find_struct(node: Any, tag: str) -> c_ast.Struct | None:
    if isinstance(node, c_ast.Struct) and node.name == tag and node.decls is not None:
        return node
    for _, child in node.children():
        found = _find_struct(child, tag)
        if found is not None:
            return found
    return None


def _field(decl: c_ast.Decl) -> Field:
    t = decl.type
    ctype = _type_text(t)
    if isinstance(t, c_ast.ArrayDecl):
        kind: FieldKind = "flexible_array" if t.dim is None else "array"
        return Field(decl.name, ctype, kind, _type_text(t.type))
    if isinstance(t, c_ast.PtrDecl):
        if isinstance(t.type, c_ast.FuncDecl):
            return Field(decl.name, ctype, "function_pointer")
        return Field(decl.name, ctype, "pointer", _type_text(t.type))
    if isinstance(t, c_ast.TypeDecl) and isinstance(t.type, c_ast.Struct | c_ast.Union):
        return Field(decl.name, ctype, "struct")
    return Field(decl.name, ctype, "scalar")


def _type_text(node: Any) -> str:
    if isinstance(node, c_ast.TypeDecl):
        quals = " ".join(node.quals)
        inner = node.type
        if isinstance(inner, c_ast.IdentifierType):
            base = " ".join(inner.names)
        elif isinstance(inner, c_ast.Struct | c_ast.Union | c_ast.Enum):
            kw = {c_ast.Struct: "struct", c_ast.Union: "union", c_ast.Enum: "enum"}[type(inner)]
            base = f"{kw} {inner.name}"
        else:
            base = "?"
        return f"{quals} {base}".strip()
    if isinstance(node, c_ast.PtrDecl):
        quals = " ".join(node.quals)
        return f"{_type_text(node.type)} *{(' ' + quals) if quals else ''}".rstrip()
    if isinstance(node, c_ast.ArrayDecl):
        return f"{_type_text(node.type)}[]"
    if isinstance(node, c_ast.FuncDecl):
        return f"{_type_text(node.type)}(*)()"
    if isinstance(node, c_ast.Typename):
        return _type_text(node.type)
    return "?"

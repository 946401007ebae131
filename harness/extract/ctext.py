"""Split kernel C source into top-level items, verbatim.

pycparser cannot read kernel source before preprocessing, and the shim must
compile the functions exactly as written, so extraction works on text: a
small lexer finds comments, strings and preprocessor lines, and a splitter
cuts the file into top-level items (function definitions, declarations,
macro definitions) remembering the #if/#ifdef nesting each one sits in.
Each item keeps the original text byte for byte and the line it starts on,
so the shim can emit `#line` directives that point back at the real file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

TokenKind = Literal["ident", "number", "string", "char", "punct", "pp"]

# Identifiers that are attributes or storage annotations in kernel code, never
# names of the thing being declared.
ANNOTATIONS = frozenset(
    {
        "__init", "__initdata", "__initconst", "__read_mostly", "__exit",
        "__cpuinit", "__cpuinitdata", "__devinit", "__meminit", "__ref",
        "__always_inline", "__inline", "inline", "__must_check", "__user",
        "__percpu", "__iomem", "__cacheline_aligned", "____cacheline_aligned",
        "____cacheline_aligned_in_smp", "__cacheline_aligned_in_smp", "__maybe_unused",
        "__used", "__weak", "noinline", "notrace", "__rcu", "__ro_after_init",
        "__refdata", "__aligned", "__attribute__", "__packed", "asmlinkage",
        "static", "extern", "const", "volatile", "register", "auto",
        "restrict", "__restrict", "__noreturn", "__cold", "__visible",
        "__always_unused", "__nocapture", "__init_or_module", "__initdata_or_module",
    }
)

# Top-level macro invocations that annotate an existing symbol rather than
# define one; they must never be pulled in as the definition of that symbol.
ANNOTATION_MACROS = frozenset(
    {
        "EXPORT_SYMBOL", "EXPORT_SYMBOL_GPL", "EXPORT_PER_CPU_SYMBOL",
        "EXPORT_PER_CPU_SYMBOL_GPL", "early_param", "__setup", "core_initcall",
        "subsys_initcall", "module_init", "module_exit", "late_initcall",
        "postcore_initcall", "arch_initcall", "fs_initcall", "device_initcall",
        "pure_initcall", "MODULE_LICENSE", "EXPORT_SYMBOL_NS_GPL",
    }
)

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>[ \t\f\v]+|\n)
  | (?P<comment>/\*.*?\*/|//[^\n]*)
  | (?P<string>"(?:\\.|[^"\\\n])*")
  | (?P<char>'(?:\\.|[^'\\\n])*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>\.?[0-9](?:[eEpP][+-]|[A-Za-z0-9_.])*)
  | (?P<punct>\.\.\.|<<=|>>=|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^]=|\#\#|.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Conditional:
    """One open #if level: the directives that lead to the branch we are in.

    `lines` holds the opening directive and any #elif/#else passed on the
    way, so re-emitting them verbatim (followed by #endif) reproduces the
    branch without evaluating the condition ourselves: the compiler decides
    with the shim's configuration.
    """

    lines: tuple[str, ...]


ItemKind = Literal["function", "declaration", "macro", "undef", "statement"]


@dataclass(frozen=True)
class Item:
    kind: ItemKind
    path: str
    text: str
    line: int
    names: frozenset[str]
    refs: frozenset[str]
    conditions: tuple[Conditional, ...] = ()
    is_prototype: bool = False

    @property
    def name(self) -> str:
        """Main name, for messages and listings."""
        return min(self.names) if self.names else f"<{self.kind}@{self.line}>"


@dataclass
class SourceFile:
    path: str
    items: list[Item] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    guard: str | None = None


_PP_START = re.compile(r"[ \t]*#")


def tokenize(text: str) -> list[Token]:
    """Tokens of C text; preprocessor lines (with continuations) are one token."""
    tokens: list[Token] = []
    pos = 0
    at_line_start = True
    length = len(text)
    while pos < length:
        if at_line_start:
            m = _PP_START.match(text, pos)
            if m:
                end = _pp_line_end(text, pos)
                tokens.append(Token("pp", text[pos:end], pos, end))
                pos = end
                continue
        m = _TOKEN_RE.match(text, pos)
        if m is None:  # pragma: no cover - the punct branch matches any char
            raise ValueError(f"cannot tokenize at offset {pos}")
        kind = m.lastgroup
        value = m.group()
        if kind == "ws":
            at_line_start = value == "\n"
        elif kind == "comment":
            # A comment does not end the "start of line" state for '#'.
            if "\n" in value:
                at_line_start = False
        else:
            at_line_start = False
            tokens.append(Token(kind, value, m.start(), m.end()))  # type: ignore[arg-type]
        pos = m.end()
    return tokens


def _pp_line_end(text: str, pos: int) -> int:
    """End of a preprocessor line: honours backslash continuation and comments."""
    i = pos
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] == "\n":
            i += 2
            continue
        if c == "/" and i + 1 < n and text[i + 1] == "*":
            close = text.find("*/", i + 2)
            i = n if close < 0 else close + 2
            continue
        if c == "\n":
            return i
        i += 1
    return n


def _directive(pp_text: str) -> tuple[str, str]:
    m = re.match(r"\s*#\s*([A-Za-z_]*)\s*(.*)", pp_text, re.DOTALL)
    if not m:
        return "", ""
    return m.group(1), m.group(2)


def _macro_name(rest: str) -> str | None:
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)", rest)
    return m.group(1) if m else None


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def split(text: str, path: str) -> SourceFile:
    """Cut a C file into top-level items with their conditional context."""
    tokens = tokenize(text)
    result = SourceFile(path)
    stack: list[Conditional] = []
    pending: list[Token] = []
    depth = 0
    guard = _include_guard(tokens)
    result.guard = guard

    def close_item(end: int) -> None:
        start = pending[0].start
        item = _classify(pending, text[start:end], path, _line_of(text, start), tuple(stack))
        if item is not None:
            result.items.append(item)
        pending.clear()

    for tok in tokens:
        if tok.kind == "pp" and not pending:
            _directive_at_top(tok, text, path, stack, result, guard)
            continue
        pending.append(tok)
        if tok.kind != "punct":
            continue
        if tok.text in "([{":
            depth += 1
        elif tok.text in ")]}":
            depth -= 1
            if depth == 0 and tok.text == "}" and _is_function_body(pending):
                close_item(tok.end)
        elif tok.text == ";" and depth == 0:
            close_item(tok.end)
    return result


def _directive_at_top(
    tok: Token,
    text: str,
    path: str,
    stack: list[Conditional],
    result: SourceFile,
    guard: str | None,
) -> None:
    name, rest = _directive(tok.text)
    line = _line_of(text, tok.start)
    if name in ("if", "ifdef", "ifndef"):
        if guard is not None and name == "ifndef" and _macro_name(rest) == guard and not stack:
            # The include guard wraps everything; re-emitting it around each
            # item would hide every item after the first.
            stack.append(Conditional(()))
        else:
            stack.append(Conditional((tok.text,)))
    elif name in ("elif", "else"):
        if stack:
            top = stack.pop()
            stack.append(Conditional((*top.lines, tok.text)))
    elif name == "endif":
        if stack:
            stack.pop()
    elif name == "include":
        result.includes.append(rest.strip())
    elif name == "define":
        macro = _macro_name(rest)
        if macro is None or macro == guard:
            return
        body_tokens = tokenize(rest[len(macro):])
        refs = frozenset(t.text for t in body_tokens if t.kind == "ident") - {macro}
        result.items.append(
            Item("macro", path, tok.text, line, frozenset({macro}), refs, tuple(stack))
        )
    elif name == "undef":
        macro = _macro_name(rest)
        if macro:
            result.items.append(
                Item("undef", path, tok.text, line, frozenset(), frozenset({macro}), tuple(stack))
            )


def _include_guard(tokens: list[Token]) -> str | None:
    """The header's include guard macro, if the file opens with one."""
    pps = [t for t in tokens[:2]]
    if len(pps) < 2 or pps[0].kind != "pp" or pps[1].kind != "pp":
        return None
    d0, r0 = _directive(pps[0].text)
    d1, r1 = _directive(pps[1].text)
    if d0 == "ifndef" and d1 == "define" and _macro_name(r0) == _macro_name(r1):
        return _macro_name(r0)
    return None


def _is_function_body(pending: list[Token]) -> bool:
    """True when the first top-level '{' of the item opens a function body."""
    depth = 0
    prev: Token | None = None
    for tok in pending:
        if tok.kind == "pp":
            continue
        if tok.kind == "punct" and tok.text == "{" and depth == 0:
            return prev is not None and (
                (prev.kind == "punct" and prev.text == ")")
                or (prev.kind == "ident" and prev.text in ANNOTATIONS)
            )
        if tok.kind == "punct" and tok.text in "([{":
            depth += 1
        elif tok.kind == "punct" and tok.text in ")]}":
            depth -= 1
        elif tok.kind == "punct" and tok.text == "=" and depth == 0:
            return False
        prev = tok
    return False


def _classify(
    toks: list[Token], text: str, path: str, line: int, stack: tuple[Conditional, ...]
) -> Item | None:
    code = [t for t in toks if t.kind != "pp"]
    if not code:
        return None
    idents = frozenset(t.text for t in code if t.kind == "ident")
    if code[-1].text == "}":
        names = _declarator_names(code, function=True)
        return Item("function", path, text, line, names, idents - names, stack)
    first = code[0].text
    if first == "typedef":
        names = _typedef_names(code)
        return Item("declaration", path, text, line, names, idents - names, stack)
    macro_call = _annotation_or_macro_decl(code)
    if macro_call is not None:
        names = macro_call
        return Item("statement" if not names else "declaration", path, text, line,
                    names, idents - names, stack)
    names = _declarator_names(code, function=False)
    names |= _tag_and_enum_names(code)
    prototype = _is_prototype(code)
    return Item("declaration", path, text, line, names, idents - names, stack, prototype)


def _annotation_or_macro_decl(code: list[Token]) -> frozenset[str] | None:
    """Names defined by `MACRO(name, ...);` items, or empty for annotations.

    Returns None when the item is not a top-level macro invocation.
    """
    idx = 0
    while idx < len(code) and code[idx].kind == "ident" and code[idx].text in ANNOTATIONS:
        idx += 1
    if idx + 1 >= len(code) or code[idx].kind != "ident" or code[idx + 1].text != "(":
        return None
    callee = code[idx].text
    if callee in ANNOTATION_MACROS:
        return frozenset()
    if callee.startswith(("DEFINE_PER_CPU", "DECLARE_PER_CPU", "DEFINE_EARLY_PER_CPU")):
        # (type, name): the type may be several words, the name is last.
        close = _skip_group(code, idx + 1)
        inner = [t for t in code[idx + 2:close - 1] if t.kind == "ident"]
        return frozenset({inner[-1].text}) if inner else frozenset()
    if callee.isupper() or callee.startswith("DEFINE_") or callee.startswith("DECLARE_"):
        for tok in code[idx + 2:]:
            if tok.kind == "ident":
                return frozenset({tok.text})
        return frozenset()
    return None


def _is_prototype(code: list[Token]) -> bool:
    """A declaration whose first top-level declarator is a function."""
    depth = 0
    for i, tok in enumerate(code):
        if tok.kind != "punct":
            continue
        if tok.text == "(" and depth == 0:
            return i > 0 and code[i - 1].kind == "ident" and code[i - 1].text not in ANNOTATIONS
        if tok.text in "([{":
            if tok.text == "{":
                return False
            depth += 1
        elif tok.text in ")]}":
            depth -= 1
        elif tok.text in "=;" and depth == 0:
            return False
    return False


def _declarator_names(code: list[Token], function: bool) -> frozenset[str]:
    """Names declared at the top level of a declaration or definition."""
    names: set[str] = set()
    depth = 0
    last_ident: str | None = None
    i = 0
    n = len(code)
    while i < n:
        tok = code[i]
        if tok.kind == "ident":
            if tok.text not in ANNOTATIONS and depth == 0:
                last_ident = tok.text
            i += 1
            continue
        t = tok.text
        if t == "(" and depth == 0:
            # `(*name)` declares a pointer to function; otherwise the
            # identifier before '(' is a function name.
            if i + 2 < n and code[i + 1].text == "*" and code[i + 2].kind == "ident":
                names.add(code[i + 2].text)
                if function:
                    return frozenset(names)
                i = _skip_group(code, i)
                last_ident = None
                continue
            if last_ident is not None:
                names.add(last_ident)
                if function:
                    return frozenset(names)
            i = _skip_group(code, i)
            last_ident = None
            continue
        if t in ("[", "=", ",", ";") and depth == 0:
            if last_ident is not None and (True):
                names.add(last_ident)
            last_ident = None
            if t in ("[", "="):
                i = _skip_to_separator(code, i)
                continue
        if t == "{" and depth == 0:
            i = _skip_group(code, i)
            last_ident = None
            continue
        i += 1
    return frozenset(n for n in names if n not in ("struct", "union", "enum"))


def _skip_group(code: list[Token], i: int) -> int:
    """Index just past the bracket group opening at code[i]."""
    depth = 0
    while i < len(code):
        t = code[i].text
        if code[i].kind == "punct" and t in "([{":
            depth += 1
        elif code[i].kind == "punct" and t in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _skip_to_separator(code: list[Token], i: int) -> int:
    """From '[' or '=', skip to the next top-level ',' or ';'."""
    depth = 0
    while i < len(code):
        tok = code[i]
        if tok.kind == "punct":
            if tok.text in "([{":
                depth += 1
            elif tok.text in ")]}":
                depth -= 1
            elif tok.text in ",;" and depth == 0:
                return i
        i += 1
    return i


def _tag_and_enum_names(code: list[Token]) -> frozenset[str]:
    """`struct foo {`, `enum bar {A, B}` define the tag and the constants."""
    names: set[str] = set()
    for i, tok in enumerate(code):
        if tok.text in ("struct", "union", "enum") and i + 2 < len(code):
            if code[i + 1].kind == "ident" and code[i + 2].text == "{":
                names.add(code[i + 1].text)
                if tok.text == "enum":
                    names |= _enum_constants(code, i + 2)
            elif code[i + 1].text == "{" and tok.text == "enum":
                names |= _enum_constants(code, i + 1)
    return frozenset(names)


def _enum_constants(code: list[Token], brace: int) -> set[str]:
    names: set[str] = set()
    depth = 0
    expect_name = True
    for tok in code[brace:]:
        if tok.kind == "punct" and tok.text in "([{":
            depth += 1
            if depth == 1:
                expect_name = True
            continue
        if tok.kind == "punct" and tok.text in ")]}":
            depth -= 1
            if depth == 0:
                break
            continue
        if depth == 1 and tok.kind == "ident" and expect_name:
            names.add(tok.text)
            expect_name = False
        elif depth == 1 and tok.text == ",":
            expect_name = True
    return names


def _typedef_names(code: list[Token]) -> frozenset[str]:
    names = set(_tag_and_enum_names(code))
    # `typedef ret (*name)(args);` and `typedef ret (name)(args);`
    for i, tok in enumerate(code):
        if tok.text == "(" and i + 1 < len(code):
            j = i + 1
            if code[j].text == "*":
                j += 1
            if j + 1 < len(code) and code[j].kind == "ident" and code[j + 1].text == ")":
                names.add(code[j].text)
                return frozenset(names)
            break
    # Otherwise the last identifier outside any brackets.
    depth = 0
    last: str | None = None
    for tok in code[1:]:
        if tok.kind == "punct" and tok.text in "([{":
            depth += 1
        elif tok.kind == "punct" and tok.text in ")]}":
            depth -= 1
        elif tok.kind == "ident" and depth == 0 and tok.text not in ANNOTATIONS:
            last = tok.text
    if last is not None:
        names.add(last)
    return frozenset(names)


def identifiers(text: str) -> frozenset[str]:
    """All identifiers in a piece of C text (comments and strings excluded)."""
    return frozenset(t.text for t in tokenize(text) if t.kind == "ident")

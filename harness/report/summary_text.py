"""A run's summary for a reviewer: what was tested, the verdict, then a few
lines per unexpected difference, declared change and triage entry - its
cases, the comparisons it was seen in, the fields it touches, its smallest
example and the command that reruns it.

The terminal summary and the review email are laid out by templates
(run_summary.txt.j2, email.txt.j2) from the same entries, and every line
is wrapped at word boundaries, never cut: a path, an id or a command keeps
every character (a word longer than the width stands alone on its line).
The field-by-field table is run --verbose's; report.json has everything.
"""

from __future__ import annotations

import re
import shlex
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2

from harness.campaign import runner
from harness.campaign.reproduce import Reproducer
from harness.core.paths import TEMPLATES
from harness.core.verdict import Comparison, FindingKind, Verdict
from harness.judge import classify


@dataclass(frozen=True)
class SourceId:
    """A side as a reviewer can name it again: its label, then its full
    ids (a full commit, a package version and its .deb's sha256, the
    sha256 of a directory's files) and the subjects of its patches."""

    side: str
    label: str
    ids: tuple[str, ...] = ()
    patches: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"side": self.side, "label": self.label, "ids": list(self.ids),
                "patches": list(self.patches)}


@dataclass(frozen=True)
class RunInfo:
    """What a run tested, as its reports state it."""

    sides: Sequence[str]
    seed: int
    generated: int
    corpus: int
    extra: int
    declared_file: str | None
    nr_cpus: Sequence[int]
    scenarios: Sequence[str]
    # Each side by its full ids; "" / () where the caller does not know them.
    tested: Sequence[SourceId] = ()
    triage_file: str | None = None
    # Scenarios a side boots as their successor ("lpage runs as embed on old, new").
    scenario_notes: Sequence[str] = ()
    # "percpu-diff repro SOURCES": with a case's options, reruns it.
    rerun: str = ""
    out: str = ""  # the run directory

    def cases_text(self, total: int) -> str:
        return (f"{total} = {self.generated} generated (seed {self.seed}) + {self.corpus} "
                f"named from cases/ + {self.extra} given")

    def scenarios_text(self) -> str:
        return "; ".join([", ".join(self.scenarios), *self.scenario_notes])

    def judged_by(self) -> list[str]:
        return [self.declared_file or "no declared changes",
                self.triage_file or "the default triage file"]

    def to_json(self) -> dict[str, object]:
        """report.json's "tested": what the run tested, for a machine."""
        return {"sources": [s.to_json() for s in self.tested], "nr_cpus": list(self.nr_cpus),
                "scenarios": list(self.scenarios), "scenario_notes": list(self.scenario_notes),
                "declared": self.declared_file, "triage": self.triage_file}


@dataclass
class Entry:
    """One declared change, triage entry or unexpected difference of a run."""

    verdict: Verdict
    name: str
    cases: str  # "321 cases", or "18 to 19 cases" for an unexpected group
    comparisons: str = ""
    fields: list[str] = field(default_factory=list)
    example_case: str = ""
    example: str = ""
    command: str = ""  # the reproducer, or the example's case options
    note: str = ""  # how the reproducer was found
    further: str = ""  # what cut its shrink short, and how to go further


# The order a reviewer reads in: what to look at first.
ORDER = (Verdict.UNEXPECTED, Verdict.DECLARED, Verdict.TRIAGED)


def entries(summary: runner.Summary, reproducers: Sequence[Reproducer],
            options_of: Callable[[str], str] | None = None) -> list[Entry]:
    """Unexpected groups first (those sharing a reproducer, or without one
    sharing their smallest case, are one finding), then each declared
    change and each triage entry, by cases."""
    found = _unexpected(summary, reproducers, options_of)
    for verdict in ORDER[1:]:
        by_rule: dict[str, list[tuple[FindingKind, runner.KindHits]]] = {}
        for kind, hits in summary.by_kind.items():
            if kind.verdict is verdict:
                by_rule.setdefault(kind.rule or "", []).append((kind, hits))
        ranked = sorted(by_rule.items(), key=lambda item: -summary.rule_cases[verdict, item[0]])
        for rule, kinds in ranked:
            entry = _entry(summary, verdict, rule, kinds)
            entry.cases = _cases(summary.rule_cases[verdict, rule])
            if options_of is not None:
                entry.command = options_of(entry.example_case)
            found.append(entry)
    return found


def _unexpected(summary: runner.Summary, reproducers: Sequence[Reproducer],
                options_of: Callable[[str], str] | None) -> list[Entry]:
    by_signature = {r.signature: r for r in reproducers}
    groups: dict[str, list[tuple[FindingKind, runner.KindHits]]] = {}
    for kind, hits in summary.by_kind.items():
        if kind.verdict is Verdict.UNEXPECTED:
            repro = by_signature.get(kind.signature)
            # one finding: what shrank to one case, or, unshrunk, shows smallest in one
            key = f"repro {repro.command}" if repro else f"case {hits.smallest_case}"
            groups.setdefault(key, []).append((kind, hits))
    found = []
    for n, kinds in enumerate(sorted(groups.values(), key=lambda k: -max(
            h.cases for _, h in k)), 1):
        entry = _entry(summary, Verdict.UNEXPECTED, f"#{n}", kinds)
        counts = sorted(h.cases for _, h in kinds)
        entry.cases = _cases(counts[-1]) if counts[0] == counts[-1] else \
            f"{counts[0]} to {counts[-1]} cases"
        repro = next((by_signature[k.signature] for k, _ in kinds
                      if k.signature in by_signature), None)
        if repro is not None:
            entry.command, entry.note, entry.further = repro.command, repro.note(), \
                repro.further()
        elif options_of is not None:
            entry.command = options_of(entry.example_case)
        found.append(entry)
    return found


def _entry(summary: runner.Summary, verdict: Verdict, name: str,
           kinds: list[tuple[FindingKind, runner.KindHits]]) -> Entry:
    """An entry of these kinds, its example the smallest case of any of them."""
    comparisons = sorted({h.first.comparison for _, h in kinds}, key=list(Comparison).index)

    def size(item: tuple[FindingKind, runner.KindHits]) -> tuple[Any, ...]:
        hits = item[1]
        key = summary.size_of(hits.smallest_case) if summary.size_of else ()
        shown = hits.smallest if hits.smallest is not None else hits.first
        # of the smallest case's findings, one whose values show whole
        described = value_text(shown.left) != repr(shown.left) or \
            value_text(shown.right) != repr(shown.right)
        return (*key, described, list(Comparison).index(hits.first.comparison))

    hits = min(kinds, key=size)[1]
    finding = hits.smallest if hits.smallest is not None else hits.first
    return Entry(verdict, name, "", comparisons_text(comparisons),
                 sorted({_field(kind) for kind, _ in kinds}),
                 hits.smallest_case or hits.first_case, example_text(finding))


def _field(kind: FindingKind) -> str:
    return kind.signature.split(":", 1)[1]


def _cases(n: int) -> str:
    return f"{n} case{'s' if n != 1 else ''}"


def example_text(finding: classify.Finding) -> str:
    """'bootmem.fc_allocs 3 -> 4 (kernel)' for old against new; 'dump:
    kernel X, model Y (old side)' for a side's kernel against its model.
    The values are whole, or described when long."""
    left, right = value_text(finding.left), value_text(finding.right)
    if finding.comparison is Comparison.KERNELS_OLD_VS_NEW:
        return f"{finding.field} {left} -> {right} (kernel)"
    if finding.comparison is Comparison.MODELS_OLD_VS_NEW:
        return f"{finding.field} {left} -> {right} (model)"
    return f"{finding.field}: kernel {left}, model {right} ({finding.comparison} side)"


def comparisons_text(comparisons: Sequence[Comparison]) -> str:
    """'kernel/model: old, new; old/new: kernel, model'."""
    sides = [str(c) for c in comparisons if c in (Comparison.OLD_KERNEL_VS_MODEL,
                                                  Comparison.NEW_KERNEL_VS_MODEL)]
    across = [{Comparison.KERNELS_OLD_VS_NEW: "kernel", Comparison.MODELS_OLD_VS_NEW: "model"}[c]
              for c in comparisons if c not in (Comparison.OLD_KERNEL_VS_MODEL,
                                                Comparison.NEW_KERNEL_VS_MODEL)]
    return "; ".join(([f"kernel/model: {', '.join(sides)}"] if sides else [])
                     + ([f"old/new: {', '.join(across)}"] if across else []))


def value_text(value: object, limit: int = 60) -> str:
    """A value whole when short; else what it is and how big (report.json
    has it whole): a value is never cut."""
    text = repr(value)
    if len(text) <= limit:
        return text
    if isinstance(value, str):
        return f"a text of {len(value)} characters"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return f"a table of {len(value)} keys"
    return f"a value of {len(text)} characters"


def field_list(names: Iterable[str]) -> str:
    """Field paths, those under one name brought together, at every level:
    'bootmem.{fc_allocs, vm_areas[*]}, state.first_chunk.{nr_pages, slot}'."""
    unique = set(names)
    # a list and its items are one field to a reader: "groups" goes with "groups[*]"
    shown = {n for n in unique if not any(o.startswith(n + "[") for o in unique)}
    return ", ".join(_grouped(sorted({tuple(n.split(".")) for n in shown})))


def _grouped(paths: Sequence[tuple[str, ...]]) -> list[str]:
    groups: dict[str, list[tuple[str, ...]]] = {}
    for path in paths:
        groups.setdefault(path[0], []).append(path[1:])
    parts = []
    for head, rests in groups.items():
        if () in rests:
            parts.append(head)
        below = _grouped([r for r in rests if r])
        if len(below) == 1:
            parts.append(f"{head}.{below[0]}")
        elif below:
            parts.append(f"{head}.{{{', '.join(below)}}}")
    return parts


def wrap(text: str, width: int, indent: str = "", first: str | None = None) -> list[str]:
    """`text` on lines of at most `width` columns, broken at spaces only: a
    word longer than a line stands alone on one, whole."""
    return textwrap.wrap(text, width, initial_indent=indent if first is None else first,
                         subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False) or [indent if first is None else first]


def wrap_command(command: str, width: int, indent: str) -> list[str]:
    """A shell command on lines of at most `width` columns, continued with
    backslashes and broken between words (an option beside its value where
    they fit), so that it pastes as it is.  A word too long for a line is
    continued on lines of its own from the first column, where the shell
    joins its pieces again (a quoted piece stays quoted)."""
    lexer = shlex.shlex(command, posix=False)
    lexer.whitespace_split = True
    room = width - len(indent) - 4
    units: list[str] = []
    for word in lexer:
        if units and units[-1].startswith("-") and " " not in units[-1] and \
                not word.startswith("-") and len(units[-1]) + 1 + len(word) <= room:
            units[-1] += " " + word
        else:
            units.append(word)
    lines: list[str] = []
    line = indent
    for unit in units:
        if line.strip() and len(line) + 1 + len(unit) + 2 > width:
            lines.append(line + " \\")
            line = indent + "  "
        pieces = _pieces(unit, room) if len(unit) > room else [unit]
        line = line + (" " if line.strip() else "") + pieces[0]
        for piece in pieces[1:]:
            lines.append(line + "\\")
            line = piece
    return [*lines, line]


def _pieces(word: str, room: int) -> list[str]:
    """A long shell word as pieces the shell joins again when each ends in a
    backslash-newline and the next starts its line: split after a ';', ',' or
    '/', each piece of a quoted word quoted.  [word] if it cannot be split."""
    quoted = len(word) > 2 and word[0] == word[-1] == "'" and word.count("'") == 2
    body = word[1:-1] if quoted else word
    if not quoted and ("'" in word or '"' in word or "\\" in word):
        return [word]
    pieces: list[str] = []
    for part in re.split(r"(?<=[;,/])", body):
        if pieces and len(pieces[-1]) + len(part) <= room - 2:
            pieces[-1] += part
        else:
            pieces.append(part)
    return [f"'{piece}'" if quoted else piece for piece in pieces if piece]


_STRING = re.compile(r'(?P<key>[A-Za-z0-9_.]+) = "(?P<body>.*)"')
_ARRAY = re.compile(r"(?P<key>[A-Za-z0-9_.]+) = \[(?P<body>.*)\]")


def wrap_toml(line: str, width: int) -> list[str]:
    """A TOML line on lines of at most `width` columns where it can be, and
    still TOML: an array over several lines, a long string as a multi-line
    basic string whose line-ending backslashes join its lines again."""
    if len(line) <= width:
        return [line]
    string, array = _STRING.fullmatch(line), _ARRAY.fullmatch(line)
    if string is not None and '"""' not in string["body"]:
        body = wrap(string["body"], width - 2, "  ")
        # a line's own trailing space is part of the text: kept before the "\"
        return [f'{string["key"]} = """\\'] + [f"{ln} \\" for ln in body[:-1]] + \
            [f'{body[-1]}"""']
    if array is not None and '"' not in array["body"]:
        items = wrap(array["body"], width - 2, "  ")
        return [f"{array['key']} = [", *items, "]"]
    return [line]


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, autoescape=False, keep_trailing_newline=True)
    # the first line starts at the margin unless `first` says otherwise
    env.filters["wrap"] = lambda text, width, indent="", first="": "\n".join(
        wrap(str(text), width, indent, first))
    env.filters["command"] = lambda text, width, indent="": "\n".join(
        wrap_command(str(text), width, indent))
    env.filters["toml"] = lambda text, width, prefix="": "\n".join(
        prefix + part for line in str(text).splitlines()
        for part in wrap_toml(line, width - len(prefix)))
    env.filters["fields"] = field_list
    env.filters["cases"] = _cases
    return env


def verdict_line(totals: dict[str, int]) -> str:
    """What the run says, first what a reviewer must look at."""
    counts = ", ".join(f"{totals[v]} {v}" for v in ("agree", "declared", "triaged"))
    unjudged = " and ".join(f"{totals[v]} {v}" for v in ("inconclusive", "failed") if totals[v])
    head = (f"verdict: UNEXPECTED differences in {totals['unexpected']} of "
            f"{totals['cases']} cases (below, first)") if totals["unexpected"] else \
        f"verdict: nothing unexpected; {totals['cases']} cases"
    tail = f"; {unjudged} not judged (below)" if unjudged else ""
    return f"{head}: {counts}{tail}"


def footer(info: RunInfo, summary: runner.Summary, verbose: bool = False) -> list[str]:
    """Whether the allocator paths agree, and where the rest is (--verbose
    names the cases whose findings were cut to size)."""
    lines = []
    if summary.paths:
        counters = list(summary.paths.values())
        same = all(c == counters[0] for c in counters)
        lines.append(f"arch flows: {len(set().union(*counters))} allocator paths in "
                     f"{sum(counters[0].values())} cases, "
                     + ("the same on every side" if same else "NOT the same on every side"))
    where = f" {info.out}/report.json" if info.out else " report.json"
    if verbose:
        lines.append(f"everything:{where}")
        return lines
    look = (f"; any case: percpu-diff show --run {shlex.quote(info.out)} CASE"
            if info.out else "")
    lines.append(f"detail: --verbose;{where}{look}")
    return lines


def terminal_text(info: RunInfo, summary: runner.Summary, found: Sequence[Entry],
                  width: int, verbose: bool = False) -> str:
    """The run's summary for a terminal `width` columns wide."""
    totals = summary.to_json()
    return environment().get_template("run_summary.txt.j2").render(
        info=info, entries=found, width=width, verdict=verdict_line(totals), verbose=verbose,
        cases_text=info.cases_text(totals["cases"]), scenarios_text=info.scenarios_text(),
        judged_by=info.judged_by(), footer=footer(info, summary, verbose))

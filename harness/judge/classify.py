"""Classify every difference of a differential run.

Four comparisons per case: each side's real code against its model, and
old against new for the real code and for the models.  Each difference is

* ``declared``: a change the patch says it makes, as a reviewer wrote it
  down in a declared-changes file (cases/declared/*.toml): which fields may
  change, in which scenarios, and to exactly what on each side;
* ``triaged``: a known kernel/model disagreement (cases/triage.toml); an
  old/new change is triaged when one side's value is a triaged one;
* ``unexpected``: anything else - what the reviewer has to read.

A case with no difference at all is ``agree``; one whose real code was
stopped by the backstop (blocked) or the memory limit is ``inconclusive``,
and one that broke the harness ``failed``: such a case keeps no findings
(a kernel that loops, a "hang", is a kernel outcome and compared like a
BUG).
"""

from __future__ import annotations

import ast
import operator
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from harness.core import attempts, generation
from harness.core.cases import Case
from harness.core.errors import UserError
from harness.core.fields import check_path
from harness.core.result import BootResult, JsonValue, handed_unit_size
from harness.core.verdict import Comparison, FindingKind, Verdict, unjudged
from harness.judge import compare, triage

_INDEX = re.compile(r"\[[^]]*\]")


class FindingJson(TypedDict):
    comparison: str
    field: str
    left: JsonValue
    right: JsonValue
    label: str
    rule: str | None


@dataclass(frozen=True)
class Finding:
    """One classified difference."""

    comparison: Comparison
    field: str
    left: JsonValue  # kernel (a side's kernel vs model) or the old side (old vs new)
    right: JsonValue  # model, or the new side
    label: Verdict  # declared, triaged or unexpected
    rule: str | None  # the declared change or triage entry

    @property
    def signature(self) -> str:
        """What makes two findings "the same difference": indices stripped."""
        return f"{self.comparison}:{_INDEX.sub('[*]', self.field)}"

    @property
    def kind(self) -> FindingKind:
        return FindingKind(self.label, self.signature, self.rule)

    def to_json(self) -> FindingJson:
        return {"comparison": self.comparison, "field": self.field, "left": self.left,
                "right": self.right, "label": self.label, "rule": self.rule}

    @staticmethod
    def from_json(data: FindingJson) -> Finding:
        return Finding(Comparison(data["comparison"]), data["field"], data["left"],
                       data["right"], Verdict(data["label"]), data["rule"])


# ------------------------------------------------------------ declared changes

_BINOPS: Mapping[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_CMPOPS: Mapping[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
}


def _evaluate(node: ast.AST, names: Mapping[str, object]) -> object:
    """A small, closed expression language: numbers, strings, None, names,
    + - * // %, comparisons, and/or/not, x if c else y, rank(cpu)."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, names)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise KeyError(node.id)
        return names[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_evaluate(node.left, names), _evaluate(node.right, names))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _CMPOPS:
        return _CMPOPS[type(node.ops[0])](_evaluate(node.left, names),
                                          _evaluate(node.comparators[0], names))
    if isinstance(node, ast.BoolOp):
        values = [_evaluate(v, names) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _evaluate(node.operand, names)
    if isinstance(node, ast.IfExp):
        branch = node.body if _evaluate(node.test, names) else node.orelse
        return _evaluate(branch, names)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        function = names.get(node.func.id)
        if callable(function):
            return function(*[_evaluate(a, names) for a in node.args])
    raise ValueError(f"not allowed in a declared change: {ast.dump(node)[:60]}")


@dataclass(frozen=True)
class FieldRule:
    pattern: re.Pattern[str]
    old: ast.Expression | None  # None: any value
    new: ast.Expression | None


@dataclass(frozen=True)
class DeclaredChange:
    id: str
    claim: str
    scenarios: tuple[str, ...]
    fields: tuple[FieldRule, ...]

    def explains(self, change: compare.Change, case: Case,
                 sides: Mapping[str, BootResult]) -> bool:
        if self.scenarios and not {case.scenario, *(attempts.allocator(case.scenario, r)
                                                     for r in sides.values())} \
                & set(self.scenarios):
            return False
        for rule in self.fields:
            m = rule.pattern.fullmatch(change.field)
            if not m:
                continue
            index = m.group("i") if "i" in rule.pattern.groupindex else None
            if all(self._holds(expr, value, case, sides[side], index)
                   for expr, value, side in ((rule.old, change.old, "old"),
                                             (rule.new, change.new, "new"))):
                return True
        return False

    @staticmethod
    def _holds(expr: ast.Expression | None, value: Any, case: Case,
               result: BootResult, index: str | None) -> bool:
        if expr is None:
            return True
        names = _names(case, result, index)
        try:
            return bool(_evaluate(expr, names) == value)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return False


def _names(case: Case, result: BootResult, index: str | None) -> dict[str, object]:
    ranks = {cpu: rank for rank, cpu in enumerate(case.possible)}
    state = result.get("state") or {}
    # A BUG leaves no state: the unit size the code was handed still holds.
    unit_size = state.get("unit_size") or handed_unit_size(result)
    names: dict[str, object] = {
        "NR_CPUS": case.nr_cpus, "nr_cpu_ids": case.possible[-1] + 1,
        "nr_possible": len(case.possible), "page_size": case.page_size,
        "scenario": attempts.allocator(case.scenario, result), "unit_size": unit_size,
        "rank": lambda cpu: ranks[cpu], "ABSENT": compare.ABSENT,
        "static_size": case.static_size, "reserved_size": case.reserved_size,
        "dyn_size": case.dyn_size, "atom_size": case.atom_size,
    }
    if index is not None and index.lstrip("-").isdigit():
        names["i"] = names["cpu"] = int(index)
    return names


def _pattern(field: str) -> re.Pattern[str]:
    """'state.unit_of_cpu[*]' -> a regex whose last [*] is captured as i."""
    parts = re.split(r"(\[\*\]|\*)", field)
    stars = sum(p == "[*]" for p in parts)
    out, seen = "", 0
    for part in parts:
        if part == "[*]":
            seen += 1
            out += r"\[(?P<i>[^]]*)\]" if seen == stars else r"\[[^]]*\]"
        elif part == "*":
            out += ".*"
        else:
            out += re.escape(part)
    return re.compile(out)


def load_declared(path: Path) -> list[DeclaredChange]:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise UserError(f"declared-changes file {path} does not exist") from err
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"declared-changes file {path} is not valid TOML: {err}") from err
    unknown_generations = [g for g in data.get("generations", ()) if g not in generation.names()]
    if unknown_generations:
        raise UserError(f"{path}: generation '{unknown_generations[0]}' unknown: use "
                        f"{', '.join(generation.names())} (harness/core/generations/)")
    changes: list[DeclaredChange] = []
    for n, raw in enumerate(data.get("change", []), 1):
        where = f"{path}: change {n}"
        unknown = sorted(set(raw) - {"id", "claim", "scenarios", "fields"})
        if unknown:
            raise UserError(f"{where}: unknown key '{unknown[0]}'")
        if not raw.get("id") or not str(raw.get("claim", "")).strip():
            raise UserError(f"{where}: needs an id and the claim it stands for, quoted from "
                            "the patch")
        if not raw.get("fields"):
            raise UserError(f"{where} ({raw['id']}): no fields: say which may change and how")
        rules = []
        for field, sides in raw["fields"].items():
            check_path(field, f"{where} ({raw['id']})")
            if not isinstance(sides, Mapping) or set(sides) - {"old", "new"}:
                raise UserError(f"{where} ({raw['id']}): field '{field}' needs "
                                "{ old = \"expr\", new = \"expr\" }")
            rules.append(FieldRule(_pattern(field), _parse(sides.get("old"), where, field),
                                   _parse(sides.get("new"), where, field)))
        changes.append(DeclaredChange(str(raw["id"]), " ".join(str(raw["claim"]).split()),
                                      tuple(str(s) for s in raw.get("scenarios", [])),
                                      tuple(rules)))
    return changes


def _parse(text: Any, where: str, field: str) -> ast.Expression | None:
    if text is None or text == "any":
        return None
    try:
        tree = ast.parse(str(text), mode="eval")
        _evaluate(tree, _probe_names())
    except KeyError as err:
        raise UserError(f"{where}: field '{field}': unknown name {err} in '{text}'") from err
    except (SyntaxError, ValueError) as err:
        raise UserError(f"{where}: field '{field}': bad expression '{text}': {err}") from err
    except (TypeError, ZeroDivisionError):
        pass  # depends on values only a real case has
    return tree


def _probe_names() -> dict[str, object]:
    case = Case("probe", possible=(0, 2))
    probe: BootResult = {"id": "probe", "outcome": {"kind": "ok"}, "log": "",
                         "state": {"unit_size": 4096}}
    return _names(case, probe, "0")


# ------------------------------------------------------------ classification

def judged(findings: Sequence[Finding], outcomes: Mapping[str, str]) -> tuple[Finding, ...]:
    """The findings a case is judged by: none when a side's kernel outcome
    is inconclusive.  The case is judged as a whole when it is tried again
    (--resume); until then a timeout is never a difference, shrunk or
    counted as one, and the table of differences agrees with the counts."""
    return () if unjudged(outcomes) is not None else tuple(findings)


@dataclass(frozen=True)
class SideTriage:
    """What one side's kernel/model triage explains: field -> entry, and the
    entry whose outcome makes that side's missing fields consequences."""

    fields: Mapping[str, str]
    consequences: str | None = None

    def explains(self, source: str, value: Any) -> str | None:
        for field, entry in self.fields.items():
            if field == source or field.startswith(source + ".") or \
                    source.startswith(field + ".") or field == "*":
                return entry
        if self.consequences and value == compare.ABSENT:
            return self.consequences
        return None


def side_triage(labelled: Sequence[triage.Labelled]) -> SideTriage:
    fields = {item.difference.field: item.entry.id for item in labelled if item.entry}
    cause = next((item.entry.id for item in labelled
                  if item.entry is not None and item.entry.consequences), None)
    return SideTriage(fields, cause)


def _side_field(neutral_field: str) -> str:
    """The kernel/model field a neutral field comes from."""
    base = neutral_field.split("[", 1)[0]
    if base == "state.unit_of_cpu":
        return "state.unit_map"
    if base.startswith("dump."):
        return "dump"
    if base.startswith("sizes."):
        return base.replace("sizes.", "setup_args.")
    return base


def classify_change(change: compare.Change, comparison: Comparison, case: Case,
                    sides: Mapping[str, BootResult],
                    triaged: Mapping[str, SideTriage],
                    declared: Sequence[DeclaredChange]) -> Finding:
    """An old/new change: declared if a rule says exactly this, triaged if
    either side's value is one its own triage explains."""
    rule = next((d for d in declared if d.explains(change, case, sides)), None)
    if rule is not None:
        return Finding(comparison, change.field, change.old, change.new, Verdict.DECLARED,
                       rule.id)
    source = _side_field(change.field)
    for side, value in (("old", change.old), ("new", change.new)):
        entry = triaged[side].explains(source, value) if side in triaged else None
        if entry is not None:
            return Finding(comparison, change.field, change.old, change.new, Verdict.TRIAGED,
                           entry)
    return Finding(comparison, change.field, change.old, change.new, Verdict.UNEXPECTED, None)


def find_declared(folder: Path, new_label: str, subjects: set[str],
                  generations: tuple[str, str] = ("", ""), old_label: str = ""
                  ) -> Path | None:
    """The declared-changes file whose `commit` the new side's label names, or
    whose `subject` is the subject of a patch on the new side, or whose
    `sides` name the two Debian kernels compared (debian:6.1, debian:6.12),
    or, for sides of two generations, whose `generations` are theirs (old,
    new): what changed between them, as the kernel's own history says."""
    for path in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError):
            continue
        commit, subject = str(data.get("commit", "")), str(data.get("subject", ""))
        if (commit and new_label.endswith("@" + commit)) or (subject and subject in subjects):
            return path
        named = tuple(data.get("sides", ()))
        if len(named) == 2 and tuple(label.split("=")[0] for label in (old_label, new_label)) \
                == named:
            return path
        if generations[0] != generations[1] and \
                tuple(data.get("generations", ())) == generations:
            return path
    return None

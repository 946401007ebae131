"""A timeline for people (two tables) and for machines (timeline.json)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table

from harness.campaign.timeline import FirstChange, StepResult
from harness.core.verdict import Verdict


def show(console: Console, results: Sequence[StepResult], changes: Sequence[FirstChange],
         commands: Sequence[str]) -> None:
    """The sources in order, each step's verdicts, then each field's first
    change with a command to see it."""
    # Sources are numbered and listed once: a tree's label is long, and in
    # a table column at 80 columns it would wrap a few letters a line.
    number = _numbered_sources(results)
    console.print("sources, in order:", markup=False)
    for label, n in number.items():
        console.print(f"  {n:2}  {label}", markup=False, highlight=False, soft_wrap=True)
    console.print(_steps_table(results, number))
    _show_declared(console, results)
    if not changes:
        console.print("the real code's results never changed along the timeline", markup=False)
        return
    # A line per field, not a table: field and rule names are long, and a
    # table at 80 columns folds them a few letters a line.
    console.print("where each field of the real code first changed:", markup=False)
    for step in dict.fromkeys(c.step for c in changes):
        console.print(f" step {step}:", markup=False, highlight=False)
        for change in (c for c in changes if c.step == step):
            rule = f" ({change.rule})" if change.rule else ""
            console.print(f"  {change.signature.split(':', 1)[1]}: {change.verdict}{rule}, "
                          f"{change.cases} cases, changed again {change.again} times, "
                          f"e.g. {change.example}", markup=False, highlight=False,
                          soft_wrap=True,
                          style="bold red" if change.verdict is Verdict.UNEXPECTED else None)
    shown = dict.fromkeys((c.step, c.example, command) for c, command in zip(
        changes, commands, strict=True))
    console.print("to see a change on its step's two sources:", markup=False)
    for step, example, command in shown:
        console.print(f"  step {step}, {example}: {command}", markup=False, highlight=False,
                      soft_wrap=True)


def _steps_table(results: Sequence[StepResult], number: dict[str, int]) -> Table:
    """A row per step; of the verdicts, those some step has (all are in
    timeline.json), so the table fits 80 columns."""
    counts = [r.summary.to_json() for r in results]
    shown = [v for v in Verdict
             if v in (Verdict.AGREE, Verdict.UNEXPECTED) or any(c[v] for c in counts)]
    steps = Table(title="percpu-diff timeline: each step, old -> new", box=box.SIMPLE_HEAD)
    for column in ("step", "old -> new", "cases", *shown):
        steps.add_column(column, no_wrap=True)
    for result, count in zip(results, counts, strict=True):
        steps.add_row(str(result.step.index),
                      f"{number[result.step.old]} -> {number[result.step.new]}",
                      str(count["cases"]), *(str(count[v]) for v in shown),
                      style="bold red" if count["unexpected"] else "")
    return steps


def _show_declared(console: Console, results: Sequence[StepResult]) -> None:
    """The declared-changes file that judged each step, a line each."""
    declared = [(r.step.index, r.step.declared.name) for r in results if r.step.declared]
    if not declared:
        console.print("no step has a declared-changes file: every change is unexpected",
                      markup=False)
        return
    console.print("declared changes:", markup=False)
    for index, name in declared:
        console.print(f"  step {index}: {name}", markup=False, highlight=False, soft_wrap=True)


def _numbered_sources(results: Sequence[StepResult]) -> dict[str, int]:
    """Each source's label and its number, in timeline order."""
    labels = [label for r in results for label in (r.step.old, r.step.new)]
    return {label: n for n, label in enumerate(dict.fromkeys(labels))}


def timeline_json(results: Sequence[StepResult], changes: Sequence[FirstChange],
                  commands: Sequence[str]) -> str:
    return json.dumps({
        "steps": [{"step": r.step.index, "old": r.step.old, "new": r.step.new,
                   "declared": str(r.step.declared) if r.step.declared else None,
                   "summary": r.summary.to_json()} for r in results],
        "first_changes": [{"field": c.signature.split(":", 1)[1], "step": c.step,
                           "verdict": c.verdict, "rule": c.rule, "cases": c.cases,
                           "example": c.example, "changed_again": c.again,
                           "command": command}
                          for c, command in zip(changes, commands, strict=True)],
    }, indent=1) + "\n"

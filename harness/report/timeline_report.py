"""A timeline for people (two tables) and for machines (timeline.json)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from harness.campaign.timeline import FirstChange, StepResult
from harness.core.verdict import Verdict


def show(console: Console, results: Sequence[StepResult], changes: Sequence[FirstChange],
         commands: Sequence[str]) -> None:
    """Each step's verdicts, then each field's first change with a command to see it."""
    steps = Table(title="percpu-diff timeline: each step, old -> new")
    for column in ("step", "old -> new", "declared changes", "cases", *Verdict):
        steps.add_column(column, overflow="fold")
    for result in results:
        counts = result.summary.to_json()
        declared = result.step.declared.name if result.step.declared else "-"
        steps.add_row(str(result.step.index), f"{result.step.old} -> {result.step.new}",
                      declared, str(counts["cases"]), *(str(counts[v]) for v in Verdict),
                      style="bold red" if counts["unexpected"] else "")
    console.print(steps)
    if not changes:
        console.print("the real code's results never changed along the timeline", markup=False)
        return
    first = Table(title="where each field of the real code first changed")
    for column in ("step", "field", "judged", "rule", "cases", "changed again", "example"):
        first.add_column(column, overflow="fold")
    for change in changes:
        first.add_row(str(change.step), change.signature.split(":", 1)[1], change.verdict,
                      change.rule or "-", str(change.cases), str(change.again), change.example,
                      style="bold red" if change.verdict is Verdict.UNEXPECTED else "")
    console.print(first)
    shown = dict.fromkeys((c.step, c.example, command) for c, command in zip(
        changes, commands, strict=True))
    console.print("to see a change on its step's two sources:", markup=False)
    for step, example, command in shown:
        console.print(f"  step {step}, {example}: {command}", markup=False, highlight=False,
                      soft_wrap=True)


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

"""percpu-diff timeline: the same cases on every source in order, and where
each behaviour of the real code first changed."""

from __future__ import annotations

import functools
import shlex
from pathlib import Path

from rich.console import Console

from harness.campaign import executor, plan, timeline
from harness.cli import sources
from harness.cli.requests import TimelineRequest
from harness.core import cases, files
from harness.core.errors import UserError
from harness.report import console, timeline_report
from harness.sources import snapshot


def main(request: TimelineRequest) -> int:
    out, err = Console(), Console(stderr=True)
    specs = request.specs()
    if len(specs) < 2:
        raise UserError(f"a timeline needs two sources or more, got {len(specs)}: name them "
                        "in order, or use --tree T --range A..B")
    load = functools.partial(sources.load, err=err)
    sides = [plan.sides([spec], load)[0] for spec in specs]
    scenarios = plan.run_scenarios(request.scenarios, sides)
    chosen = plan.run_cases(request.cases, request.seed, scenarios,
                            plan.nr_cpus_menu(request.nr_cpus), corpus=request.corpus,
                            files=(), matrix=False)
    steps = timeline.steps(sides, chosen.all, triage_file=request.triage,
                           sanitize=request.build.sanitize, limits=request.build.limits(),
                           jobs=request.jobs)
    with executor.connect(request.scheduler, steps[0].plan.jobs) as workers:
        results = _run_steps(steps, request.out, request.resume, err, workers)
    if results is None:
        return 130
    changes = timeline.first_changes(results)
    commands = [_command(steps[c.step - 1], specs, c, request.out) for c in changes]
    text = timeline_report.timeline_json(results, changes, commands)
    files.write_atomic(request.out / "timeline.json", text)
    if request.json:
        files.write_atomic(request.json, text)
    timeline_report.show(out, results, changes, commands)
    totals = [r.summary.to_json() for r in results]
    if any(t["unexpected"] for t in totals):
        return 1
    return 2 if any(t["failed"] or t["inconclusive"] for t in totals) else 0


def _run_steps(steps: list[timeline.Step], out: Path, resume: bool, err: Console,
               workers: executor.Workers) -> list[timeline.StepResult] | None:
    """Every step in turn behind one progress bar; None if interrupted."""
    total = sum(len(step.plan.cases) for step in steps)
    results = []
    with console.progress(err, "boots", total) as advance:
        try:
            for step in steps:
                results.append(timeline.run_step(step, out, resume, lambda _record: advance(),
                                                 workers))
        except KeyboardInterrupt:
            err.print(f"interrupted after step {len(results)} of {len(steps)}; every finished "
                      f"case is in {out}: finish with the same command and --resume",
                      markup=False)
            return None
    return results


def _command(step: timeline.Step, specs: list[snapshot.SourceSpec],
             change: timeline.FirstChange, out: Path) -> str:
    """The case that first showed a change, written beside its step's run,
    and the repro command that shows it on the step's two sources."""
    case = next(c for c in step.plan.cases if c.name == change.example)
    path = step.directory(out) / f"{change.example}.toml"
    files.write_atomic(path, cases.case_to_toml(case))
    old, new = (snapshot.source_arg(specs[i], side.label)
                for i, side in ((step.index - 1, step.plan.sides[0]),
                                (step.index, step.plan.sides[1])))
    return " ".join(["percpu-diff repro", *map(shlex.quote, (old, new)), "--case",
                     shlex.quote(str(path))])

"""percpu-diff repro: one case rerun on every side, side by side with the models."""

from __future__ import annotations

import functools
import json

from rich.console import Console

import py_impl
from harness.campaign import plan, reproduce, runner
from harness.cli import run_case, sources
from harness.cli.requests import ReproRequest
from harness.core import case_kinds, cases
from harness.core.result import BootResult
from harness.report import console, html_report


def main(request: ReproRequest) -> int:
    out, err = Console(), Console(stderr=True)
    kept = None
    if request.run is not None:
        request, kept = run_case.repro_request(request)
    case = request.case.case()
    with run_case.sources_at(kept):
        sides = plan.sides(request.sources.specs(), functools.partial(sources.load, err=err))
    if kept is not None:
        run_case.check_code(kept, sides, err)
    # run's rule: a scenario a side cannot boot refused in one line, a
    # dropped one booted on its successor
    for note in plan.case_scenario(case, sides):
        err.print(note, markup=False, soft_wrap=True)
    the_plan = plan.make_plan(
        sides, [case], declared=request.declared, patch_files=request.sources.patches,
        triage_file=request.triage, sanitize=request.build.sanitize,
        limits=request.build.limits(), jobs=request.jobs)
    kernels = runner.boot_kernels(the_plan, case)
    record = runner.evaluate(case, kernels, the_plan)
    labels, results = _side_by_side(the_plan, case, kernels)
    if request.html:
        html_report.write_repro(request.html, case, labels, results, record)
    # the reproducer as a run gives one: the command on these sources
    command = reproduce.repro_command(request.sources.words(), case)
    if request.json:
        print(json.dumps({"results": results, "record": record.to_json(), "command": command,
                          "case_toml": cases.case_to_toml(case)}, indent=1, default=str))
    else:
        out.print(f"case {case.name}: scenario {case.scenario}, NR_CPUS={case.nr_cpus}, "
                  f"possible {case_kinds.format_cpu_list(case.possible)}", markup=False)
        console.show(out, labels, results)
        console.show_findings(out, record.findings)
        out.print(f"verdict: {record.verdict}; reproduce with: {command}", markup=False,
                  highlight=False, soft_wrap=True)
    return 1 if record.verdict == "unexpected" else 0


def _side_by_side(the_plan: runner.Plan, case: cases.Case,
                  kernels: dict[str, BootResult]) -> tuple[list[str], list[BootResult]]:
    """Each side's kernel result, then its model's."""
    labels: list[str] = []
    results: list[BootResult] = []
    for side in the_plan.sides:
        labels += [side.label, f"model:{side.generation}"]
        results += [kernels[side.name],
                    py_impl.run_model(side.generation, side.case_for(case),
                                      kernels[side.name].get("constants"))]
    return labels, results

"""percpu-diff repro: one case rerun on every side, side by side with the models."""

from __future__ import annotations

import functools
import json

from rich.console import Console

import py_impl
from harness.campaign import plan, runner
from harness.cli import sources
from harness.cli.requests import ReproRequest
from harness.core import case_kinds
from harness.report import console, html_report


def main(request: ReproRequest) -> int:
    out, err = Console(), Console(stderr=True)
    case = request.case.case()
    sides = plan.sides(request.sources.specs(), functools.partial(sources.load, err=err))
    the_plan = plan.make_plan(
        sides, [case], declared=request.declared, patch_files=request.sources.patches,
        triage_file=request.triage, sanitize=request.build.sanitize,
        limits=request.build.limits(), jobs=request.jobs)
    kernels = runner.boot_kernels(the_plan, case)
    record = runner.evaluate(case, kernels, the_plan)
    labels, results = [], []
    for side in the_plan.sides:
        labels += [side.label, f"model:{side.generation}"]
        results += [kernels[side.name],
                    py_impl.run_model(side.generation, side.case_for(case),
                                      kernels[side.name].get("constants"))]
    if request.html:
        html_report.write_repro(request.html, case, labels, results, record)
    if request.json:
        print(json.dumps({"results": results, "record": record.to_json()}, indent=1,
                         default=str))
    else:
        out.print(f"case {case.name}: scenario {case.scenario}, NR_CPUS={case.nr_cpus}, "
                  f"possible {case_kinds.format_cpu_list(case.possible)}", markup=False)
        console.show(out, labels, results)
        console.show_findings(out, record.findings)
    return 1 if record.verdict == "unexpected" else 0

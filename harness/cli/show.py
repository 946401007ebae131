"""percpu-diff show: one case on one or two sources (and their models), printed."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

import py_impl
from harness.build import shims
from harness.campaign import agree
from harness.cli import sources
from harness.cli.requests import BuildOptions, ShowRequest
from harness.core import case_kinds, cases
from harness.core.errors import UserError
from harness.judge import triage
from harness.report import console
from harness.run import server


def main(request: ShowRequest) -> int:
    out, err = Console(), Console(stderr=True)
    named = request.sources
    if request.model not in (None, "auto") and not (named.sources or named.tree or named.dirs):
        return _model_alone(request, out)
    specs = named.specs()
    if len(specs) > 2:
        raise UserError(f"show takes one or two sources, got {len(specs)}")
    case = request.case.case()
    entries = triage.load_triage(request.triage) if request.model else []
    config = request.build.config(case.nr_cpus, case.page_size, case.arch, case.numa)
    labels: list[str] = []
    results = []
    differences: list[list[dict[str, Any]]] = []
    for spec in specs:
        snap = sources.load(spec, err)
        rendered = shims.render(snap, arch=case.arch)
        if request.show_tu:
            _print_tu(rendered)
            return 0
        result = _boot(rendered, config, case, request.build, err)
        result["source"] = snap.label
        labels.append(snap.label)
        results.append(result)
        if request.model:
            generation = rendered.api.generation if request.model == "auto" else request.model
            verdict = agree.judge(case, result, generation, snap.label, entries)
            labels.append(f"model:{generation}")
            results.append(verdict.model)
            differences.append(verdict.to_json()["differences"])
    if request.json:
        model_json = {"results": results, "differences": differences}
        print(json.dumps(model_json if request.model else
                         results[0] if len(results) == 1 else results, indent=2))
    else:
        _print(out, case, labels, results, differences)
    return 0


def _model_alone(request: ShowRequest, out: Console) -> int:
    """A model alone on a case: no kernel tree needed."""
    assert request.model is not None
    case = request.case.case()
    result = py_impl.run_model(request.model, case)
    if request.json:
        print(json.dumps(result, indent=2))
    else:
        console.show(out, [f"model:{request.model}"], [result])
    return 0


def _print_tu(rendered: shims.Rendered) -> None:
    print(rendered.header_text)
    print(rendered.tu_text)
    if rendered.arch_text:
        print(rendered.arch_text)


def _boot(rendered: shims.Rendered, config: shims.BuildConfig, case: cases.Case,
          build: BuildOptions, err: Console) -> dict[str, Any]:
    shim = shims.build(rendered, config)
    if not shim.cached and shim.warnings.count("warning:"):
        err.print(f"{rendered.label}: {shim.warnings.count('warning:')} compiler warnings "
                  f"(log: {shim.path.parent / 'build.log'})", markup=False)
    return server.run_one(shim, case, build.limits())


def _print(out: Console, case: cases.Case, labels: list[str], results: list[dict[str, Any]],
           differences: list[list[dict[str, Any]]]) -> None:
    out.print(f"case {case.name}: scenario {case.scenario}, NR_CPUS={case.nr_cpus}, "
              f"possible {case_kinds.format_cpu_list(case.possible)}, "
              f"static {case.static_size} reserved {case.reserved_size} "
              f"dyn {'auto' if case.dyn_size < 0 else case.dyn_size} atom {case.atom_size}",
              markup=False, highlight=False)
    console.show(out, labels, results)
    for label, diffs in zip(labels[::2], differences, strict=False):
        console.show_differences(out, f"{label} vs its model", diffs)

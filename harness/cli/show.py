"""percpu-diff show: one case on one or two sources (and their models), printed."""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Console

import py_impl
from harness.campaign import agree, plan, runner
from harness.cli import run_case, sources
from harness.cli.requests import ShowRequest
from harness.compile import shims
from harness.core import case_kinds, cases, scratch
from harness.core.errors import UserError
from harness.core.generation import GenerationName
from harness.core.result import BootResult
from harness.judge import triage
from harness.report import console, html_report
from harness.run import server

if TYPE_CHECKING:
    from harness.campaign import coverage


@dataclass
class _Shown:
    """What show prints: each source's result, and its model's after it when asked."""

    labels: list[str] = field(default_factory=list)
    results: list[BootResult] = field(default_factory=list)
    differences: list[list[agree.DifferenceJson]] = field(default_factory=list)
    covered: list[coverage.SideCoverage] = field(default_factory=list)


def main(request: ShowRequest) -> int:
    out, err = Console(), Console(stderr=True)
    kept = None
    if request.run is not None:
        request, kept = run_case.show_request(request)
    named = request.sources
    if request.model not in (None, "auto") and not (named.sources or named.tree or named.dirs):
        return _model_alone(request, out)
    with run_case.sources_at(kept):
        specs = named.specs()
        if len(specs) > 2:
            raise UserError(f"show takes one or two sources, got {len(specs)}")
        sides = plan.sides(specs, functools.partial(sources.load, err=err))
    case = request.case.case()
    if kept is not None:
        run_case.check_code(kept, sides, err)
    # What run does: refuse a scenario a source cannot boot, in one line,
    # and boot a dropped scenario on its successor.
    for note in plan.case_scenario(case, sides):
        err.print(note, markup=False, soft_wrap=True)
    if request.show_tu:
        _print_tu(sides[0].rendering(case.arch))
        return 0
    shown = _boot_sides(request, case, sides, err)
    if request.html:
        html_report.write_show(request.html, case, shown.labels, shown.results,
                               shown.differences, models=bool(request.model))
    if request.json:
        results = shown.results
        print(json.dumps({"results": results, "differences": shown.differences}
                         if request.model else results[0] if len(results) == 1 else results,
                         indent=2))
    else:
        _print(out, case, shown)
        if shown.covered:
            # imported only here: gcov's modules are start-up time of every show
            from harness.report import coverage_report

            coverage_report.show(out, shown.covered)
    return 0


def _boot_sides(request: ShowRequest, case: cases.Case, sides: Sequence[runner.Side],
                err: Console) -> _Shown:
    """The case booted on each side (on its successor where the side has
    dropped its scenario), each followed by its model when asked."""
    entries = triage.load_triage(request.triage) if request.model else []
    config = request.build.config(case.nr_cpus, case.page_size, case.arch, case.numa)
    shown = _Shown()
    for side in sides:
        snap = side.snapshot
        assert snap is not None
        rendered = side.rendering(case.arch)
        booted = side.case_for(case)
        result = _boot(_shim(rendered, config, err), booted, request, side.name, shown)
        result["source"] = snap.label
        shown.labels.append(snap.label)
        shown.results.append(result)
        if request.model:
            generation = rendered.api.generation if request.model == "auto" \
                else GenerationName(request.model)
            verdict = agree.judge(booted, result, generation, snap.label, entries)
            shown.labels.append(f"model:{generation}")
            shown.results.append(verdict.model)
            shown.differences.append(verdict.to_json()["differences"])
    return shown


def _boot(shim: shims.Shim, case: cases.Case, request: ShowRequest, side: str,
          shown: _Shown) -> BootResult:
    """One boot; with --coverage, what of the kernel code it ran into `shown`."""
    if not request.build.coverage:
        return server.run_one(shim, case, request.build.limits())
    from harness.campaign import coverage

    gcov_dir = scratch.make("show-gcov")
    try:
        # every result read, so the server has ended before gcov reads its counters
        (booted,) = server.run_cases(shim, [case], request.build.limits(), gcov_dir)
        shown.covered.append(coverage.side_coverage(side, shim.rendered.label, [gcov_dir]))
    finally:
        shutil.rmtree(gcov_dir, ignore_errors=True)
    return booted


def _model_alone(request: ShowRequest, out: Console) -> int:
    """A model alone on a case: no kernel tree needed."""
    assert request.model is not None
    case = request.case.case()
    result = py_impl.run_model(GenerationName(request.model), case)
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


def _shim(rendered: shims.Rendered, config: shims.BuildConfig, err: Console) -> shims.Shim:
    shim = shims.build(rendered, config)
    if not shim.cached and shim.warnings.count("warning:"):
        err.print(f"{rendered.label}: {shim.warnings.count('warning:')} compiler warnings "
                  f"(log: {shim.path.parent / 'build.log'})", markup=False)
    return shim


def _print(out: Console, case: cases.Case, shown: _Shown) -> None:
    out.print(f"case {case.name}: scenario {case.scenario}, NR_CPUS={case.nr_cpus}, "
              f"possible {case_kinds.format_cpu_list(case.possible)}, "
              f"static {case.static_size} reserved {case.reserved_size} "
              f"dyn {'auto' if case.dyn_size < 0 else case.dyn_size} atom {case.atom_size}",
              markup=False, highlight=False)
    console.show(out, shown.labels, shown.results)
    for label, diffs in zip(shown.labels[::2], shown.differences, strict=False):
        console.show_differences(out, f"{label} vs its model", diffs)

"""percpu-diff bisect: one case at a revision against a good revision, with
the exit status `git bisect run` reads: 0 the same, 1 changed, 125 this
revision cannot be built or booted (skip it).

    git bisect start BAD GOOD
    git bisect run percpu-diff bisect --good GOOD --case my-case.toml

The good revision and the case are checked first: a mistake in them is a
one-line error with status 2, which git bisect takes for "bad", so run the
command once by hand before handing it to git bisect.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import replace

from rich.console import Console

from harness.campaign import plan, runner
from harness.cli import sources
from harness.cli.requests import BisectRequest
from harness.core import cases
from harness.core.errors import UserError
from harness.core.fields import check_path, normal
from harness.core.verdict import INCONCLUSIVE_OUTCOMES
from harness.judge import compare
from harness.sources import snapshot

SAME, CHANGED, SKIP = 0, 1, 125


def main(request: BisectRequest) -> int:
    out, err = Console(), Console(stderr=True)
    for pattern in request.fields:
        check_path(pattern, "--field")
    case = request.case.case()
    load = functools.partial(sources.load, err=err)
    good = plan.sides([snapshot.SourceSpec("tree", request.tree, request.good)], load)[0]
    good = replace(good, name="old")
    # The good side must build: a mistake there is the user's (status 2).
    runner.shims_for(_plan([good], case, request), runner.shim_key(case))
    try:
        tested = plan.sides([snapshot.SourceSpec("tree", request.tree, request.rev)], load)[0]
        both = _plan([good, tested], case, request)
        results = runner.boot_kernels(both, case)
    except UserError as why:
        err.print(f"percpu-diff: skip {request.rev}: {why}", markup=False)
        return SKIP
    outcome = results["new"]["outcome"]["kind"]
    if outcome in INCONCLUSIVE_OUTCOMES:
        err.print(f"percpu-diff: skip {request.rev}: the boot ended in {outcome}", markup=False)
        return SKIP
    changes = [c for c in compare.compare_sides(results["old"], results["new"])
               if not request.fields
               or any(fnmatch.fnmatchcase(normal(c.field), normal(p)) for p in request.fields)]
    return _say(out, request, good.label, tested.label, changes)


def _plan(sides: list[runner.Side], case: cases.Case, request: BisectRequest) -> runner.Plan:
    # Nothing is judged here, only compared: no triage or declared changes
    # to load (run inside a kernel tree, there is no cases/ to find them in).
    return runner.Plan(tuple(sides), (case,), (), (), sanitize=request.build.sanitize,
                       limits=request.build.limits(), jobs=1)


def _say(out: Console, request: BisectRequest, good: str, tested: str,
         changes: list[compare.Change]) -> int:
    if not changes:
        out.print(f"{tested}: the same as {good} in every compared field", markup=False)
        return SAME
    out.print(f"{tested}: {len(changes)} fields differ from {good}:", markup=False)
    for change in changes[:20]:
        out.print(f"  {change.describe()}", markup=False, highlight=False)
    if len(changes) > 20:
        out.print(f"  ... and {len(changes) - 20} more", markup=False)
    return CHANGED

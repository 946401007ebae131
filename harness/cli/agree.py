"""percpu-diff agree: a model against the real code over generated cases."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from harness.campaign import agree, coverage, executor, generate
from harness.cli import sources
from harness.cli.requests import AgreeRequest
from harness.compile import shims
from harness.core import cases, files, scratch
from harness.core.errors import UserError
from harness.core.verdict import Verdict
from harness.judge import triage
from harness.report import console, coverage_report
from harness.sources.snapshot import Snapshot


def main(request: AgreeRequest) -> int:
    """Model against the real code over generated cases."""
    out, err = Console(), Console(stderr=True)
    specs = request.sources.specs()
    if len(specs) != 1:
        raise UserError(f"agree takes one source, got {len(specs)}")
    if request.out:
        files.check_writable(request.out, "--out")
    entries = triage.load_triage(request.triage)
    snap = sources.load(specs[0], err)
    rendered = shims.render(snap)
    generation = rendered.api.generation
    executor.check_coverage(request.scheduler, request.build.coverage)
    gcov_root = scratch.make("agree-gcov") \
        if request.build.coverage else None
    try:
        with executor.connect(request.scheduler, _jobs(request)) as workers:
            summaries = _judge(request, snap, rendered, entries, err, workers, gcov_root)
        covered = [coverage.side_coverage("new", snap.label, sorted(gcov_root.iterdir()))] \
            if gcov_root is not None else []
    finally:
        if gcov_root is not None:
            shutil.rmtree(gcov_root, ignore_errors=True)
    if request.json:
        print(json.dumps({"source": snap.label, "generation": generation,
                          "nr_cpus": request.nr_cpus, "seed": request.seed,
                          "scenarios": {k: v.to_json() for k, v in summaries.items()},
                          **({"coverage": covered[0].to_json()} if covered else {})},
                         indent=2))
    else:
        console.show_agreement(out, f"{snap.label} ({generation}) vs model, NR_CPUS="
                              f"{request.nr_cpus}, seed {request.seed}", summaries, entries)
        coverage_report.show(out, covered)
    unexpected = sum(s.verdicts[Verdict.UNEXPECTED] for s in summaries.values())
    return 1 if unexpected else 0


def _judge(request: AgreeRequest, snap: Snapshot, rendered: shims.Rendered,
           entries: Sequence[triage.TriageEntry], err: Console, workers: executor.Workers,
           gcov_root: Path | None = None) -> dict[str, agree.Summary]:
    """A summary per scenario; verdicts not in plain agreement also to --out;
    a coverage shim's counters under gcov_root/<shim key>.  Batches run on
    `workers`; their verdicts are taken in case order."""
    judging = agree.Judging(rendered.api.generation, snap.label, tuple(entries),
                            request.build.limits(), {"generic": rendered})
    jobs = _jobs(request)
    summaries: dict[str, agree.Summary] = {}
    sink = request.out.open("w") if request.out else None
    try:
        have = rendered.extraction.scenarios
        for scenario in request.scenarios or [s for s in cases.GENERIC_SCENARIOS if s in have]:
            batch = _on_successor(rendered, snap.label, err, list(generate.generate(
                request.count, request.seed, scenario, request.nr_cpus)))
            summary = summaries.setdefault(scenario, agree.Summary())
            booted = batch[0].scenario if batch else scenario
            work: list[agree.Batch] = []
            for this, config, group in agree.builds_for(snap, rendered, booted, batch,
                                                        request.nr_cpus, request.build.sanitize,
                                                        request.build.coverage):
                judging.renderings[config.arch] = this
                work += agree.batches(config, group, jobs, gcov_root)
            with console.progress(err, f"{scenario}", request.count) as advance:
                for verdict in executor.in_order(workers.stream(agree.judge_batch, judging,
                                                                work)):
                    summary.add(verdict)
                    if sink:
                        agree.write_verdict(sink, verdict)
                    advance()
    finally:
        if sink:
            sink.close()
    return summaries


def _jobs(request: AgreeRequest) -> int:
    return max(1, request.jobs or os.cpu_count() or 1)


def _on_successor(rendered: shims.Rendered, label: str, err: Console,
                  batch: list[cases.Case]) -> list[cases.Case]:
    """The cases of a scenario the revision dropped, as `run` and `show`
    boot them: on the scenario that took over its job (lpage on embed)."""
    if not batch:
        return batch
    scenario = batch[0].scenario
    successor = rendered.api.spec.successors.get(scenario)
    if scenario in rendered.extraction.scenarios or successor is None \
            or successor not in rendered.extraction.scenarios:
        return batch
    err.print(f"{label}: {scenario} runs on {successor}, its successor "
              f"({rendered.api.generation} has no {scenario} allocator)")
    return [dataclasses.replace(case, scenario=successor) for case in batch]

"""percpu-diff run: a differential run over generated and named cases."""

from __future__ import annotations

import functools
import importlib.metadata
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from harness.campaign import coverage, executor, keep, plan, reproduce, runner
from harness.cli import run_case, sources
from harness.cli import tested as tested_by
from harness.cli.requests import RunRequest
from harness.core import cases, files
from harness.core.verdict import Verdict
from harness.judge import triage
from harness.report import console, coverage_report, html_report, run_report
from harness.sources import patches

# A patch read from standard input, kept in the run directory under this name.
STDIN_PATCH = "stdin.patch"

# What `run` compares when no source is named: Debian's two supported kernels.
DEFAULT_SOURCES = ("debian:6.1", "debian:6.12")


def main(request: RunRequest) -> int:
    out, err = Console(), Console(stderr=True)
    _check_outputs(request)
    menu = plan.nr_cpus_menu(request.nr_cpus)
    if not request.sources.given():
        # The embedded default: real kernel code on any Debian machine, no tree.
        request = replace(request, sources=replace(request.sources, sources=DEFAULT_SOURCES))
        err.print(f"no source given: comparing {' with '.join(DEFAULT_SOURCES)}")
    load = functools.partial(sources.load, err=err)
    specs = request.sources.specs()
    sides = plan.sides(specs, load)
    # a dropped scenario's successor is in the summary's header (scenario_notes)
    scenarios = plan.run_scenarios(request.scenarios, sides)
    chosen = plan.run_cases(request.cases, request.seed, scenarios, menu, corpus=request.corpus,
                            files=request.case_files, matrix=request.matrix)
    the_plan = plan.make_plan(
        sides, chosen.all, declared=request.declared, patch_files=request.sources.patches,
        triage_file=request.triage, sanitize=request.build.sanitize,
        limits=request.build.limits(), jobs=request.jobs, coverage=request.build.coverage)
    # The directory is this run's from before its state is read until the
    # last report is written; a scheduler that does not answer leaves it untouched.
    identity = _identity_options(request)
    request, kept_files = _keeping_stdin(request)
    with executor.connect(request.scheduler, the_plan.jobs) as workers, \
            runner.RunDir(request.out, run_case.replay_of(request), kept_files) as rundir:
        started = time.monotonic()
        if not _execute(the_plan, rundir, request.resume, err, identity, workers):
            return 130
        tested = run_report.RunInfo(
            [s.label for s in the_plan.sides], request.seed, len(chosen.generated),
            len(chosen.corpus), len(chosen.given), None, [], [],
            tested=tested_by.source_ids(the_plan.sides, specs),
            rerun=tested_by.rerun(request.sources.words(), the_plan.sides, specs))
        return _finish(request, the_plan, chosen, rundir, out, err, time.monotonic() - started,
                       tested)


def _keeping_stdin(request: RunRequest) -> tuple[RunRequest, dict[str, bytes]]:
    """A patch read from standard input exists nowhere else: the run keeps
    it (STDIN_PATCH), and its reproducers, show --run and repro --run name
    that file instead of a '-' that would wait for input."""
    named = request.sources
    if patches.STDIN not in named.patches:
        return request, {}
    kept = (request.out / STDIN_PATCH).absolute()
    mapped = tuple(kept if p == patches.STDIN else p for p in named.patches)
    return (replace(request, sources=replace(named, patches=mapped)),
            {STDIN_PATCH: patches.read_input(patches.STDIN)})


def _finish(request: RunRequest, the_plan: runner.Plan, chosen: plan.RunCases,
            rundir: runner.RunDir, out: Console, err: Console, run_seconds: float,
            tested: run_report.RunInfo) -> int:
    """Coverage, reproducers and the reports: the exit status.  The records
    are read back from results.jsonl once, in case order, one at a time,
    into the summary and the reports' parts: the run never holds them all."""
    summary = runner.empty_summary(the_plan)
    with run_report.Parts(junit=request.junit is not None) as parts:
        for record in rundir.ordered(the_plan, rundir.index()):
            summary.add(record)
            parts.add(summary, record)
        return _judge_and_report(request, the_plan, rundir, summary, parts, out, err,
                                 run_seconds, tested)


def _judge_and_report(request: RunRequest, the_plan: runner.Plan, rundir: runner.RunDir,
                      summary: runner.Summary, parts: run_report.Parts, out: Console,
                      err: Console, run_seconds: float, tested: run_report.RunInfo) -> int:
    """Coverage, reproducers, the reports and the exit status of a summed-up
    run.  The reproducer search takes --shrink-seconds, else as long as the
    cases took (`run_seconds`), but at least reproduce.FLOOR_SECONDS."""
    covered = coverage.run_coverage(the_plan, _gcov_root(rundir)) if the_plan.coverage else []
    seconds = request.shrink_seconds if request.shrink_seconds is not None \
        else max(run_seconds, reproduce.FLOOR_SECONDS)
    reproducers = reproduce.find_reproducers(
        the_plan, summary, limit=request.max_reproducers,
        budget=reproduce.Budget(request.shrink_budget, seconds),
        command=functools.partial(reproduce.repro_command, request.sources.words()),
        progress=functools.partial(console.steps, err))
    declared = plan.declared_file(request.declared, the_plan.sides, request.sources.patches)
    scenarios = sorted({c.scenario for c in the_plan.cases})
    info = replace(tested, declared_file=_shown_path(declared),
                   nr_cpus=sorted({c.nr_cpus for c in the_plan.cases}), scenarios=scenarios,
                   triage_file=_shown_path(request.triage or triage.default_triage()),
                   scenario_notes=tested_by.scenario_notes(the_plan.sides, scenarios),
                   out=_shown_path(request.out) or "")
    unjudged = reproduce.unjudged(
        the_plan, summary.unjudged,
        functools.partial(reproduce.repro_command, request.sources.words()))
    _report(request, rundir, info, summary, parts, reproducers, out, covered, unjudged,
            tested_by.options_of(the_plan))
    if request.html:
        html_report.write_run(request.html, the_plan, summary, reproducers, functools.partial(
            reproduce.repro_command, request.sources.words()))
    totals = summary.to_json()
    if totals["unexpected"]:
        return 1
    return 2 if totals["failed"] or totals["inconclusive"] else 0


def _check_outputs(request: RunRequest) -> None:
    """Every path the run will write, checked before any work: a report
    that cannot be written is found now, not after the run."""
    files.check_directory(request.out, "--out")
    executor.check_coverage(request.scheduler, request.build.coverage)
    for option, path in (("--json", request.json), ("--junit", request.junit),
                         ("--html", request.html),
                         ("--email", Path(request.email) if request.email not in (None, "-")
                          else None)):
        if path is not None:
            files.check_writable(path, option)


def _identity_options(request: RunRequest) -> dict[str, object]:
    """The options that choose the cases and rules, as given: a resume
    that differs names the one that does."""
    return {"--seed": request.seed, "--cases": request.cases,
            "--nr-cpus": list(request.nr_cpus), "--scenario": list(request.scenarios),
            "--case": [str(p) for p in request.case_files], "--no-corpus": not request.corpus,
            "--matrix": request.matrix,
            "--declared": str(request.declared) if request.declared else None,
            "--triage": str(request.triage) if request.triage else None}


def _execute(the_plan: runner.Plan, rundir: runner.RunDir, resume: bool, err: Console,
             options: dict[str, object], workers: executor.Workers) -> bool:
    """Every case's record into results.jsonl, those of an earlier run
    resumed kept; False if interrupted.  Only the names and verdicts of the
    records are held: the reports read the records back."""
    verdicts = rundir.begin(the_plan, resume, options)
    if rundir.retried:
        again = [c.name for c in the_plan.cases if c.name in set(rundir.retried)]
        err.print(f"running again {len(again)} cases that did not finish last time "
                  f"(timeout, memory or harness failure): {', '.join(again[:5])}"
                  f"{', ...' if len(again) > 5 else ''}", markup=False, soft_wrap=True)
    gcov_root = _gcov_root(rundir) if the_plan.coverage else None
    if gcov_root is not None and not resume:
        # a fresh run counts its own cases only
        shutil.rmtree(gcov_root, ignore_errors=True)
    todo = [c for c in the_plan.cases if c.name not in verdicts]
    counts = Counter(verdicts.values())
    done = set(verdicts)

    def running() -> str:
        return " ".join(f"{verdict} {counts[verdict]}" for verdict in Verdict)

    with console.progress(err, "cases", len(the_plan.cases), running) as advance:
        for _ in done:
            advance()

        def on_record(record: runner.CaseRecord) -> None:
            # judged whole; stored, held and reported cut to size
            record = keep.bounded(record, rundir.path)
            rundir.append(record)
            done.add(record.case)
            counts[record.verdict] += 1
            advance()

        try:
            runner.execute(the_plan, todo, on_record, gcov_root, workers)
        except KeyboardInterrupt:
            err.print(f"interrupted: {len(done)} of {len(the_plan.cases)} cases are in "
                      f"{rundir.results}; finish with the same command and --resume",
                      markup=False)
            return False
    return True


def _gcov_root(rundir: runner.RunDir) -> Path:
    return rundir.path / "coverage"


def _report(request: RunRequest, rundir: runner.RunDir, info: run_report.RunInfo,
            summary: runner.Summary, parts: run_report.Parts,
            reproducers: list[reproduce.Reproducer], out: Console,
            covered: list[coverage.SideCoverage], unjudged: list[reproduce.Unjudged],
            options: Callable[[str], str]) -> None:
    """report.json and repro-N.toml in the run directory; --json, --junit,
    --email where asked; the summary (and coverage) on the console unless
    the email is."""
    report_json = rundir.path / "report.json"
    files.write_atomic_with(report_json, functools.partial(
        run_report.write_run_json, info=info, summary=summary, parts=parts,
        reproducers=reproducers, coverage=covered, unjudged=unjudged))
    unique = list(dict.fromkeys(cases.case_to_toml(r.case) for r in reproducers))
    for n, text in enumerate(unique, 1):
        files.write_atomic(rundir.path / f"repro-{n}.toml", text)
    if request.json:
        with report_json.open(encoding="utf-8") as source:
            files.write_atomic_with(request.json, functools.partial(shutil.copyfileobj, source))
    if request.junit:
        files.write_atomic_with(request.junit, lambda sink: run_report.write_junit(
            sink, info, summary, parts))
    if request.email:
        text = run_report.email_text(info, summary, reproducers, _version(), options)
        if request.email == "-":
            print(text, end="")
        else:
            files.write_atomic(Path(request.email), text)
    if request.email != "-":
        run_report.show_summary(out, info, summary, reproducers, unjudged, request.verbose,
                                options)
        coverage_report.show(out, covered)


def _shown_path(path: Path | None) -> str | None:
    """Relative to the working directory when inside it: reports get pasted."""
    if path is None:
        return None
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _version() -> str:
    try:
        return importlib.metadata.version("percpu-diff")
    except importlib.metadata.PackageNotFoundError:
        return "dev"

"""The percpu-diff command line."""

from __future__ import annotations

import argparse
import atexit
import functools
import importlib.metadata
import json
import shlex
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

import py_impl
from harness.build import shims
from harness.campaign import agree, generate, plan, reproduce, runner
from harness.core import case_kinds, cases, dumpfmt
from harness.core.errors import UserError
from harness.extract import closure
from harness.judge import classify, triage
from harness.report import console, run_report
from harness.run import server
from harness.sources import snapshot


def _add_source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="tree:PATH@REV, debian:X.Y[=VERSION], patch:PATH@BASE:FILE[,FILE], "
                        "or dir:PATH")
    p.add_argument("--tree", type=Path, help="kernel git tree (work tree or bare git dir)")
    p.add_argument("--rev", action="append", default=[], help="revision in --tree (repeatable)")
    p.add_argument("--old", help="the old side's revision in --tree (same as a first --rev)")
    p.add_argument("--new", help="the new side's revision in --tree (same as a second --rev)")
    p.add_argument("--base", help="base revision in --tree for --patch")
    p.add_argument("--patch", action="append", type=Path, default=[],
                   help="patch file or mbox series applied on --base (repeatable, in order)")
    p.add_argument("--dir", action="append", type=Path, default=[],
                   help="plain directory holding mm/percpu.c and include/linux/percpu.h")


def _add_case_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--case", type=Path, help="case TOML file (see cases/)")
    for row in cases.OPTION_FIELDS:
        spec = row.spec
        assert spec.flag is not None
        how: dict[str, Any] = {"help": spec.help}
        if isinstance(spec.kind, case_kinds.Switch):
            how["action"] = "store_true"
        if spec.kind.option_is_int:
            how["type"] = int
        if spec.choices is not None:
            how["choices"] = spec.choices
        p.add_argument(spec.flag, **how)


def _add_build_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sanitize", action="store_true", help="build with ASan+UBSan")
    p.add_argument("--timeout-ms", type=int,
                   help="per-case time limit (default 5000, 20000 with --sanitize)")
    p.add_argument("--mem-mb", type=int, default=2048, help="per-case heap limit")


# What `run` compares when no source is named: Debian's two supported kernels.
DEFAULT_SOURCES = ("debian:6.1", "debian:6.12")


def source_specs(args: argparse.Namespace) -> list[snapshot.SourceSpec]:
    specs = [snapshot.parse_source_arg(s) for s in args.sources]
    if args.patch:
        if args.tree is None or args.base is None:
            raise UserError("--patch needs --tree and --base: e.g. --tree ~/linux --base v2.6.31 "
                            "--patch fix.patch")
        specs.append(snapshot.SourceSpec("tree", args.tree, args.base))
        specs.append(snapshot.SourceSpec("patch", args.tree, args.base, tuple(args.patch)))
    elif args.base is not None:
        raise UserError("--base is for --patch: use --rev to name a single revision")
    revs = list(args.rev)
    if getattr(args, "old", None) or getattr(args, "new", None):
        if not (args.old and args.new):
            raise UserError("--old and --new go together: --tree T --old REV --new REV")
        revs = [args.old, args.new, *revs]
    if revs:
        if args.tree is None:
            raise UserError("--rev needs --tree: name the kernel git tree with --tree PATH")
        specs += [snapshot.SourceSpec("tree", args.tree, rev) for rev in revs]
    elif args.tree is not None and not args.patch:
        raise UserError("--tree needs --rev REV (or --base REV --patch FILE)")
    specs += [snapshot.SourceSpec("dir", d) for d in args.dir]
    if not specs:
        raise UserError("no source given: use --tree PATH --rev REV, --dir PATH, or SOURCE")
    return specs


def case_from_args(args: argparse.Namespace) -> cases.Case:
    """The case file, if any, with command-line options laid over it."""
    base = cases.load_case(args.case) if args.case is not None else None
    given = {row.name: getattr(args, row.dest) for row in cases.OPTION_FIELDS
             if row.given(getattr(args, row.dest))}
    return cases.case_from_options(base, given)


def _load(spec: snapshot.SourceSpec, err: Console) -> snapshot.Snapshot:
    snap = snapshot.load_snapshot(spec)
    if snap.scratch_dir is not None:
        # The patched files are in memory; the scratch copy is for inspection
        # during the run only.
        atexit.register(shutil.rmtree, snap.scratch_dir, True)
    for loss in snap.losses:
        err.print(f"warning: {snap.label}: patch truncated: {loss.describe()}", style="yellow",
                  markup=False, highlight=False)
    return snap


def _timeout_ms(args: argparse.Namespace) -> int:
    """Sanitized boots of big machines run several times slower."""
    if args.timeout_ms is not None:
        return int(args.timeout_ms)
    return 20000 if args.sanitize else 5000


def cmd_show(args: argparse.Namespace) -> int:
    out, err = Console(), Console(stderr=True)
    if args.model not in (None, "auto") and not (args.sources or args.tree or args.dir):
        return show_model_only(args, out)
    specs = source_specs(args)
    if len(specs) > 2:
        raise UserError(f"show takes one or two sources, got {len(specs)}")
    case = case_from_args(args)
    entries = triage.load_triage(args.triage) if args.model else []
    differences: list[list[dict[str, Any]]] = []
    config = shims.config_for(case.nr_cpus, case.page_shift, args.sanitize, case.arch, case.numa)
    labels: list[str] = []
    results = []
    for spec in specs:
        snap = _load(spec, err)
        rendered = shims.render(snap, arch=case.arch)
        if args.show_tu:
            print(rendered.header_text)
            print(rendered.tu_text)
            if rendered.arch_text:
                print(rendered.arch_text)
            return 0
        shim = shims.build(rendered, config)
        if not shim.cached and shim.warnings.count("warning:"):
            err.print(f"{snap.label}: {shim.warnings.count('warning:')} compiler warnings "
                      f"(log: {shim.path.parent / 'build.log'})", markup=False)
        result = server.run_one(shim, case, server.Limits(_timeout_ms(args), args.mem_mb))
        result["source"] = snap.label
        labels.append(snap.label)
        results.append(result)
        if args.model:
            generation = rendered.api.generation if args.model == "auto" else args.model
            verdict = agree.judge(case, result, generation, snap.label, entries)
            labels.append(f"model:{generation}")
            results.append(verdict.model)
            differences.append(verdict.to_json()["differences"])
    if args.json:
        if args.model:
            print(json.dumps({"results": results, "differences": differences}, indent=2))
        else:
            print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    else:
        out.print(f"case {case.name}: scenario {case.scenario}, NR_CPUS={case.nr_cpus}, "
                  f"possible {case_kinds.format_cpu_list(case.possible)}, "
                  f"static {case.static_size} reserved {case.reserved_size} "
                  f"dyn {'auto' if case.dyn_size < 0 else case.dyn_size} atom {case.atom_size}",
                  markup=False, highlight=False)
        console.show(out, labels, results)
        for label, diffs in zip(labels[::2], differences, strict=False):
            console.show_differences(out, f"{label} vs its model", diffs)
    return 0


def show_model_only(args: argparse.Namespace, out: Console) -> int:
    """A model alone on a case: no kernel tree needed."""
    case = case_from_args(args)
    result = py_impl.run_model(args.model, case)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        console.show(out, [f"model:{args.model}"], [result])
    return 0


def cmd_agree(args: argparse.Namespace) -> int:
    """Model against the real code over generated cases."""
    out, err = Console(), Console(stderr=True)
    specs = source_specs(args)
    if len(specs) != 1:
        raise UserError(f"agree takes one source, got {len(specs)}")
    entries = triage.load_triage(args.triage)
    snap = _load(specs[0], err)
    rendered = shims.render(snap)
    generation = rendered.api.generation
    shim = shims.build(rendered, shims.BuildConfig(args.nr_cpus, 12, args.sanitize))
    summaries: dict[str, agree.Summary] = {}
    sink = args.out.open("w") if args.out else None
    try:
        have = rendered.extraction.scenarios
        for scenario in args.scenario or [s for s in cases.GENERIC_SCENARIOS if s in have]:
            if scenario not in have:
                raise UserError(f"{snap.label} ({generation}) has no {scenario} scenario: "
                                f"use one of {', '.join(have)}")
            batch = generate.generate(args.count, args.seed, scenario, args.nr_cpus)
            summary = summaries.setdefault(scenario, agree.Summary())
            with console.progress(err, f"{scenario}", args.count) as advance:
                for verdict in agree.agree(shim, generation, snap.label, batch, entries,
                                           server.Limits(_timeout_ms(args), args.mem_mb)):
                    summary.add(verdict)
                    if sink:
                        agree.write_verdict(sink, verdict)
                    advance()
    finally:
        if sink:
            sink.close()
    if args.json:
        print(json.dumps({"source": snap.label, "generation": generation,
                          "nr_cpus": args.nr_cpus, "seed": args.seed,
                          "scenarios": {k: v.to_json() for k, v in summaries.items()}},
                         indent=2))
    else:
        console.show_agreement(out, f"{snap.label} ({generation}) vs model, NR_CPUS="
                              f"{args.nr_cpus}, seed {args.seed}", summaries, entries)
    unexplained = sum(s.verdicts["unexplained"] for s in summaries.values())
    return 1 if unexplained else 0


def cmd_dump(args: argparse.Namespace) -> int:
    """Parse an allocation dump out of a boot log (dmesg, a result's log, a file)."""
    try:
        text = sys.stdin.read() if str(args.log) == "-" else args.log.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read {args.log}: {err}") from err
    try:
        table = dumpfmt.parse(text)
    except dumpfmt.DumpParseError as err:
        raise UserError(f"{args.log}: {err}") from err
    if args.json:
        print(json.dumps({
            "format": table.format, "static_size": table.static_size,
            "reserved_size": table.reserved_size, "dyn_size": table.dyn_size,
            "unit_size": table.unit_size, "atom_size": table.atom_size,
            "alloc_size": table.alloc_size,
            "units": [{"unit": u.unit, "alloc": u.alloc, "group": u.group, "cpu": u.cpu}
                      for u in table.units],
        }, indent=2))
    else:
        console.show_dump(Console(), table)
    return 0


def _sides(args: argparse.Namespace, err: Console) -> list[runner.Side]:
    return plan.sides(source_specs(args), functools.partial(_load, err=err))


def _plan(args: argparse.Namespace, err: Console, run_cases: Sequence[cases.Case],
          sides: Sequence[runner.Side] | None = None) -> runner.Plan:
    sides = list(sides) if sides is not None else _sides(args, err)
    return plan.make_plan(
        sides, run_cases, declared=getattr(args, "declared", None), patch_files=args.patch,
        triage_file=args.triage, sanitize=args.sanitize,
        limits=server.Limits(_timeout_ms(args), args.mem_mb), jobs=args.jobs)


def _reproducers(args: argparse.Namespace, the_plan: runner.Plan, summary: runner.Summary,
                 err: Console) -> list[reproduce.Reproducer]:
    return reproduce.find_reproducers(
        the_plan, summary, limit=args.max_reproducers, budget=args.shrink_budget,
        command=functools.partial(repro_command, args),
        progress=functools.partial(console.progress, err))


def repro_command(args: argparse.Namespace, case: cases.Case) -> str:
    """The one-line command that reruns `case` on the same sources."""
    parts = [shlex.quote(s) for s in args.sources]
    if args.tree is not None:
        parts += ["--tree", shlex.quote(str(args.tree))]
    if args.base:
        parts += ["--base", shlex.quote(args.base)]
        for patch in args.patch:
            parts += ["--patch", shlex.quote(str(patch))]
    if args.old and args.new:
        parts += ["--old", shlex.quote(args.old), "--new", shlex.quote(args.new)]
    for rev in args.rev:
        parts += ["--rev", shlex.quote(rev)]
    for d in args.dir:
        parts += ["--dir", shlex.quote(str(d))]
    return reproduce.repro_command(parts, case)


def cmd_run(args: argparse.Namespace) -> int:
    out, err = Console(), Console(stderr=True)
    bad = [n for n in args.nr_cpus or [] if not 1 <= n <= 8192]
    if bad:
        raise UserError(f"--nr-cpus {bad[0]} is out of range: NR_CPUS runs from 1 to 8192")
    menu = [(1, n) for n in args.nr_cpus] if args.nr_cpus else generate.NR_CPUS_MENU
    if not (args.sources or args.tree or args.dir or args.patch):
        # The embedded default: real kernel code on any Debian machine, no tree.
        args.sources = list(DEFAULT_SOURCES)
        err.print(f"no source given: comparing {' with '.join(DEFAULT_SOURCES)}")
    sides = _sides(args, err)
    scenarios = plan.run_scenarios(args.scenario, sides)
    generated = generate.generate_mixed(args.cases, args.seed, scenarios=scenarios,
                                        nr_cpus_menu=menu) if args.cases else []
    corpus = [] if args.no_corpus else [c for c in plan.corpus_cases() if c.scenario in scenarios]
    given = [cases.load_case(p) for p in args.case]
    if args.matrix:
        given += [c for c in generate.arch_matrix() if c.scenario in scenarios]
    all_cases = generated + corpus + given
    names = [c.name for c in all_cases]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise UserError(f"two cases are named '{dup}': rename one")
    the_plan = _plan(args, err, all_cases, sides)
    rundir = runner.RunDir(args.out)
    records = rundir.start(the_plan, args.resume)
    todo = [c for c in the_plan.cases if c.name not in records]
    counts = Counter(r.verdict for r in records.values())

    def running() -> str:
        return " ".join(f"{name} {counts[name]}" for name in classify.CLASSES)

    with console.progress(err, "cases", len(the_plan.cases), running) as advance:
        for _ in records:
            advance()

        def on_record(record: runner.CaseRecord) -> None:
            rundir.append(record)
            records[record.case] = record
            counts[record.verdict] += 1
            advance()

        try:
            runner.execute(the_plan, todo, on_record)
        except KeyboardInterrupt:
            err.print(f"interrupted: {len(records)} of {len(the_plan.cases)} cases are in "
                      f"{rundir.results}; finish with the same command and --resume",
                      markup=False)
            return 130
    summary, ordered = runner.summarize(the_plan, records)
    reproducers = _reproducers(args, the_plan, summary, err)
    info = run_report.RunInfo(
        [s.label for s in the_plan.sides], args.seed, len(generated), len(corpus), len(given),
        _shown_path(plan.declared_file(args.declared, the_plan.sides, args.patch)),
        sorted({c.nr_cpus for c in the_plan.cases}), sorted({c.scenario for c in the_plan.cases}))
    run_report.write(rundir.path / "report.json", run_report.run_json(info, summary, ordered,
                                                                    reproducers))
    unique = list(dict.fromkeys(cases.case_to_toml(r.case) for r in reproducers))
    for n, text in enumerate(unique, 1):
        run_report.write(rundir.path / f"repro-{n}.toml", text)
    if args.json:
        run_report.write(args.json, run_report.run_json(info, summary, ordered, reproducers))
    if args.junit:
        run_report.write(args.junit, run_report.junit_xml(info, summary, ordered))
    if args.email:
        text = run_report.email_text(info, summary, reproducers, _version())
        if args.email == "-":
            print(text, end="")
        else:
            run_report.write(Path(args.email), text)
    if args.email != "-":
        run_report.show_summary(out, info, summary, reproducers)
    totals = summary.to_json()
    if totals["unexpected"]:
        return 1
    return 2 if totals["failed"] else 0


def cmd_repro(args: argparse.Namespace) -> int:
    out, err = Console(), Console(stderr=True)
    case = case_from_args(args)
    the_plan = _plan(args, err, [case])
    kernels = runner.boot_kernels(the_plan, case)
    record = runner.evaluate(case, kernels, the_plan)
    labels, results = [], []
    for side in the_plan.sides:
        labels += [side.label, f"model:{side.generation}"]
        results += [kernels[side.name],
                    py_impl.run_model(side.generation, side.case_for(case),
                                      kernels[side.name].get("constants"))]
    if args.json:
        print(json.dumps({"results": results, "record": record.to_json()}, indent=1,
                         default=str))
    else:
        out.print(f"case {case.name}: scenario {case.scenario}, NR_CPUS={case.nr_cpus}, "
                  f"possible {case_kinds.format_cpu_list(case.possible)}", markup=False)
        console.show(out, labels, results)
        console.show_findings(out, record.findings)
    return 1 if record.verdict == "unexpected" else 0


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


def cmd_extract(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    specs = source_specs(args)
    if len(specs) > 2:
        raise UserError(f"extract takes one or two sources, got {len(specs)}")
    functions = []
    labels = []
    for spec in specs:
        snap = _load(spec, err)
        rendered = shims.render(snap, args.scenario and [args.scenario])
        ex = rendered.extraction
        labels.append(snap.label)
        functions.append(ex.functions())
        if len(specs) == 1:
            print(f"{snap.label}: generation {rendered.api.generation}, scenarios "
                  f"{', '.join(ex.scenarios)}")
            for item in ex.header_items + ex.source_items:
                print(f"  {item.kind:<12} {item.name:<32} {item.path}:{item.line:<5} "
                      f"{closure.item_digest(item)}")
    if len(specs) == 2:
        a, b = functions
        same = 0
        for name in sorted(set(a) | set(b)):
            if name not in a or name not in b:
                print(f"  only in {labels[0] if name in a else labels[1]}: {name}")
            elif a[name].text == b[name].text:
                same += 1
                print(f"  identical  {name} {closure.item_digest(a[name])}")
            else:
                print(f"  DIFFERENT  {name} {closure.item_digest(a[name])} "
                      f"{closure.item_digest(b[name])}")
        total = len(set(a) | set(b))
        print(f"{same} of {total} extracted functions byte-identical between "
              f"{labels[0]} and {labels[1]}")
        return 0 if same == total else 1
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    for spec in source_specs(args):
        snap = _load(spec, err)
        rendered = shims.render(snap)
        for nr_cpus in args.nr_cpus or [64]:
            config = shims.BuildConfig(nr_cpus, 13 if args.page_size == "8K" else 12,
                                       args.sanitize)
            shim = shims.build(rendered, config)
            print(f"{snap.label} {rendered.api.generation} NR_CPUS={nr_cpus} "
                  f"{'sanitized' if args.sanitize else 'plain'} "
                  f"{'cached' if shim.cached else 'built'} {shim.path}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="percpu-diff",
        description="Differential testing of the kernel's percpu first-chunk setup.",
    )
    sub = top.add_subparsers(dest="command", required=True)

    show = sub.add_parser("show", help="run one case on one or two sources and print it")
    _add_source_options(show)
    _add_case_options(show)
    _add_build_options(show)
    show.add_argument("--json", action="store_true", help="print the raw result JSON")
    show.add_argument("--show-tu", action="store_true",
                      help="print the generated header and translation unit, then stop")
    show.add_argument("--model", choices=(*py_impl.MODELS, "auto"),
                      help="also run the py_impl model (auto: the source's generation); "
                      "without a source, run the model alone")
    show.add_argument("--triage", type=Path,
                      help="triage file labelling known model/kernel differences")
    show.set_defaults(func=cmd_show)

    agr = sub.add_parser("agree", help="check a model against the real code over generated cases")
    _add_source_options(agr)
    _add_build_options(agr)
    agr.add_argument("--scenario", action="append", choices=cases.GENERIC_SCENARIOS,
                     help="repeatable; default: all")
    agr.add_argument("--count", type=int, default=1000, help="cases per scenario")
    agr.add_argument("--seed", type=int, default=1)
    agr.add_argument("--nr-cpus", type=int, default=64)
    agr.add_argument("--triage", type=Path,
                     help="triage file (default: cases/triage.toml of the project)")
    agr.add_argument("--out", type=Path, help="JSON lines, one per case that is not in "
                     "plain agreement, written as the run goes")
    agr.add_argument("--json", action="store_true", help="print the summary as JSON")
    agr.set_defaults(func=cmd_agree)

    dmp = sub.add_parser("dump", help="parse a pcpu-alloc:/pcpu-lpage: dump from a boot log")
    dmp.add_argument("log", type=Path, help="log file (dmesg output, say), or - for stdin")
    dmp.add_argument("--json", action="store_true")
    dmp.set_defaults(func=cmd_dump)

    rn = sub.add_parser("run", help="differential run over generated and named cases")
    _add_source_options(rn)
    _add_build_options(rn)
    rn.add_argument("--cases", type=int, default=500, help="generated cases (default 500)")
    rn.add_argument("--seed", type=int, default=1)
    rn.add_argument("--nr-cpus", type=int, action="append",
                    help="NR_CPUS of generated cases (repeatable; default: 2 to 4096)")
    rn.add_argument("--case", type=Path, action="append", default=[],
                    help="a case TOML file to add (repeatable)")
    rn.add_argument("--no-corpus", action="store_true", help="leave out the cases in cases/")
    rn.add_argument("--matrix", action="store_true",
                    help="add every combination of the arch knobs (672 cases)")
    rn.add_argument("--scenario", action="append", choices=cases.SCENARIOS,
                    help="scenarios to run (repeatable; default: all the sources have)")
    rn.add_argument("--declared", type=Path,
                    help="declared changes (default: cases/declared/<new commit>.toml)")
    rn.add_argument("--triage", type=Path)
    rn.add_argument("--out", type=Path, default=Path("percpu-diff-run"),
                    help="run directory: results.jsonl, report.json, repro-N.toml")
    rn.add_argument("--resume", action="store_true", help="finish an interrupted run")
    rn.add_argument("--jobs", type=int, help="shim servers per side (default: all cores)")
    rn.add_argument("--json", type=Path, help="write the JSON report here too")
    rn.add_argument("--junit", type=Path, help="write a JUnit XML report")
    rn.add_argument("--email", nargs="?", const="-",
                    help="plain-text report for a review reply (to FILE, or stdout)")
    rn.add_argument("--shrink-budget", type=int, default=150, help="boots per reproducer")
    rn.add_argument("--max-reproducers", type=int, default=20)
    rn.set_defaults(func=cmd_run)

    rp = sub.add_parser("repro", help="rerun one case on every side, side by side")
    _add_source_options(rp)
    _add_case_options(rp)
    _add_build_options(rp)
    rp.add_argument("--declared", type=Path)
    rp.add_argument("--triage", type=Path)
    rp.add_argument("--jobs", type=int, default=1)
    rp.add_argument("--json", action="store_true")
    rp.set_defaults(func=cmd_repro)

    ext = sub.add_parser("extract", help="list extracted items; with two sources, compare them")
    _add_source_options(ext)
    ext.add_argument("--scenario", choices=cases.SCENARIOS)
    ext.set_defaults(func=cmd_extract)

    bld = sub.add_parser("build", help="build (or find cached) shims for sources")
    _add_source_options(bld)
    bld.add_argument("--nr-cpus", type=int, action="append", help="repeatable")
    bld.add_argument("--page-size", choices=("4K", "8K"), default="4K")
    bld.add_argument("--sanitize", action="store_true")
    bld.set_defaults(func=cmd_build)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        status: int = args.func(args)
        return status
    except UserError as err:
        print(f"percpu-diff: error: {err}", file=sys.stderr)
        return err.exit_status
    except KeyboardInterrupt:
        print("percpu-diff: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

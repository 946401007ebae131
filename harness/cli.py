"""The percpu-diff command line."""

from __future__ import annotations

import argparse
import atexit
import json
import shutil
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console

import py_impl
from harness import agree, build, cases, extract, generate, report, run, sources, triage
from harness.errors import UserError
from py_impl import dump


def _add_source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="tree:PATH@REV, patch:PATH@BASE:FILE[,FILE], or dir:PATH")
    p.add_argument("--tree", type=Path, help="kernel git tree (work tree or bare git dir)")
    p.add_argument("--rev", action="append", default=[], help="revision in --tree (repeatable)")
    p.add_argument("--base", help="base revision in --tree for --patch")
    p.add_argument("--patch", action="append", type=Path, default=[],
                   help="patch file or mbox series applied on --base (repeatable, in order)")
    p.add_argument("--dir", action="append", type=Path, default=[],
                   help="plain directory holding mm/percpu.c and include/linux/percpu.h")


def _add_case_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--case", type=Path, help="case TOML file (see cases/)")
    p.add_argument("--scenario", choices=cases.SCENARIOS)
    p.add_argument("--possible", help="possible cpus, e.g. 0,2,4 or 0-7")
    p.add_argument("--nr-cpus", type=int, help="NR_CPUS to build with (default 64)")
    p.add_argument("--cpu-node", help="node of each possible cpu, e.g. 0,0,1,1")
    p.add_argument("--distance", help="node distance matrix, e.g. 10,20;20,10")
    p.add_argument("--static-size")
    p.add_argument("--reserved-size")
    p.add_argument("--dyn-size", help="bytes or auto")
    p.add_argument("--atom-size", help="allocation atom (lpage size), e.g. 2M")
    p.add_argument("--page-size", help="4K (x86) or 8K (sparc64)")


def _add_build_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sanitize", action="store_true", help="build with ASan+UBSan")
    p.add_argument("--timeout-ms", type=int, default=5000, help="per-case time limit")
    p.add_argument("--mem-mb", type=int, default=2048, help="per-case heap limit")


def source_specs(args: argparse.Namespace) -> list[sources.SourceSpec]:
    specs = [sources.parse_source_arg(s) for s in args.sources]
    if args.patch:
        if args.tree is None or args.base is None:
            raise UserError("--patch needs --tree and --base: e.g. --tree ~/linux --base v2.6.31 "
                            "--patch fix.patch")
        specs.append(sources.SourceSpec("tree", args.tree, args.base))
        specs.append(sources.SourceSpec("patch", args.tree, args.base, tuple(args.patch)))
    elif args.base is not None:
        raise UserError("--base is for --patch: use --rev to name a single revision")
    if args.rev:
        if args.tree is None:
            raise UserError("--rev needs --tree: name the kernel git tree with --tree PATH")
        specs += [sources.SourceSpec("tree", args.tree, rev) for rev in args.rev]
    elif args.tree is not None and not args.patch:
        raise UserError("--tree needs --rev REV (or --base REV --patch FILE)")
    specs += [sources.SourceSpec("dir", d) for d in args.dir]
    if not specs:
        raise UserError("no source given: use --tree PATH --rev REV, --dir PATH, or SOURCE")
    return specs


def case_from_args(args: argparse.Namespace) -> cases.Case:
    """The case file, if any, with command-line options laid over it."""
    base = cases.load_case(args.case) if args.case is not None else cases.Case(name="cli")
    changes: dict[str, Any] = {}
    if args.scenario is not None:
        changes["scenario"] = args.scenario
    if args.nr_cpus is not None:
        changes["nr_cpus"] = args.nr_cpus
    if args.possible:
        changes["possible"] = cases.parse_cpu_list(args.possible)
    if args.cpu_node:
        changes["cpu_node"] = tuple(int(n) for n in args.cpu_node.split(","))
    if args.distance:
        changes["distance"] = cases.parse_distance(args.distance)
    for name in ("static_size", "reserved_size", "dyn_size", "atom_size", "page_size"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = cases.parse_size(value, "--" + name.replace("_", "-"))
    if "nr_cpus" not in changes and args.case is None:
        # NR_CPUS must cover the highest possible cpu; 64 otherwise.
        possible = changes.get("possible", base.possible)
        changes["nr_cpus"] = max(64, max(possible) + 1)
    return replace(base, **changes).validate()


def _load(spec: sources.SourceSpec, err: Console) -> sources.Snapshot:
    snap = sources.load_snapshot(spec)
    if snap.scratch_dir is not None:
        # The patched files are in memory; the scratch copy is for inspection
        # during the run only.
        atexit.register(shutil.rmtree, snap.scratch_dir, True)
    for loss in snap.losses:
        err.print(f"warning: {snap.label}: patch truncated: {loss.describe()}", style="yellow",
                  markup=False, highlight=False)
    return snap


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
    config = build.BuildConfig(case.nr_cpus, case.page_shift, args.sanitize)
    labels: list[str] = []
    results = []
    for spec in specs:
        snap = _load(spec, err)
        rendered = build.render(snap)
        if args.show_tu:
            print(rendered.header_text)
            print(rendered.tu_text)
            return 0
        shim = build.build(rendered, config)
        if not shim.cached and shim.warnings.count("warning:"):
            err.print(f"{snap.label}: {shim.warnings.count('warning:')} compiler warnings "
                      f"(log: {shim.path.parent / 'build.log'})", markup=False)
        result = run.run_one(shim, case, run.Limits(args.timeout_ms, args.mem_mb))
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
                  f"possible {cases.format_cpu_list(case.possible)}, "
                  f"static {case.static_size} reserved {case.reserved_size} "
                  f"dyn {'auto' if case.dyn_size < 0 else case.dyn_size} atom {case.atom_size}",
                  markup=False, highlight=False)
        report.show(out, labels, results)
        for label, diffs in zip(labels[::2], differences, strict=False):
            report.show_differences(out, f"{label} vs its model", diffs)
    return 0


def show_model_only(args: argparse.Namespace, out: Console) -> int:
    """A model alone on a case: no kernel tree needed."""
    case = case_from_args(args)
    result = py_impl.run_model(args.model, case)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report.show(out, [f"model:{args.model}"], [result])
    return 0


def cmd_agree(args: argparse.Namespace) -> int:
    """Model against the real code over generated cases."""
    out, err = Console(), Console(stderr=True)
    specs = source_specs(args)
    if len(specs) != 1:
        raise UserError(f"agree takes one source, got {len(specs)}")
    entries = triage.load_triage(args.triage)
    snap = _load(specs[0], err)
    rendered = build.render(snap)
    generation = rendered.api.generation
    shim = build.build(rendered, build.BuildConfig(args.nr_cpus, 12, args.sanitize))
    summaries: dict[str, agree.Summary] = {}
    sink = args.out.open("w") if args.out else None
    try:
        for scenario in args.scenario or list(cases.SCENARIOS):
            batch = generate.generate(args.count, args.seed, scenario, args.nr_cpus)
            summary = summaries.setdefault(scenario, agree.Summary())
            with report.progress(err, f"{scenario}", args.count) as advance:
                for verdict in agree.agree(shim, generation, snap.label, batch, entries,
                                           run.Limits(args.timeout_ms, args.mem_mb)):
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
        report.show_agreement(out, f"{snap.label} ({generation}) vs model, NR_CPUS="
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
        table = dump.parse(text)
    except dump.DumpParseError as err:
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
        report.show_dump(Console(), table)
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    specs = source_specs(args)
    if len(specs) > 2:
        raise UserError(f"extract takes one or two sources, got {len(specs)}")
    functions = []
    labels = []
    for spec in specs:
        snap = _load(spec, err)
        rendered = build.render(snap, args.scenario and [args.scenario])
        ex = rendered.extraction
        labels.append(snap.label)
        functions.append(ex.functions())
        if len(specs) == 1:
            print(f"{snap.label}: generation {rendered.api.generation}, scenarios "
                  f"{', '.join(ex.scenarios)}")
            for item in ex.header_items + ex.source_items:
                print(f"  {item.kind:<12} {item.name:<32} {item.path}:{item.line:<5} "
                      f"{extract.item_digest(item)}")
    if len(specs) == 2:
        a, b = functions
        same = 0
        for name in sorted(set(a) | set(b)):
            if name not in a or name not in b:
                print(f"  only in {labels[0] if name in a else labels[1]}: {name}")
            elif a[name].text == b[name].text:
                same += 1
                print(f"  identical  {name} {extract.item_digest(a[name])}")
            else:
                print(f"  DIFFERENT  {name} {extract.item_digest(a[name])} "
                      f"{extract.item_digest(b[name])}")
        total = len(set(a) | set(b))
        print(f"{same} of {total} extracted functions byte-identical between "
              f"{labels[0]} and {labels[1]}")
        return 0 if same == total else 1
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    for spec in source_specs(args):
        snap = _load(spec, err)
        rendered = build.render(snap)
        for nr_cpus in args.nr_cpus or [64]:
            config = build.BuildConfig(nr_cpus, 13 if args.page_size == "8K" else 12,
                                       args.sanitize)
            shim = build.build(rendered, config)
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
    agr.add_argument("--scenario", action="append", choices=cases.SCENARIOS,
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

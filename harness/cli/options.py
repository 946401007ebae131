"""The command line's options, and the request each command is handed.

argparse reads the arguments, and the Namespace is turned at once into the
command's request (requests.py).  The case options of show and repro come
from the case-field table (cases.CASE_FIELDS).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeAlias

import py_impl
from harness.boot.machine import Machine
from harness.cli.requests import (
    AgreeRequest,
    BisectRequest,
    BootRequest,
    BuildOptions,
    BuildRequest,
    CaseOptions,
    DumpRequest,
    ExtractRequest,
    OracleRequest,
    ReproRequest,
    Request,
    RunCase,
    RunRequest,
    ShowRequest,
    SourceOptions,
    TimelineRequest,
    TriageRequest,
)
from harness.core import case_kinds, cases
from harness.core.errors import UserError

# ------------------------------------------------------ Namespace -> request

def _sources(ns: argparse.Namespace) -> SourceOptions:
    return SourceOptions(tuple(ns.sources), ns.tree, tuple(ns.rev), ns.old, ns.new, ns.base,
                         tuple(ns.patch), tuple(ns.dir), ns.fuzz, ns.three_way)


def _dest(row: cases.CaseField) -> str:
    assert row.spec.flag is not None
    return row.spec.flag.removeprefix("--").replace("-", "_")


def _case(ns: argparse.Namespace) -> CaseOptions:
    given = {row.name: getattr(ns, _dest(row)) for row in cases.OPTION_FIELDS
             if row.given(getattr(ns, _dest(row)))}
    options = CaseOptions(ns.case, given)
    # The case file and the options are read now, so that a bad one is
    # refused before any source is fetched or built.
    options.case()
    return options


def _build(ns: argparse.Namespace) -> BuildOptions:
    return BuildOptions(ns.sanitize, ns.timeout_ms, ns.mem_mb, getattr(ns, "coverage", False))


def _show(ns: argparse.Namespace) -> ShowRequest:
    run = _run_case(ns)
    return ShowRequest(_sources(ns), _case(ns), _build(ns), json=ns.json, show_tu=ns.show_tu,
                       model=ns.model, triage=ns.triage, html=ns.html, run=run)


def _run_case(ns: argparse.Namespace) -> RunCase | None:
    """--run DIR CASE: the one positional word is the case's name, not a source."""
    if ns.run is None:
        return None
    if len(ns.sources) != 1:
        raise UserError(f"--run {ns.run} takes the name of one of its cases, e.g. --run "
                        f"{ns.run} run-s1-00001 (the names are in its results.jsonl)")
    name = ns.sources.pop()
    return RunCase(ns.run, name)


def _agree(ns: argparse.Namespace) -> AgreeRequest:
    return AgreeRequest(
        _sources(ns), _build(ns), scenarios=tuple(ns.scenario or ()), count=ns.count,
        seed=ns.seed, nr_cpus=ns.nr_cpus, triage=ns.triage, out=ns.out, json=ns.json,
        jobs=ns.jobs, scheduler=ns.scheduler)


def _dump(ns: argparse.Namespace) -> DumpRequest:
    return DumpRequest(ns.log, ns.json)


def _run(ns: argparse.Namespace) -> RunRequest:
    for case_file in ns.case:
        cases.load_case(case_file)  # refused now rather than after the sources load
    return RunRequest(
        _sources(ns), _build(ns), cases=ns.cases, seed=ns.seed,
        nr_cpus=tuple(ns.nr_cpus or ()), case_files=tuple(ns.case), corpus=not ns.no_corpus,
        matrix=ns.matrix, scenarios=tuple(ns.scenario or ()), declared=ns.declared,
        triage=ns.triage, out=ns.out, resume=ns.resume, jobs=ns.jobs, json=ns.json,
        junit=ns.junit, email=ns.email, html=ns.html, shrink_budget=ns.shrink_budget,
        shrink_seconds=ns.shrink_seconds, max_reproducers=ns.max_reproducers,
        scheduler=ns.scheduler, verbose=ns.verbose)


def _repro(ns: argparse.Namespace) -> ReproRequest:
    run = _run_case(ns)
    return ReproRequest(_sources(ns), _case(ns), _build(ns), declared=ns.declared,
                        triage=ns.triage, jobs=ns.jobs, json=ns.json, html=ns.html, run=run)


def _extract(ns: argparse.Namespace) -> ExtractRequest:
    return ExtractRequest(_sources(ns), ns.scenario)


def _build_request(ns: argparse.Namespace) -> BuildRequest:
    return BuildRequest(_sources(ns), BuildOptions(ns.sanitize), tuple(ns.nr_cpus or ()),
                        8192 if ns.page_size == "8K" else 4096)


def _timeline(ns: argparse.Namespace) -> TimelineRequest:
    return TimelineRequest(
        _sources(ns), _build(ns), rev_range=ns.range, cases=ns.cases, seed=ns.seed,
        nr_cpus=tuple(ns.nr_cpus or ()), corpus=not ns.no_corpus,
        scenarios=tuple(ns.scenario or ()), triage=ns.triage, out=ns.out, resume=ns.resume,
        jobs=ns.jobs, json=ns.json, scheduler=ns.scheduler)


def _bisect(ns: argparse.Namespace) -> BisectRequest:
    return BisectRequest(ns.tree, ns.good, _case(ns), _build(ns), rev=ns.rev,
                         fields=tuple(ns.field or ()))


def _machine(ns: argparse.Namespace) -> Machine:
    nodes = [_node(text) for text in ns.node or ()]
    cpus = ns.cpus
    maxcpus = ns.maxcpus if ns.maxcpus is not None else cpus
    distance = case_kinds.parse_distance(ns.node_distance) if ns.node_distance else ()
    return Machine(cpus, maxcpus, tuple(c for c, _ in nodes), tuple(m for _, m in nodes),
                   distance, tuple(ns.param or ()))


def _node(text: str) -> tuple[tuple[int, ...], int]:
    cpus, at, size = text.partition("@")
    if not at or not size.removesuffix("M").isdigit():
        raise UserError(f"--node {text!r}: write CPUS@MB, e.g. 0-3@512 (or -@256 for a node "
                        "with no cpus)")
    return (() if cpus in ("", "-") else case_kinds.parse_cpu_list(cpus)), \
        int(size.removesuffix("M"))


def _boot(ns: argparse.Namespace) -> BootRequest:
    return BootRequest(ns.source, _machine(ns), ns.timeout, ns.out, ns.json)


def _oracle(ns: argparse.Namespace) -> OracleRequest:
    return OracleRequest(tuple(ns.sources), ns.count, ns.seed, ns.max_cpus, ns.timeout, ns.out,
                         ns.json)
def _triage(ns: argparse.Namespace) -> TriageRequest:
    return TriageRequest(ns.tree, _build(ns), entries=tuple(ns.entry or ()), count=ns.count,
                         seed=ns.seed, triage=ns.triage)


def parse(argv: Sequence[str] | None = None) -> Request:
    """The request the arguments make (argparse exits on bad ones, status 2)."""
    ns = parser().parse_args(argv)
    request: Request = ns.request(ns)
    return request


# ------------------------------------------------------------- the parser

def _number(flag: str, least: int, most: int | None = None) -> Callable[[str], int]:
    """argparse's type for a whole-number option: a value out of range is
    one line (a UserError, which argparse does not catch), not a usage
    message, and a count below `least` (a negative count, a time limit of
    0, which would remove the limit) is refused before anything runs."""
    def read(text: str) -> int:
        try:
            number = case_kinds.number_text(text)
        except case_kinds.BadValue:
            raise UserError(f"{flag} {case_kinds.option_text(text[:24])} is not a whole number; "
                            f"expected {_span(least, most)}") from None
        if number < least or (most is not None and number > most):
            raise UserError(f"{flag} {number} is out of range; expected {_span(least, most)}")
        return number
    return read


def _span(least: int, most: int | None) -> str:
    return f"a whole number {least}..{most}" if most is not None \
        else f"a whole number >= {least}"


def _seconds(flag: str) -> Callable[[str], float]:
    """argparse's type for a time in seconds: more than 0 and finite, or one line."""
    def read(text: str) -> float:
        try:
            seconds = float(text)
        except ValueError:
            seconds = float("nan")
        if not seconds > 0 or seconds == float("inf"):
            raise UserError(f"{flag} {case_kinds.option_text(text[:24])} is not a time; expected "
                            "seconds > 0, e.g. 60")
        return seconds
    return read


NR_CPUS = cases.NR_CPUS_BOUNDS


def _add_source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="tree:PATH@REV, debian:X.Y[=VERSION], patch:PATH@BASE:FILE[,FILE], "
                        "or dir:PATH")
    p.add_argument("--tree", type=Path, help="kernel git tree (work tree or bare git dir)")
    p.add_argument("--rev", action="append", default=[], help="revision in --tree (repeatable)")
    p.add_argument("--old", help="the old side's revision in --tree (same as a first --rev)")
    p.add_argument("--new", help="the new side's revision in --tree (same as a second --rev), "
                   "or a commit range A..B: the old side with A..B's commits applied")
    p.add_argument("--base", help="base revision in --tree for --patch")
    p.add_argument("--patch", action="append", type=Path, default=[],
                   help="patch file or mbox series applied on --base (repeatable, in order; "
                   "- reads standard input)")
    p.add_argument("--fuzz", type=_number("--fuzz", 0), default=0,
                   help="ignore up to N context lines at a hunk's ends, as GNU patch -F N "
                   "(default 0: exact, as git apply)")
    p.add_argument("--3way", dest="three_way", action="store_true",
                   help="3-way merge a file whose hunks do not apply from the pre-image blob "
                   "its index line names, as git apply --3way (the tree is not touched)")
    p.add_argument("--dir", action="append", type=Path, default=[],
                   help="plain directory holding mm/percpu.c and include/linux/percpu.h")


def _add_case_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--case", type=Path, help="case TOML file (see cases/)")
    for row in cases.OPTION_FIELDS:
        spec = row.spec
        assert spec.flag is not None
        if isinstance(spec.kind, case_kinds.Switch):
            p.add_argument(spec.flag, action="store_true", help=spec.help)
        else:
            p.add_argument(spec.flag, choices=spec.choices, help=spec.help)


def _add_build_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sanitize", action="store_true", help="build with ASan+UBSan")
    p.add_argument("--timeout-ms", type=_number("--timeout-ms", 1),
                   help="per-boot CPU-time limit, with a backstop of ten times it, at "
                   "least 60 s, of time blocked (default 5000, 20000 with --sanitize)")
    p.add_argument("--mem-mb", type=_number("--mem-mb", 1), default=2048,
                   help="per-boot memory limit, the simulated memory included")


def _add_worker_options(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--jobs", type=_number("--jobs", 1),
                   help=f"{what} at once: worker processes, or the workers of --scheduler "
                   "local (default: all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the cases on a Dask cluster: its scheduler's address "
                   "(tcp://host:8786), or 'local' for a cluster of --jobs workers here")


def _add_coverage_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--coverage", action="store_true",
                   help="build the kernel code with gcov and report which of its lines and "
                   "branches the cases ran")


# argparse's subparsers object; its class is private and generic only to mypy.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _command(sub: Subparsers, name: str, summary: str,
             request: Callable[[argparse.Namespace], Request]) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=summary)
    p.set_defaults(request=request)
    return p


HTML_HELP = "write a page drawing the unit layouts, old and new side by side"


def _add_show(sub: Subparsers) -> None:
    p = _command(sub, "show", "run one case on one or two sources and print it", _show)
    _add_source_options(p)
    _add_case_options(p)
    _add_build_options(p)
    _add_coverage_option(p)
    p.add_argument("--json", action="store_true", help="print the raw result JSON")
    p.add_argument("--show-tu", action="store_true",
                   help="print the generated header and translation unit, then stop")
    p.add_argument("--model", choices=(*py_impl.MODELS, "auto"),
                   help="also run the py_impl model (auto: the source's generation); "
                   "without a source, run the model alone")
    p.add_argument("--triage", type=Path,
                   help="triage file labelling known model/kernel differences")
    p.add_argument("--html", type=Path, help=HTML_HELP)
    _add_run_case_option(p)


def _add_run_case_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", type=Path, metavar="DIR",
                   help="a run directory (run's --out): the case named by the one "
                   "positional word, on the run's sources, build and rules")


def _add_agree(sub: Subparsers) -> None:
    p = _command(sub, "agree", "check a model against the real code over generated cases",
                 _agree)
    _add_source_options(p)
    _add_build_options(p)
    _add_coverage_option(p)
    p.add_argument("--scenario", action="append", choices=cases.SCENARIOS,
                   help="repeatable; default: every generic scenario (arch flows on request)")
    p.add_argument("--count", type=_number("--count", 1), default=1000,
                   help="cases per scenario")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--nr-cpus", type=_number("--nr-cpus", NR_CPUS.lo, NR_CPUS.hi), default=64)
    p.add_argument("--triage", type=Path,
                   help="triage file (default: cases/triage.toml of the project)")
    p.add_argument("--out", type=Path, help="JSON lines, one per case that is not in "
                   "plain agreement, written as the run goes")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_worker_options(p, "batches of cases")


def _add_dump(sub: Subparsers) -> None:
    p = _command(sub, "dump", "parse a pcpu-alloc:/pcpu-lpage: dump from a boot log", _dump)
    p.add_argument("log", type=Path, help="log file (dmesg output, say), or - for stdin")
    p.add_argument("--json", action="store_true")


def _add_run(sub: Subparsers) -> None:
    p = _command(sub, "run", "differential run over generated and named cases", _run)
    _add_source_options(p)
    _add_build_options(p)
    _add_coverage_option(p)
    p.add_argument("--cases", type=_number("--cases", 0), default=500,
                   help="generated cases (default 500)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--nr-cpus", type=_number("--nr-cpus", NR_CPUS.lo, NR_CPUS.hi),
                   action="append",
                   help="NR_CPUS of generated cases (repeatable; default: 2 to 4096)")
    p.add_argument("--case", type=Path, action="append", default=[],
                   help="a case TOML file to add (repeatable)")
    p.add_argument("--no-corpus", action="store_true", help="leave out the cases in cases/")
    p.add_argument("--matrix", action="store_true",
                   help="add every combination of the arch knobs (672 cases)")
    p.add_argument("--scenario", action="append", choices=cases.SCENARIOS,
                   help="scenarios to run (repeatable; default: all the sources have)")
    p.add_argument("--declared", type=Path,
                   help="declared changes (default: cases/declared/<new commit>.toml)")
    p.add_argument("--triage", type=Path)
    p.add_argument("--out", type=Path, default=Path("percpu-diff-run"),
                   help="run directory: results.jsonl, report.json, repro-N.toml")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run")
    _add_worker_options(p, "batches of cases")
    p.add_argument("--json", type=Path, help="write the JSON report here too")
    p.add_argument("--junit", type=Path, help="write a JUnit XML report")
    p.add_argument("--email", nargs="?", const="-",
                   help="plain-text report for a review reply (to FILE, or stdout)")
    p.add_argument("--html", type=Path, help=HTML_HELP + ": an example of each difference")
    p.add_argument("--shrink-budget", type=_number("--shrink-budget", 0), default=150,
                   help="boots per reproducer")
    p.add_argument("--shrink-seconds", type=_number("--shrink-seconds", 0),
                   help="seconds for the whole reproducer search (default: as long as the "
                   "cases took, at least 10; 0: no shrinking)")
    p.add_argument("--max-reproducers", type=_number("--max-reproducers", 0), default=20)
    p.add_argument("--verbose", "-v", action="store_true",
                   help="the summary field by field too: every field of every rule, the "
                   "allocator paths, every reproducer")


def _add_repro(sub: Subparsers) -> None:
    p = _command(sub, "repro", "rerun one case on every side, side by side", _repro)
    _add_source_options(p)
    _add_case_options(p)
    _add_build_options(p)
    p.add_argument("--declared", type=Path)
    p.add_argument("--triage", type=Path)
    p.add_argument("--jobs", type=_number("--jobs", 1), default=1)
    p.add_argument("--json", action="store_true")
    p.add_argument("--html", type=Path, help=HTML_HELP)
    _add_run_case_option(p)


def _add_inspect(sub: Subparsers) -> None:
    ext = _command(sub, "extract", "list extracted items; with two sources, compare them",
                   _extract)
    _add_source_options(ext)
    ext.add_argument("--scenario", choices=cases.SCENARIOS)
    bld = _command(sub, "build", "build (or find cached) shims for sources", _build_request)
    _add_source_options(bld)
    bld.add_argument("--nr-cpus", type=_number("--nr-cpus", NR_CPUS.lo, NR_CPUS.hi),
                     action="append", help="repeatable")
    bld.add_argument("--page-size", choices=("4K", "8K"), default="4K")
    bld.add_argument("--sanitize", action="store_true")


def _add_timeline(sub: Subparsers) -> None:
    p = _command(sub, "timeline", "the same cases on every source in order: where each "
                 "behaviour first changed", _timeline)
    _add_source_options(p)
    _add_build_options(p)
    p.add_argument("--range", metavar="A..B",
                   help="with --tree: A, then every commit up to B touching the percpu files")
    p.add_argument("--cases", type=_number("--cases", 0), default=200,
                   help="generated cases (default 200)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--nr-cpus", type=_number("--nr-cpus", NR_CPUS.lo, NR_CPUS.hi),
                   action="append",
                   help="NR_CPUS of generated cases (repeatable; default: 2 to 4096)")
    p.add_argument("--no-corpus", action="store_true", help="leave out the cases in cases/")
    p.add_argument("--scenario", action="append", choices=cases.SCENARIOS,
                   help="scenarios to run (repeatable; default: all every source has)")
    p.add_argument("--triage", type=Path)
    p.add_argument("--out", type=Path, default=Path("percpu-diff-timeline"),
                   help="timeline directory: a run directory per step, timeline.json")
    p.add_argument("--resume", action="store_true", help="finish an interrupted timeline")
    _add_worker_options(p, "batches of cases")
    p.add_argument("--json", type=Path, help="write timeline.json here too")


def _add_bisect(sub: Subparsers) -> None:
    p = _command(sub, "bisect", "one case at a revision against a good one, for git bisect "
                 "run: 0 same, 1 changed, 125 cannot build or boot", _bisect)
    p.add_argument("--tree", type=Path, default=Path("."),
                   help="kernel git tree (default: the current directory)")
    p.add_argument("--rev", default="HEAD", help="the revision tested (default HEAD)")
    p.add_argument("--good", required=True, help="a revision with the old behaviour")
    p.add_argument("--field", action="append",
                   help="only these compared fields (shell patterns, repeatable)")
    _add_case_options(p)
    _add_build_options(p)


def _add_boot(sub: Subparsers) -> None:
    p = _command(sub, "boot", "boot Debian's own image of a source under QEMU and read the "
                 "first chunk out of the running kernel", _boot)
    p.add_argument("source", metavar="SOURCE", help="debian:X.Y[=VERSION]")
    p.add_argument("--cpus", type=_number("--cpus", 1), default=1,
                   help="cpus present at boot (default 1)")
    p.add_argument("--maxcpus", type=_number("--maxcpus", 1),
                   help="possible cpus (default: --cpus)")
    p.add_argument("--node", action="append", metavar="CPUS@MB",
                   help="a NUMA node: its cpus and memory, e.g. 0-3@512 (repeatable, in order)")
    p.add_argument("--node-distance", metavar="D", help="node distances, e.g. 10,20;20,10")
    p.add_argument("--param", action="append", metavar="P",
                   help="kernel parameter: percpu_alloc=, possible_cpus=, nr_cpus=, numa= "
                   "(repeatable)")
    p.add_argument("--timeout", type=_seconds("--timeout"), default=60.0,
                   help="seconds (default 60)")
    p.add_argument("--out", type=Path, help="keep the boot (serial log, QEMU command) here")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _add_oracle(sub: Subparsers) -> None:
    p = _command(sub, "oracle", "real boots of Debian's images against the shim of their "
                 "source, every compared field", _oracle)
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="debian:X.Y[=VERSION]")
    p.add_argument("--count", type=_number("--count", 1), default=40,
                   help="machines per source (default 40)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-cpus", type=_number("--max-cpus", 1), default=64,
                   help="largest machine (at most 255)")
    p.add_argument("--timeout", type=_seconds("--timeout"), default=60.0,
                   help="seconds per boot (default 60)")
    p.add_argument("--out", type=Path, default=Path("percpu-diff-oracle"),
                   help="a directory per boot (serial log, case, shim result), results.jsonl")
    p.add_argument("--json", type=Path, help="write the summary and every result here too")
def _add_triage(sub: Subparsers) -> None:
    p = _command(sub, "triage", "check the triage entries against the kernel's history",
                 _triage)
    p.add_argument("--check-fixes", action="store_true", required=True,
                   help="replay each entry's fixed_by on its revision: the entry must then "
                        "explain no case, and nothing new may be unexplained")
    p.add_argument("--tree", type=Path, required=True,
                   help="kernel git tree holding the fixes (work tree or bare git dir)")
    p.add_argument("--entry", action="append", help="only this entry (repeatable)")
    p.add_argument("--count", type=_number("--count", 0), default=80,
                   help="generated cases per scenario the entry names, besides its example")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--triage", type=Path, help="triage file (default: cases/triage.toml)")
    _add_build_options(p)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="percpu-diff",
        description="Differential testing of the kernel's percpu first-chunk setup.",
    )
    sub = top.add_subparsers(dest="command", required=True)
    for add in (_add_show, _add_agree, _add_dump, _add_run, _add_repro, _add_inspect,
                _add_timeline, _add_bisect, _add_boot, _add_oracle, _add_triage):
        add(sub)
    return top

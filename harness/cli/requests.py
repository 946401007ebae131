"""What each command is asked to do: one typed, frozen request per command,
made from the command line by options.py (as kunit_tool makes its
KunitRequest dataclasses), so that no command sees argparse."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.boot.machine import Machine
from harness.compile import shims
from harness.core import case_kinds, cases
from harness.core.errors import UserError
from harness.run import server
from harness.sources import snapshot


@dataclass(frozen=True)
class SourceOptions:
    """The sources named on the command line, as given."""

    sources: tuple[str, ...] = ()
    tree: Path | None = None
    revs: tuple[str, ...] = ()
    old: str | None = None
    new: str | None = None
    base: str | None = None
    patches: tuple[Path, ...] = ()
    dirs: tuple[Path, ...] = ()
    fuzz: int = 0
    three_way: bool = False

    def given(self) -> bool:
        return bool(self.sources or self.tree or self.dirs or self.patches)

    def specs(self) -> list[snapshot.SourceSpec]:
        specs = [snapshot.parse_source_arg(s) for s in self.sources]
        if self.patches:
            if self.tree is None or self.base is None:
                raise UserError("--patch needs --tree and --base: e.g. --tree ~/linux --base "
                                "v2.6.31 --patch fix.patch")
            specs.append(snapshot.SourceSpec("tree", self.tree, self.base))
            specs.append(snapshot.SourceSpec("patch", self.tree, self.base, self.patches))
        elif self.base is not None:
            raise UserError("--base is for --patch: use --rev to name a single revision")
        revs = list(self.revs)
        ranged = bool(self.new and ".." in self.new)
        if ranged:
            specs += self._range_specs(revs)
            revs = revs if self.old else revs[1:]
        elif self.old or self.new:
            if not (self.old and self.new):
                raise UserError("--old and --new go together: --tree T --old REV --new REV")
            revs = [self.old, self.new, *revs]
        if revs:
            if self.tree is None:
                raise UserError("--rev needs --tree: name the kernel git tree with --tree PATH")
            specs += [snapshot.SourceSpec("tree", self.tree, rev) for rev in revs]
        elif self.tree is not None and not self.patches and not ranged:
            raise UserError("--tree needs --rev REV (or --base REV --patch FILE)")
        specs += [snapshot.SourceSpec("dir", d) for d in self.dirs]
        if not specs:
            raise UserError("no source given: use --tree PATH --rev REV, --dir PATH, or SOURCE")
        return self._patching(specs)

    def _range_specs(self, revs: list[str]) -> list[snapshot.SourceSpec]:
        """--new A..B: the old side (--old, else a first --rev, else A), and
        the new side, the range's commits on it (snapshot.range_spec)."""
        assert self.new is not None
        if self.tree is None:
            raise UserError("--new A..B needs --tree: name the kernel git tree with --tree PATH")
        old = self.old or (revs[0] if revs else self.new.partition("..")[0])
        return [snapshot.SourceSpec("tree", self.tree, old),
                snapshot.range_spec(self.tree, old, self.new, self.fuzz, self.three_way)]

    def _patching(self, specs: list[snapshot.SourceSpec]) -> list[snapshot.SourceSpec]:
        """--fuzz and --3way laid over every patch source."""
        if not (self.fuzz or self.three_way):
            return specs
        if not any(spec.kind == "patch" for spec in specs):
            raise UserError("--fuzz and --3way are for patches: add --base REV --patch FILE, "
                            "or --new A..B")
        return [dataclasses.replace(spec, fuzz=self.fuzz, three_way=self.three_way)
                if spec.kind == "patch" else spec for spec in specs]

    def words(self) -> list[str]:
        """The options again, quoted for a shell: a repro command's sources."""
        words = [shlex.quote(s) for s in self.sources]
        if self.tree is not None:
            words += ["--tree", shlex.quote(str(self.tree))]
        if self.base:
            words += ["--base", shlex.quote(self.base)]
            for patch in self.patches:
                words += ["--patch", shlex.quote(str(patch))]
        if self.old and self.new:
            words += ["--old", shlex.quote(self.old), "--new", shlex.quote(self.new)]
        elif self.new:
            words += ["--new", shlex.quote(self.new)]
        if self.fuzz:
            words += ["--fuzz", str(self.fuzz)]
        if self.three_way:
            words += ["--3way"]
        for rev in self.revs:
            words += ["--rev", shlex.quote(rev)]
        for d in self.dirs:
            words += ["--dir", shlex.quote(str(d))]
        return words


@dataclass(frozen=True)
class CaseOptions:
    """A case file and the case-field options laid over it (by field name)."""

    file: Path | None = None
    given: Mapping[str, case_kinds.OptionValue] | None = None
    base: cases.Case | None = None  # a run's case (--run), when no file is given

    def case(self) -> cases.Case:
        base = cases.load_case(self.file) if self.file is not None else self.base
        return cases.case_from_options(base, self.given or {})


@dataclass(frozen=True)
class RunCase:
    """`--run DIR CASE`: a case of a run directory, on the run's own sides."""

    directory: Path
    case: str


@dataclass(frozen=True)
class BuildOptions:
    """How shims are built and boots bounded: every command's BuildConfig is made here."""

    sanitize: bool = False
    timeout_ms: int | None = None
    mem_mb: int = 2048
    coverage: bool = False

    def limits(self) -> server.Limits:
        # Sanitized boots of big machines run several times slower.
        default = 20000 if self.sanitize else 5000
        return server.Limits(default if self.timeout_ms is None else self.timeout_ms,
                             self.mem_mb)

    def config(self, nr_cpus: int, page_size: int = 4096, arch: str = "generic",
               numa: bool = False) -> shims.BuildConfig:
        return shims.config_for(nr_cpus, page_size.bit_length() - 1, self.sanitize, arch, numa,
                                self.coverage)


@dataclass(frozen=True)
class ShowRequest:
    sources: SourceOptions
    case: CaseOptions
    build: BuildOptions
    json: bool = False
    show_tu: bool = False
    model: str | None = None  # a generation, or "auto": the source's
    triage: Path | None = None
    html: Path | None = None  # a page drawing the layout (report/html_report.py)
    run: RunCase | None = None


@dataclass(frozen=True)
class AgreeRequest:
    sources: SourceOptions
    build: BuildOptions
    scenarios: tuple[str, ...] = ()  # none: every generic scenario the source has
    count: int = 1000
    seed: int = 1
    nr_cpus: int = 64
    triage: Path | None = None
    out: Path | None = None
    json: bool = False
    jobs: int | None = None  # none: one per core
    scheduler: str | None = None  # a Dask scheduler's address, or "local"


@dataclass(frozen=True)
class DumpRequest:
    log: Path  # "-": stdin
    json: bool = False


@dataclass(frozen=True)
class RunRequest:
    sources: SourceOptions
    build: BuildOptions
    cases: int = 500
    seed: int = 1
    nr_cpus: tuple[int, ...] = ()  # none: generate.NR_CPUS_MENU
    case_files: tuple[Path, ...] = ()
    corpus: bool = True
    matrix: bool = False
    scenarios: tuple[str, ...] = ()  # none: every scenario the sources boot
    declared: Path | None = None
    triage: Path | None = None
    out: Path = Path("percpu-diff-run")
    resume: bool = False
    jobs: int | None = None
    json: Path | None = None
    junit: Path | None = None
    email: str | None = None  # a file, or "-": stdout
    html: Path | None = None
    shrink_budget: int = 150
    shrink_seconds: int | None = None  # None: as long as the cases took (see cli/run.py)
    max_reproducers: int = 20
    scheduler: str | None = None  # a Dask scheduler's address, or "local"
    verbose: bool = False  # the summary field by field too


@dataclass(frozen=True)
class ReproRequest:
    sources: SourceOptions
    case: CaseOptions
    build: BuildOptions
    declared: Path | None = None
    triage: Path | None = None
    jobs: int | None = 1
    json: bool = False
    html: Path | None = None
    run: RunCase | None = None


@dataclass(frozen=True)
class ExtractRequest:
    sources: SourceOptions
    scenario: str | None = None


@dataclass(frozen=True)
class BuildRequest:
    sources: SourceOptions
    build: BuildOptions
    nr_cpus: tuple[int, ...] = ()  # none: 64
    page_size: int = 4096


@dataclass(frozen=True)
class TimelineRequest:
    sources: SourceOptions
    build: BuildOptions
    rev_range: str | None = None  # A..B in --tree: A and every percpu commit after it
    cases: int = 200
    seed: int = 1
    nr_cpus: tuple[int, ...] = ()  # none: generate.NR_CPUS_MENU
    corpus: bool = True
    scenarios: tuple[str, ...] = ()  # none: every scenario all the sources boot
    triage: Path | None = None
    out: Path = Path("percpu-diff-timeline")
    resume: bool = False
    jobs: int | None = None
    json: Path | None = None
    scheduler: str | None = None  # a Dask scheduler's address, or "local"

    def specs(self) -> list[snapshot.SourceSpec]:
        if self.rev_range is None:
            return self.sources.specs()
        if self.sources.tree is None or (self.sources.given() and (
                self.sources.sources or self.sources.revs or self.sources.dirs)):
            raise UserError("--range takes the sources from --tree alone: --tree T --range A..B")
        tree = self.sources.tree
        return [snapshot.SourceSpec("tree", tree, commit)
                for commit in snapshot.percpu_commits(tree, self.rev_range)]


@dataclass(frozen=True)
class BisectRequest:
    tree: Path
    good: str
    case: CaseOptions
    build: BuildOptions
    rev: str = "HEAD"
    fields: tuple[str, ...] = ()  # shell patterns; none: every compared field


@dataclass(frozen=True)
class BootRequest:
    """One real boot of a Debian image: the machine, and where to keep it."""

    source: str  # debian:X.Y[=VERSION]
    machine: Machine
    timeout_s: float = 60.0
    out: Path | None = None  # keep the serial log here (default: a temporary directory)
    json: bool = False


@dataclass(frozen=True)
class OracleRequest:
    sources: tuple[str, ...]  # debian:X.Y[=VERSION] each
    count: int = 40
    seed: int = 1
    max_cpus: int = 64
    timeout_s: float = 60.0
    out: Path = Path("percpu-diff-oracle")
    json: Path | None = None


@dataclass(frozen=True)
class TriageRequest:
    """`triage --check-fixes`: replay each entry's upstream fix on its revision."""

    tree: Path
    build: BuildOptions
    entries: tuple[str, ...] = ()  # none: every entry with a fix to replay
    count: int = 80
    seed: int = 1
    triage: Path | None = None


Request = (ShowRequest | AgreeRequest | DumpRequest | RunRequest | ReproRequest
           | ExtractRequest | BuildRequest | TimelineRequest | BisectRequest
           | BootRequest | OracleRequest | TriageRequest)

"""What a run (or a repro) covers: its sides, scenarios and cases, and the
declared changes and triage it is judged by."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.campaign import runner
from harness.compile import shims
from harness.core import cases, kernel_files, paths
from harness.core.errors import UserError
from harness.judge import classify, triage
from harness.run import server
from harness.sources import patches
from harness.sources.snapshot import Snapshot, SourceSpec


def sides(specs: Sequence[SourceSpec],
          load: Callable[[SourceSpec], Snapshot]) -> list[runner.Side]:
    """A side per source, loaded and rendered in turn: "new" alone, or "old" and "new"."""
    if len(specs) > 2:
        raise UserError(f"a run compares one or two sources, got {len(specs)}")
    out = []
    for name, spec in zip(("old", "new") if len(specs) == 2 else ("new",), specs, strict=True):
        snap = load(spec)
        rendered = shims.render(snap)
        out.append(runner.Side(name, snap.label, rendered.api.generation, rendered, snap))
    return out


def nr_cpus_menu(asked: Sequence[int]) -> Sequence[tuple[int, int]]:
    """The (weight, NR_CPUS) menu of generated cases: those asked for, evenly, or the default."""
    bad = [n for n in asked if not 1 <= n <= 8192]
    if bad:
        raise UserError(f"--nr-cpus {bad[0]} is out of range: NR_CPUS runs from 1 to 8192")
    from harness.campaign import generate  # hypothesis: show and repro never generate

    return [(1, n) for n in asked] if asked else generate.NR_CPUS_MENU


def run_scenarios(asked: Sequence[str] | None, sides: Sequence[runner.Side]) -> list[str]:
    """The scenarios a run covers: those asked for (default: all), less
    those some side cannot boot (an arch flow whose arch file it lacks, or
    which its generation does not build; a scenario without a successor)."""
    wanted = list(asked) if asked else list(cases.SCENARIOS)
    missing = [s for s in wanted if not all(side.runs(s) for side in sides)]
    if asked and missing:
        lacking = next(side for side in sides if not side.runs(missing[0]))
        need = (f"{kernel_files.ARCH_FILES[missing[0]]} and a generation that builds it"
                if missing[0] in cases.ARCH_SCENARIOS else "a generation that has it")
        raise UserError(f"scenario {missing[0]} needs {need} on every side, and "
                        f"{lacking.label} ({lacking.generation}) cannot boot it: use other "
                        f"sources, or drop --scenario {missing[0]}")
    return [s for s in wanted if s not in missing]


def successor_notes(scenarios: Sequence[str], sides: Sequence[runner.Side]) -> list[str]:
    """A line for each scenario booted on its successor (lpage on embed after
    the lpage allocator went), naming every side that does so alike: run,
    show and repro print them the same."""
    labels: dict[str, list[str]] = {}
    for scenario in scenarios:
        for side in sides:
            booted = side.booted_scenario(scenario)
            if booted != scenario:
                what = f"{scenario} runs on {booted}, its successor in the {side.generation} " \
                       "generation"
                labels.setdefault(what, []).append(side.label)
    return [f"{', '.join(names)}: {what}" for what, names in labels.items()]


def case_scenario(case: cases.Case, sides: Sequence[runner.Side]) -> list[str]:
    """What run does with the scenario of one case (show's, repro's): refused
    in one line if a side cannot boot it (run_scenarios), else the
    successor_notes of the sides that boot it on its successor."""
    run_scenarios([case.scenario], sides)
    return successor_notes([case.scenario], sides)


def corpus_cases() -> list[cases.Case]:
    """The named cases of the project's cases/."""
    folder = paths.data_dir()
    return [cases.load_case(p) for p in sorted(folder.glob("*.toml")) if p.name != "triage.toml"]


@dataclass(frozen=True)
class RunCases:
    generated: tuple[cases.Case, ...]
    corpus: tuple[cases.Case, ...]
    given: tuple[cases.Case, ...]  # case files, then the arch knob matrix

    @property
    def all(self) -> tuple[cases.Case, ...]:
        return self.generated + self.corpus + self.given


def run_cases(count: int, seed: int, scenarios: Sequence[str],
              menu: Sequence[tuple[int, int]], *, corpus: bool, files: Sequence[Path],
              matrix: bool) -> RunCases:
    """A run's cases: `count` generated, the corpus, the files and the
    matrix, each in the scenarios the run covers; names must be unique."""
    from harness.campaign import generate

    generated = generate.generate_mixed(count, seed, scenarios=scenarios,
                                        nr_cpus_menu=menu) if count else []
    named = [c for c in corpus_cases() if c.scenario in scenarios] if corpus else []
    given = [cases.load_case(p) for p in files]
    if matrix:
        given += [c for c in generate.arch_matrix() if c.scenario in scenarios]
    chosen = RunCases(tuple(generated), tuple(named), tuple(given))
    names = [c.name for c in chosen.all]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise UserError(f"two cases are named '{dup}': rename one")
    return chosen


def declared_file(declared: Path | None, sides: Sequence[runner.Side],
                  patch_files: Sequence[Path]) -> Path | None:
    """`declared`, else the file in cases/declared/ naming the new side's
    commit, or the subject of the patch applied on the new side."""
    if declared is not None:
        return declared
    if len(sides) < 2:
        return None
    subjects = {patches.subject_of(p) for p in patch_files}
    return classify.find_declared(paths.data_dir() / "declared", sides[-1].label, subjects,
                                  (sides[0].generation, sides[-1].generation), sides[0].label)


def make_plan(sides: Sequence[runner.Side], run_cases: Sequence[cases.Case], *,
              declared: Path | None, patch_files: Sequence[Path], triage_file: Path | None,
              sanitize: bool, limits: server.Limits, jobs: int | None,
              coverage: bool = False) -> runner.Plan:
    """The plan of a run; `jobs` shim servers per side (None or 0: one per core)."""
    path = declared_file(declared, sides, patch_files)
    changes = classify.load_declared(path) if path is not None else []
    return runner.Plan(tuple(sides), tuple(run_cases), tuple(changes),
                       tuple(triage.load_triage(triage_file)), sanitize=sanitize, limits=limits,
                       jobs=max(1, jobs or os.cpu_count() or 1), coverage=coverage)

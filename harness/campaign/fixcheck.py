"""Triage that lapses with the bug: replay each entry's upstream fix.

For an entry with `fixed_by` (and no `fix_check` saying why it cannot be
replayed), the entry's revision is run against its model over the entry's
example case and a generated set, then the same with the fix merged in
(harness/sources/fixes.py).  The fix passes when the entry explains cases
before, none after, and no difference is unexplained after that was not
before (by case and field).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.campaign import agree, generate, runner
from harness.compile import shims
from harness.core.cases import SCENARIOS, Case, load_case
from harness.core.errors import UserError
from harness.core.paths import data_dir
from harness.core.verdict import INCONCLUSIVE_OUTCOMES, Verdict
from harness.judge import triage
from harness.run import server
from harness.sources import fixes
from harness.sources.snapshot import Snapshot

# agree's default NR_CPUS (harness/cli/options.py), which the reasons' cases use.
AGREE_NR_CPUS = 64


@dataclass
class Tally:
    """One source's comparisons, as far as the check cares."""

    cases: int = 0
    explained: int = 0  # cases in which the entry explains a difference
    failed: int = 0     # kernel side timed out or broke the harness
    unexplained: set[tuple[str, str]] = field(default_factory=set)  # (case, field)


@dataclass(frozen=True)
class FixOutcome:
    entry: str
    base: str
    fix: str
    method: str
    before: Tally
    after: Tally

    @property
    def new_unexplained(self) -> list[tuple[str, str]]:
        return sorted(self.after.unexplained - self.before.unexplained)

    @property
    def passed(self) -> bool:
        return self.before.explained > 0 and self.after.explained == 0 \
            and not self.new_unexplained and not self.after.failed

    def line(self) -> str:
        new = self.new_unexplained
        verdict = "lapses" if self.passed else "FAILS"
        extra = f", new unexplained {new[:3]}" if new else ""
        failed = f", {self.after.failed} failed" if self.after.failed else ""
        return (f"{self.entry}: {self.base[:12]} + {self.fix[:12]} ({self.method}): explains "
                f"{self.before.explained} of {self.before.cases} cases before, "
                f"{self.after.explained} after{extra}{failed}: {verdict}")


def entry_cases(entry: triage.TriageEntry, count: int, seed: int) -> list[Case]:
    """The entry's example and `count` generated cases per scenario it names
    (the example's if none), at the example's NR_CPUS and at agree's default
    64, where the entries' reasons cite their generated cases."""
    example = load_case(data_dir() / entry.example)
    scenarios = dict.fromkeys([example.scenario, *entry.scenarios])
    out = [example]
    for nr_cpus in dict.fromkeys([example.nr_cpus, AGREE_NR_CPUS]):
        for scenario in scenarios:
            out += [dataclasses.replace(case, name=f"{case.name}-n{nr_cpus}")
                    for case in generate.generate(count, seed, scenario, nr_cpus)]
    return out


def tally(snap: Snapshot, entry: triage.TriageEntry, batch: Sequence[Case],
          entries: Sequence[triage.TriageEntry], limits: server.Limits) -> Tally:
    """The entry's revision (or the fixed one) against its model over `batch`."""
    rendered = shims.render(snap)
    sanitize = entry.kernel == "sanitizer"
    out = Tally()
    for (scenario, nr_cpus), group in _by_scenario(rendered, batch).items():
        for shim, part in agree.shims_for(snap, rendered, scenario, group, nr_cpus, sanitize):
            for judged in agree.agree(shim, rendered.api.generation, snap.label, part, entries,
                                      limits):
                _count(out, judged, entry.id)
    return out


def _count(out: Tally, judged: agree.Judged, entry_id: str) -> None:
    out.cases += 1
    if judged.kernel["outcome"]["kind"] in INCONCLUSIVE_OUTCOMES:
        out.failed += 1
    if any(item.entry is not None and item.entry.id == entry_id for item in judged.labelled):
        out.explained += 1
    out.unexplained |= {(judged.case.name, item.difference.field)
                        for item in judged.labelled if item.entry is None}


def _by_scenario(rendered: shims.Rendered,
                 batch: Iterable[Case]) -> dict[tuple[str, int], list[Case]]:
    """Cases by the scenario they boot on and NR_CPUS: a scenario the
    revision dropped runs on its successor, as agree and run do (lpage on
    embed)."""
    have, successors = rendered.extraction.scenarios, rendered.api.spec.successors
    groups: dict[tuple[str, int], list[Case]] = {}
    for case in batch:
        if case.scenario not in have and successors.get(case.scenario) in have:
            case = dataclasses.replace(case, scenario=successors[case.scenario])
        groups.setdefault((case.scenario, case.nr_cpus), []).append(case)
    return groups


def check_entry(tree: Path, entry: triage.TriageEntry, entries: Sequence[triage.TriageEntry],
                count: int, seed: int, limits: server.Limits) -> FixOutcome:
    """Replay the entry's fix on its revision and compare before and after."""
    if not entry.checkable or entry.fixed_by is None:
        raise UserError(f"{entry.id}: no fix to replay ({entry.fix_check or 'no fixed_by'})")
    fix = entry.fixed_by.id
    base_rev = fixes.choose_base(tree, fix, entry.revisions, entry.fix_base)
    base = fixes.tree_snapshot(tree, base_rev)
    replayed = fixes.replay_fix(tree, base, fix)
    batch = entry_cases(entry, count, seed)
    before = tally(base, entry, batch, entries, limits)
    after = tally(replayed.snapshot, entry, batch, entries, limits)
    return FixOutcome(entry.id, base.commit or base_rev, fix, replayed.method, before, after)


def run_counts(old: Snapshot, new: Snapshot, count: int, seed: int,
               entries: Sequence[triage.TriageEntry], limits: server.Limits,
               jobs: int = 2) -> tuple[int, Counter[str]]:
    """`percpu-diff run OLD NEW --cases COUNT --seed SEED --no-corpus`, as it
    judges it: the cases run and, per triage entry, the cases in which it
    explains a finding."""
    sides = tuple(runner.Side(name, snap.label, rendered.api.generation, rendered, snap)
                  for name, snap in (("old", old), ("new", new))
                  for rendered in (shims.render(snap),))
    scenarios = [s for s in SCENARIOS if all(side.runs(s) for side in sides)]
    batch = generate.generate_mixed(count, seed, scenarios, generate.NR_CPUS_MENU)
    plan = runner.Plan(sides, tuple(batch), (), tuple(entries), limits=limits, jobs=jobs)
    counts: Counter[str] = Counter()

    def on_record(record: runner.CaseRecord) -> None:
        counts.update({f.rule for f in record.findings
                       if f.rule is not None and f.label is Verdict.TRIAGED})

    runner.execute(plan, batch, on_record)
    return len(batch), counts

"""What every sweep asks of one source (a kernel tree, a Debian package):
each scenario its code has, and each arch flow it builds (x86, arch_numa),
builds, boots and agrees with the model of its generation over generated
cases.  Shared by test_sweep.py (the trees in
PERCPU_DIFF_TREES) and test_debian_sweep.py (every version apt lists)."""

from __future__ import annotations

from collections import Counter

from harness.campaign import agree, generate
from harness.compile import shims
from harness.core.cases import Case
from harness.core.verdict import Verdict
from harness.judge import triage
from harness.run import server
from harness.sources import snapshot


def verdicts(spec: snapshot.SourceSpec, count: int, nr_cpus: int,
             sanitize: bool) -> dict[str, Counter[str]]:
    """Each scenario's verdict counts on one source, its arch flows included;
    the cases with an unexpected or failed verdict are counted by name too,
    for the message."""
    snap = snapshot.load_snapshot(spec)
    rendered = shims.render(snap)
    entries = triage.load_triage()
    counts: dict[str, Counter[str]] = {}
    for scenario in (*rendered.extraction.scenarios, *agree.arch_flows(snap, rendered)):
        todo = list(generate.generate(count, 1, scenario, nr_cpus))
        found: Counter[str] = Counter()
        for shim, group in agree.shims_for(snap, rendered, scenario, todo, nr_cpus, sanitize):
            # A generous limit: a loaded machine must not turn a case into a failure.
            for judged in agree.agree(shim, rendered.api.generation, snap.label, group,
                                      entries, server.Limits(timeout_ms=60000)):
                found[judged.verdict] += 1
                if judged.verdict in (Verdict.UNEXPECTED, Verdict.FAILED):
                    found[f"{judged.verdict}: {judged.case.name}"] += 1
        counts[scenario] = found
    return counts


def bad_scenarios(counts: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    """The scenarios with an unexpected difference or a failed case."""
    return {scenario: dict(c) for scenario, c in counts.items()
            if c[Verdict.UNEXPECTED] or c[Verdict.FAILED]}


def judged(rendered: shims.Rendered, label: str, case: Case,
           entries: list[triage.TriageEntry]) -> tuple[str, set[str]]:
    """One case booted plain on a rendered source and judged against its
    model: the kernel's outcome, and the triage entries (or, unexplained,
    the differences) its verdict names."""
    shim = shims.build(rendered, shims.config_for(case.nr_cpus, case.page_shift, False))
    result = server.run_one(shim, case)
    verdict = agree.judge(case, result, rendered.api.generation, label, entries)
    return result["outcome"]["kind"], {
        i.entry.id if i.entry else i.difference.describe() for i in verdict.labelled}


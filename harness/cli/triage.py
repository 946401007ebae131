"""percpu-diff triage --check-fixes: triage that lapses with the bug.

One line per entry: an entry with a fix to replay says the cases it
explains before and after the fix; the others say why they cannot be
checked (their fix_check) or that they name no fix.
"""

from __future__ import annotations

from rich.console import Console

from harness.campaign import fixcheck
from harness.cli.requests import TriageRequest
from harness.core.errors import UserError
from harness.judge import triage


def main(request: TriageRequest) -> int:
    """0 when every replayed fix leaves its entry nothing to explain, else 1."""
    err = Console(stderr=True)
    entries = triage.load_triage(request.triage)
    unknown = sorted(set(request.entries) - {e.id for e in entries})
    if unknown:
        raise UserError(f"no triage entry is named '{unknown[0]}'")
    failed = 0
    for entry in entries:
        if request.entries and entry.id not in request.entries:
            continue
        if not entry.checkable:
            why = entry.fix_check or "names no fixed_by"
            print(f"{entry.id}: not checked: {why}", flush=True)
            continue
        err.print(f"{entry.id}: replaying {entry.fixed_by} ...", markup=False)
        outcome = fixcheck.check_entry(request.tree, entry, entries, request.count,
                                       request.seed, request.build.limits())
        print(outcome.line(), flush=True)
        failed += not outcome.passed
    return 1 if failed else 0

"""Loading the sources a command names, with their warnings on stderr."""

from __future__ import annotations

import atexit
import shutil

from rich.console import Console

from harness.sources import snapshot


def load(spec: snapshot.SourceSpec, err: Console) -> snapshot.Snapshot:
    snap = snapshot.load_snapshot(spec)
    if snap.scratch_dir is not None:
        # The patched files are in memory; the scratch copy is for inspection
        # during the run only.
        atexit.register(shutil.rmtree, snap.scratch_dir, True)
    for note in snap.applied:
        # Offsets, fuzz and merges change nothing silently: say what was applied how.
        err.print(f"note: {snap.label}: {note}", markup=False, highlight=False, soft_wrap=True)
    for loss in snap.losses:
        err.print(f"warning: {snap.label}: patch truncated: {loss.describe()}", style="yellow",
                  markup=False, highlight=False)
    return snap

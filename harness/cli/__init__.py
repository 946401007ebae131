"""The percpu-diff command line."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """The entry point, harness.cli.app.main, under the package's name too."""
    # Imported when called: `python -m harness.cli.app` must find the
    # module not yet imported.
    from harness.cli.app import main as run

    return run(argv)

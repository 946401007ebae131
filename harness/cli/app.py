"""percpu-diff's entry point: the arguments become a request (options.py),
and the request's command carries it out (a module per command)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from harness.cli import options, requests
from harness.core import scratch
from harness.core.errors import UserError


def execute(request: requests.Request) -> int:
    """The command the request is for: its exit status.  Each command's
    module is imported when it runs: a show need not load what a run or an
    oracle boot uses (hypothesis, QEMU, coverage), start-up is its time too."""
    match request:
        case requests.ShowRequest():
            from harness.cli import show

            return show.main(request)
        case requests.AgreeRequest():
            from harness.cli import agree

            return agree.main(request)
        case requests.DumpRequest():
            from harness.cli import dump

            return dump.main(request)
        case requests.RunRequest():
            from harness.cli import run

            return run.main(request)
        case requests.ReproRequest():
            from harness.cli import repro

            return repro.main(request)
        case requests.ExtractRequest():
            from harness.cli import inspect

            return inspect.extract(request)
        case requests.BuildRequest():
            from harness.cli import inspect

            return inspect.build(request)
        case requests.TimelineRequest():
            from harness.cli import timeline

            return timeline.main(request)
        case requests.BisectRequest():
            from harness.cli import bisect

            return bisect.main(request)
        case requests.BootRequest():
            from harness.cli import boot

            return boot.boot_main(request)
        case requests.OracleRequest():
            from harness.cli import boot

            return boot.oracle_main(request)
        case requests.TriageRequest():
            from harness.cli import triage

            return triage.main(request)


def main(argv: Sequence[str] | None = None) -> int:
    # what a killed run left in /tmp, before this one adds its own
    scratch.clean_stale()
    try:
        return execute(options.parse(argv))
    except UserError as err:
        print(f"percpu-diff: error: {err}", file=sys.stderr)
        return err.exit_status
    except KeyboardInterrupt:
        print("percpu-diff: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

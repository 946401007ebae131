"""percpu-diff's entry point: the arguments become a request (options.py),
and the request's command carries it out (a module per command)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from harness.cli import (
    agree,
    bisect,
    boot,
    dump,
    inspect,
    options,
    repro,
    requests,
    run,
    show,
    timeline,
    triage,
)
from harness.core import scratch
from harness.core.errors import UserError


def execute(request: requests.Request) -> int:
    """The command the request is for: its exit status."""
    match request:
        case requests.ShowRequest():
            return show.main(request)
        case requests.AgreeRequest():
            return agree.main(request)
        case requests.DumpRequest():
            return dump.main(request)
        case requests.RunRequest():
            return run.main(request)
        case requests.ReproRequest():
            return repro.main(request)
        case requests.ExtractRequest():
            return inspect.extract(request)
        case requests.BuildRequest():
            return inspect.build(request)
        case requests.TimelineRequest():
            return timeline.main(request)
        case requests.BisectRequest():
            return bisect.main(request)
        case requests.BootRequest():
            return boot.boot_main(request)
        case requests.OracleRequest():
            return boot.oracle_main(request)
        case requests.TriageRequest():
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

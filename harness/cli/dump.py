"""percpu-diff dump: an allocation dump parsed out of a boot log."""

from __future__ import annotations

import json
import sys

from rich.console import Console

from harness.cli.requests import DumpRequest
from harness.core import dumpfmt
from harness.core.errors import UserError
from harness.report import console


def main(request: DumpRequest) -> int:
    """Parse an allocation dump out of a boot log (dmesg, a result's log, a file)."""
    try:
        text = sys.stdin.read() if str(request.log) == "-" else request.log.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read {request.log}: {err}") from err
    try:
        table = dumpfmt.parse(text)
    except dumpfmt.DumpParseError as err:
        raise UserError(f"{request.log}: {err}") from err
    if request.json:
        print(json.dumps({
            "format": table.format, "static_size": table.static_size,
            "reserved_size": table.reserved_size, "dyn_size": table.dyn_size,
            "unit_size": table.unit_size, "atom_size": table.atom_size,
            "alloc_size": table.alloc_size,
            "units": [{"unit": u.unit, "alloc": u.alloc, "group": u.group, "cpu": u.cpu}
                      for u in table.units],
        }, indent=2))
    else:
        console.show_dump(Console(), table)
    return 0

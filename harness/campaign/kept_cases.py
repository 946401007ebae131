"""The cases a run directory keeps, and what it needs to boot one again.

A run writes every case it will run, whole, before it runs any: cases.jsonl.gz,
one JSON line per case, `[name, the case's TOML]`, in the run's case order,
gzip-compressed (generated cases differ in a few numbers: a 10,000-case run
keeps them in well under a megabyte).  The TOML is cases.case_to_toml's, the
text the run's identity digests: the file is checked against run.json's
`identity.cases` when read, so a case is shown as the run ran it or not at
all.  Written once, at the start of a fresh run (a resume has the same cases,
as its identity check proves; it writes the file only if an older version's
run lacks it).

run.json's `replay` holds the rest: the sources as the command line named
them (paths made absolute), the build and limits, the declared and triage
files: what `show --run` and `repro --run` rebuild the run's sides from.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import json
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core import cases, files
from harness.core.errors import UserError

CASES_FILE = "cases.jsonl.gz"
META_FILE = "run.json"


def write(directory: Path, run_cases: Sequence[cases.Case], tomls: Sequence[str]) -> None:
    """Every case of the run, in its order, into the run directory; `tomls`:
    each case's cases.case_to_toml()."""
    lines = "".join(json.dumps([c.name, text]) + "\n"
                    for c, text in zip(run_cases, tomls, strict=True))
    # mtime 0: the same cases make the same bytes
    files.write_atomic(directory / CASES_FILE, gzip.compress(lines.encode(), mtime=0))


def digest(tomls: Iterator[str]) -> str:
    """The digest of the cases' TOML texts in order, as Plan.identity() makes it."""
    h = hashlib.sha256()
    for text in tomls:
        h.update(text.encode("utf-8", "surrogateescape") + b"\0")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class KeptRun:
    """A run directory as show and repro read it."""

    path: Path
    meta: dict[str, object]

    @property
    def replay(self) -> dict[str, object]:
        replay = self.meta.get("replay")
        if not isinstance(replay, dict):
            raise UserError(f"{self.path} does not say how its cases were run (run.json has "
                            "no replay: a timeline step, or a run of an older percpu-diff): "
                            "look at a case with show --case, or run it again")
        return replay

    def code(self) -> list[object]:
        """The digests of the sides' code the run built (identity.code)."""
        identity = self.meta.get("identity")
        code = identity.get("code") if isinstance(identity, dict) else None
        return code if isinstance(code, list) else []

    def case(self, name: str) -> cases.Case:
        """The case named `name`, as the run ran it; a name the run has not: refused,
        naming the nearest."""
        entries = self._entries()
        identity = self.meta.get("identity")
        expected = identity.get("cases") if isinstance(identity, dict) else None
        if digest(text for _, text in entries) != expected:
            raise UserError(f"{self.path / CASES_FILE} does not hold the cases run.json was "
                            "written for: the run directory was changed; run it again")
        found = next((text for case_name, text in entries if case_name == name), None)
        if found is None:
            names = [n for n, _ in entries]
            near = difflib.get_close_matches(name, names, n=3, cutoff=0.5) or names[:3]
            raise UserError(f"{self.path} ran no case named '{name}' ({len(names)} cases): "
                            f"try {', '.join(near)}")
        return cases.case_from_mapping(tomllib.loads(found), name, f"case '{name}' of {self.path}")

    def _entries(self) -> list[tuple[str, str]]:
        source = self.path / CASES_FILE
        if not source.is_file():
            raise UserError(f"{self.path} keeps no cases ({CASES_FILE}): it was written by an "
                            "older percpu-diff; run it again to look at its cases")
        try:
            rows = [json.loads(line) for line in gzip.decompress(source.read_bytes()).splitlines()]
            return [(str(name), str(text)) for name, text in rows]
        except (OSError, EOFError, ValueError, TypeError) as err:
            raise UserError(f"{source} is damaged ({type(err).__name__}): run the cases "
                            "again in another --out") from None


def open_run(path: Path) -> KeptRun:
    """The run in `path`; a directory that holds none: refused in one line."""
    meta_file = path / META_FILE
    if not meta_file.is_file():
        what = "does not exist" if not path.exists() else \
            f"holds no run ({META_FILE} is not there)"
        look = path if path.exists() else path.parent
        raise UserError(f"{path} {what}: give --run the --out of a run (ls {look})")
    try:
        meta = json.loads(meta_file.read_text())
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        raise UserError(f"{meta_file} is damaged ({type(err).__name__}): run the cases again "
                        "in another --out") from None
    return KeptRun(path, meta)

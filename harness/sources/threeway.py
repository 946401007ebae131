"""The 3-way merge of `git apply --3way`, on copies of the texts.

git apply --3way rebuilds the patch's pre-image from the blob its index
line names, applies the patch to that, and merges the result into the file
as it is.  We do the same with `git merge-file` on three files in a fresh
temporary directory: no repository, index, work tree or ref is involved, so
the user's tree cannot be touched.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from harness.core.errors import UserError

# A merge-file exit status above this is an error, not a count of conflicts.
_MOST_CONFLICTS = 127


def merge(ours: str, base: str, theirs: str) -> str | None:
    """The clean merge of base->theirs into ours; None if they conflict."""
    with tempfile.TemporaryDirectory(prefix="percpu-diff-3way-") as tmp:
        names = []
        for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(tmp) / name
            path.write_bytes(text.encode("utf-8", "surrogateescape"))
            names.append(str(path))
        env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
        try:
            result = subprocess.run(["git", "merge-file", "-p", *names], capture_output=True,
                                    cwd=tmp, env=env, check=False)
        except FileNotFoundError:
            raise UserError("git is not installed or not on PATH: --3way needs git") from None
    if result.returncode < 0 or result.returncode > _MOST_CONFLICTS:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UserError(f"git merge-file failed ({message[0] if message else 'no message'}): "
                        "apply the patch without --3way")
    if result.returncode:
        return None
    return result.stdout.decode("utf-8", "surrogateescape")

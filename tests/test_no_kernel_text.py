"""The project must not contain kernel source: check every tracked file.

Compares each line of every file git tracks here with every line mm/percpu.c,
include/linux/percpu.h and the arch files of the arch flows have had in the
kernel tree's history.  Short or punctuation-only lines are ignored: `}` and
`return 0;` are not copying, and neither is naming a header in an #include.
Needs PERCPU_DIFF_TREE (see tests/test_tree.py).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

TREE = os.environ.get("PERCPU_DIFF_TREE")
REPO = Path(__file__).resolve().parents[1]
KERNEL_FILES = ("mm/percpu.c", "include/linux/percpu.h", "arch/x86/kernel/setup_percpu.c",
                "arch/sparc/kernel/smp_64.c")
MIN_LENGTH = 16

pytestmark = [
    pytest.mark.tree,
    pytest.mark.skipif(not TREE, reason="PERCPU_DIFF_TREE not set: no kernel text to compare"),
]


def normalized(line: str) -> str | None:
    text = " ".join(line.split())
    if len(text) < MIN_LENGTH or not re.search(r"[A-Za-z_]{3}", text):
        return None
    if re.fullmatch(r'#\s*include [<"][\w/.]+[>"]', text):
        return None
    return text


def kernel_lines() -> set[str]:
    assert TREE is not None
    git = ["git", "--git-dir", TREE] if (Path(TREE) / "HEAD").is_file() else ["git", "-C", TREE]
    specs = []
    for path in KERNEL_FILES:
        commits = subprocess.run([*git, "log", "--format=%H", "--", path], check=True,
                                 capture_output=True, text=True).stdout.split()
        specs += [f"{c}:{path}" for c in commits]
    blobs = subprocess.run([*git, "cat-file", "--batch"], input=("\n".join(specs) + "\n").encode(),
                           check=True, capture_output=True).stdout
    lines: set[str] = set()
    for raw in blobs.decode("utf-8", "replace").splitlines():
        norm = normalized(raw)
        if norm:
            lines.add(norm)
    return lines


def test_no_tracked_file_copies_kernel_lines() -> None:
    kernel = kernel_lines()
    assert len(kernel) > 1000, "read too little kernel text to judge"
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files"], check=True,
                             capture_output=True, text=True).stdout.split()
    copied: list[str] = []
    for name in tracked:
        path = REPO / name
        try:
            text = path.read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            norm = normalized(line)
            if norm and norm in kernel:
                copied.append(f"{name}:{number}: {norm}")
    assert copied == [], f"{len(copied)} kernel lines in the repo:\n" + "\n".join(copied)

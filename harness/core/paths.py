"""Where percpu-diff keeps things: its cache, its templates, its data.

Every stage needs one of these, so they live at the bottom of the house
rather than in the first module that happened to need them.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES = _PACKAGE / "templates"


def cache_root() -> Path:
    """Shims and Debian sources: PERCPU_DIFF_CACHE, else the XDG cache."""
    env = os.environ.get("PERCPU_DIFF_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "percpu-diff"


def data_dir() -> Path:
    """The project's cases/ (named cases, triage, declared changes): beside
    the package in a checkout, else ./cases (an installed package has no
    cases/ of its own)."""
    candidates = (_PACKAGE.parent / "cases", Path.cwd() / "cases")
    return next((path for path in candidates if (path / "triage.toml").is_file()),
                candidates[0])

"""The import contract: data flows one way through the stages.

    core <- sources <- extract <- compile <- run
    core <- sources <- boot (real boots under QEMU)
    core <- models (py_impl)
    core <- judge
    campaign uses run, boot, models and judge; report uses judge and campaign;
    cli sits on top.

Every import counts, including those under TYPE_CHECKING and inside
functions: a lazy import is still a dependency a reader has to hold.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What each layer may import besides itself.
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "sources": frozenset({"core"}),
    "extract": frozenset({"core", "sources"}),
    "compile": frozenset({"core", "sources", "extract"}),
    "run": frozenset({"core", "sources", "extract", "compile"}),
    "boot": frozenset({"core", "sources"}),
    "models": frozenset({"core"}),
    "judge": frozenset({"core"}),
    "campaign": frozenset({"core", "sources", "extract", "compile", "run", "boot", "models",
                           "judge"}),
    "report": frozenset({"core", "judge", "campaign"}),
    "cli": frozenset({"core", "sources", "extract", "compile", "run", "boot", "models", "judge",
                      "campaign", "report"}),
}


def layer_of(module: str) -> str | None:
    """harness.<stage>.x -> stage; py_impl.x -> models; else not ours."""
    parts = module.split(".")
    if parts[0] == "py_impl":
        return "models"
    if parts[0] == "harness" and len(parts) > 1 and parts[1] in ALLOWED:
        return parts[1]
    return None


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from harness import judge` names a subpackage, not a symbol.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def our_modules() -> list[Path]:
    return sorted(p for top in ("harness", "py_impl") for p in (ROOT / top).rglob("*.py"))


def file_violations(path: Path, here: str) -> list[str]:
    """The imports of one file that its layer `here` may not make."""
    found = []
    for imported in sorted(imported_modules(path)):
        there = layer_of(imported)
        if there is not None and there != here and there not in ALLOWED[here]:
            found.append(f"{path.name} ({here}) imports {imported} ({there})")
    return found


def violations() -> list[str]:
    return [v for path in our_modules() if (here := layer_of(module_name(path))) is not None
            for v in file_violations(path, here)]


def test_every_module_belongs_to_a_layer() -> None:
    homeless = [str(p.relative_to(ROOT)) for p in our_modules()
                if layer_of(module_name(p)) is None and p.name != "__init__.py"]
    assert homeless == []


def test_imports_follow_the_layers() -> None:
    assert violations() == []


@pytest.mark.parametrize("here, source", [
    ("core", "from harness.judge import compare\n"),
    ("judge", "import py_impl\n"),
    ("judge", "def late() -> None:\n    from py_impl.layout import page_align\n"),
    ("models", "from harness.campaign.runner import Plan\n"),
    ("compile", "from harness.run import server\n"),
    ("report", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
               "    from harness.cli import app\n"),
])
def test_the_check_sees_a_wrong_import(tmp_path: Path, here: str, source: str) -> None:
    path = tmp_path / "m.py"
    path.write_text(source)
    assert len(file_violations(path, here)) >= 1


def test_the_check_lets_a_right_import_pass(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("from harness.core import cases\nfrom harness.judge import compare\n")
    assert file_violations(path, "campaign") == []

"""The sizes the redesign promised, kept: a function fits on a screen, a shim
runtime file holds one role, and untyped dicts stay at the JSON edge.  A
change that breaks one fails here with the place to split."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_LINES = 60
RUNTIME_FILE_LINES = 500
# Where JSON is written or read whole: a finding's line in findings.jsonl
# (keep.py), and the oracle's report and the state a real boot printed.
UNTYPED_DICT_MODULES = frozenset({"harness/campaign/keep.py", "harness/campaign/oracle.py"})
UNTYPED_DICT = re.compile(r"\b(?:dict|Mapping)\[str,\s*Any\]")


def python_files() -> list[Path]:
    return sorted(p for folder in ("harness", "py_impl") for p in (ROOT / folder).rglob("*.py"))


def long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [f"{str(path).removeprefix(str(ROOT) + '/')}:{node.lineno} {node.name} "
            f"({(node.end_lineno or node.lineno) - node.lineno + 1} lines)"
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and (node.end_lineno or node.lineno) - node.lineno + 1 > FUNCTION_LINES]


def test_no_function_is_longer_than_a_screen() -> None:
    assert [f for p in python_files() for f in long_functions(p)] == []


def test_the_length_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    (tmp_path / "long.py").write_text(f"def f() -> None:\n{body}\n")
    expected = f"{tmp_path}/long.py:1 f ({FUNCTION_LINES + 1} lines)"
    assert long_functions(tmp_path / "long.py") == [expected]


def test_no_runtime_file_holds_more_than_one_role() -> None:
    runtime = ROOT / "kernel_shim" / "runtime"
    sizes = {p.name: len(p.read_text().splitlines()) for p in sorted(runtime.glob("*.[ch]"))}
    assert len(sizes) > 10
    assert {name: n for name, n in sizes.items() if n > RUNTIME_FILE_LINES} == {}


def test_untyped_dicts_stay_at_the_json_edge() -> None:
    found = {str(p.relative_to(ROOT)) for p in python_files() if UNTYPED_DICT.search(p.read_text())}
    assert found <= UNTYPED_DICT_MODULES, sorted(found - UNTYPED_DICT_MODULES)
    assert UNTYPED_DICT.search("state: dict[str, Any] = {}")

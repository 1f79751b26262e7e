"""The core's promise to its readers: pure standard-library code, no I/O, every module small."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import bridge.core

CORE = Path(bridge.core.__file__).parent
MODULES = sorted(CORE.glob("*.py"))
FORBIDDEN = {"asyncio", "socket", "sqlite3", "subprocess", "threading", "urllib", "http", "os", "io"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module)
    return roots


def test_core_imports_only_the_standard_library_and_itself() -> None:
    for path in MODULES:
        for name in imported_roots(path):
            top = name.split(".")[0]
            assert name.startswith("bridge.core") or top in sys.stdlib_module_names, (
                f"{path.name} imports {name}"
            )
            assert top not in FORBIDDEN, f"{path.name} imports {name}, which does I/O"


def test_core_modules_stay_small() -> None:
    for path in MODULES:
        assert len(path.read_text().splitlines()) <= 400, f"{path.name} has grown past one thing"

"""The matching engine knows nothing of the reader: partnermatch.matching imports no
presentation module, directly or through what it imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "partnermatch"
# What words things for a reader, and what reads the request.
FORBIDDEN = ("flask_babel", "partnermatch.i18n", "partnermatch.presentation")
# The engine reads the programme through its ProfileSource, not the database.
ENGINE_FORBIDDEN = ("partnermatch.extensions", "partnermatch.matching.journal", "sqlalchemy")


def module_file(name: str) -> Path | None:
    relative = Path(*name.split(".")[1:])
    for candidate in (PACKAGE / relative.with_suffix(".py"), PACKAGE / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(path: Path) -> set[str]:
    """Every module a file imports at any level (function bodies included), by full name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
            if node.module == "flask":
                found.update(f"flask.{alias.name}" for alias in node.names)
    return found


def reachable_from(start: str) -> dict[str, str]:
    """Every module reachable from one, with the module that first imports it."""
    seen: dict[str, str] = {start: ""}
    todo = [start]
    while todo:
        name = todo.pop()
        path = module_file(name)
        if path is None:
            continue
        for imported in imports_of(path):
            if imported not in seen:
                seen[imported] = name
                if imported.startswith("partnermatch."):
                    todo.append(imported)
    return seen


MATCHING_MODULES = sorted(
    f"partnermatch.matching.{path.stem}"
    for path in (PACKAGE / "matching").glob("*.py")
    if path.stem != "__init__"
)


@pytest.mark.parametrize("module", MATCHING_MODULES)
def test_matching_imports_no_presentation_module(module):
    reached = reachable_from(module)

    offending = {
        name: reached[name]
        for name in reached
        if any(name == bad or name.startswith(f"{bad}.") for bad in FORBIDDEN)
    }
    assert not offending, f"{module} reaches {offending} (module: imported by)"
    assert "flask.request" not in imports_of(module_file(module))  # type: ignore[arg-type]


def test_the_engine_reads_profiles_through_its_source():
    imported = imports_of(PACKAGE / "matching" / "engine.py")

    assert not {name for name in imported if any(name.startswith(bad) for bad in ENGINE_FORBIDDEN)}


def test_the_contract_sees_an_import_made_inside_a_function(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from flask_babel import gettext\n")

    assert "flask_babel" in imports_of(sample)

"""The package's layers (docs/design.md, "Layers"): each imports only from the layers below it, and
each third-party library from the one place it belongs."""

from __future__ import annotations

import ast
from pathlib import Path

import chocs_middleware.cache

PACKAGE = Path(chocs_middleware.cache.__file__).parent
LAYERS = ("common", "semantics", "decisions", "storages", "entries", "flow", "operations", "adapters")
"""Lowest first. ``clock.py`` and ``error.py`` are below them all."""
BASE = ("clock", "error")
PUBLIC_PATHS = {
    "__init__",
    "__main__",
    "testing",
    "cache_storage",
    "memory_storage",
    "redis_storage",
    "prometheus",
    "middleware",
}
"""Top-level modules that only put names at documented import paths: they may import any layer."""


def rank(parts: tuple[str, ...]) -> int:
    """The layer of a module, by its path inside the package (``("flow", "read")``)."""
    if parts[0] in BASE:
        return -1
    return LAYERS.index(parts[0])


def imports(module: Path) -> list[tuple[tuple[str, ...], int]]:
    """(the package path each relative import names, its line)."""
    own = module.relative_to(PACKAGE).with_suffix("").parts
    found = []
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = own[: len(own) - node.level]
            target = (*base, *(node.module.split(".") if node.module else ()))
            if not target:  # "from . import x" at the top: x is a module of the package
                target = (node.names[0].name,)
            found.append((target, node.lineno))
    return found


def third_party(module: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_module_is_in_a_layer_or_is_a_public_path() -> None:
    for module in PACKAGE.rglob("*.py"):
        parts = module.relative_to(PACKAGE).with_suffix("").parts
        assert parts[0] in (*LAYERS, *BASE) or (len(parts) == 1 and parts[0] in PUBLIC_PATHS), parts


def test_each_layer_imports_only_from_the_layers_below_it() -> None:
    upward = []
    for module in PACKAGE.rglob("*.py"):
        parts = module.relative_to(PACKAGE).with_suffix("").parts
        if len(parts) == 1 and parts[0] in PUBLIC_PATHS:
            continue
        for target, line in imports(module):
            if rank(target) > rank(parts):
                upward.append(f"{'/'.join(parts)}.py:{line} imports {'.'.join(target)}")
    assert upward == []


def test_each_library_is_imported_where_it_belongs() -> None:
    owners = {"chocs": "adapters/chocs/", "redis": "storages/redis/", "prometheus_client": "operations/prometheus"}
    misplaced = []
    for module in PACKAGE.rglob("*.py"):
        name = module.relative_to(PACKAGE).as_posix()
        for library, home in owners.items():
            if library in third_party(module) and not name.startswith(home) and name != "testing.py":
                misplaced.append(f"{name} imports {library}")
    assert misplaced == []

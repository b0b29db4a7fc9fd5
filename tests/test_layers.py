"""The layering rules: `index` never imports discord, and no module imports a layer above it."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INDEX = REPO / "index"

# Each layer may import only the layers listed after it (and itself).
# maintenance (backup, check) and workers (answering in other processes) work through the store;
# settings (.env and the environment) are read by the front ends only, so nothing below may import them.
LAYERS = ["cli", "maintenance", "workers", "settings", "store", "db", "rank", "engine", "ingest", "base"]
BASE = {"errors", "models", "__init__"}


def layer_of(module: str) -> str:
    """The layer of a module path inside `index` ("index.rank.ranker" -> "rank")."""
    parts = module.split(".")[1:]
    if not parts or parts[0] in BASE:
        return "base"
    return "cli" if parts[0] == "__main__" else parts[0]


def imports_of(path: Path) -> list[str]:
    """The absolute module names a file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append(name)
            found += [f"{name}.{alias.name}" for alias in node.names]
    return found


def test_index_never_imports_discord():
    offenders = [
        str(path.relative_to(REPO))
        for path in INDEX.rglob("*.py")
        if any(name == "discord" or name.startswith("discord.") for name in imports_of(path))
    ]
    assert offenders == []


def test_no_index_module_imports_a_layer_above_it():
    wrong = []
    for path in INDEX.rglob("*.py"):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        if path.name == "__init__.py" and path.parent == INDEX:
            continue  # the package's front door re-exports every layer
        own = LAYERS.index(layer_of(module))
        modules = {p.stem for p in INDEX.iterdir()}
        for name in imports_of(path):
            inside = name.startswith("index.") and name.split(".")[1] in modules
            if inside and LAYERS.index(layer_of(name)) < own:
                wrong.append(f"{module} imports {name}")
    assert wrong == []


def test_bot_uses_only_what_index_exports():
    import index

    exported = set(index.__all__)
    wrong = []
    for path in (REPO / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("index"):
                if node.module != "index":
                    wrong.append(f"{path.name} imports from {node.module}")
                wrong += [f"{path.name} imports {a.name}" for a in node.names if a.name not in exported]
    assert wrong == []

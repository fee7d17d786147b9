"""The package's stages import downwards only, and no module imports itself back through others,
counting imports inside functions and those made only for type checking (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "handoutgen"
# Lowest first: a module may import its own stage and those before it.
STAGES = ("base", "library", "compose", "layout", "emit", "pipeline", "runs", "deliver", "web", "cli")
TOP_LEVEL = {"pipeline": "pipeline", "cache": "pipeline", "cli": "cli", "__main__": "cli"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage(module: str) -> str:
    """The stage a module belongs to: its folder, or for a top-level module its role."""
    parts = module.split(".")
    if len(parts) == 1:
        return "base"
    if len(parts) > 2 or parts[1] in STAGES:
        return parts[1] if parts[1] in STAGES else "base"
    return TOP_LEVEL.get(parts[1], "base")


def imports() -> dict[str, set[str]]:
    """Every module of the package and the package modules it imports, anywhere in its code."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    found: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                for alias in node.names:
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        found[name] = {t for t in targets if t in modules and t != name}
    return found


def test_every_import_points_down_the_stages() -> None:
    upward = [f"{module} -> {target}" for module, targets in sorted(imports().items())
              for target in sorted(targets) if STAGES.index(stage(target)) > STAGES.index(stage(module))]
    assert upward == []


def test_no_module_imports_itself_back() -> None:
    graph = imports()
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str], done: set[str]) -> None:
        for target in sorted(graph[module]):
            if target in path:
                cycles.append([*path[path.index(target):], target])
            elif target not in done:
                visit(target, [*path, target], done)
        done.add(module)

    finished: set[str] = set()
    for module in sorted(graph):
        if module not in finished:
            visit(module, [module], finished)
    assert cycles == []


def test_the_scan_sees_imports_inside_functions() -> None:
    # the cli imports the web page only inside `serve`: a scan of top-level imports would miss it
    assert "handoutgen.web" in imports()["handoutgen.cli"]
    assert stage("handoutgen.library.fonts") == "library" and stage("handoutgen.cache") == "pipeline"

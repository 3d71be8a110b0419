"""The one-way dependency order of docs/architecture.md: no module imports a layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Lowest first; a module may import its own layer and those before it (docs/architecture.md).
ORDER = [
    {"engine.__init__", "engine.errors", "engine.jobs"},  # __init__: the version only
    {"engine.files", "engine.memory", "engine.tiling"},
    {"engine.imageio"},
    {"engine.archs"},
    {"engine.weights"},
    {"engine.quant"},
    {"engine.upscaler"},
    {"engine.metrics"},
    {"engine.train"},
    {"engine.sweep"},
    {"engine.catalog", "engine.outputs"},
    {"engine.cli"},
    {"app"},
]


def _layer(module: str) -> int | None:
    parts = module.split(".")
    unit = "app" if parts[0] == "app" else ".".join(parts[:2])
    return next((i for i, units in enumerate(ORDER) if unit in units), None)


def _imports(path: Path) -> set[str]:
    package = ".".join(path.relative_to(REPO).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    else:
        package = package.removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                head = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*head, *([node.module] if node.module else [])])
            # "from engine import files" imports engine.files
            found |= {f"{base}.{a.name}" if base == "engine" else base for a in node.names}
    return found


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for path in sorted([*REPO.glob("engine/**/*.py"), *REPO.glob("app/**/*.py")]):
        rel = path.relative_to(REPO).as_posix()
        own = _layer(".".join(path.relative_to(REPO).with_suffix("").parts))
        assert own is not None, f"{rel} is in no layer of ORDER: add its package there and to docs/architecture.md"
        for name in _imports(path):
            target = _layer(name)
            if target is not None and target > own:
                upward.append(f"{rel} imports {name}")
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_the_engine_imports_without_qt():
    import subprocess
    import sys

    code = ("import sys, engine.upscaler, engine.metrics.evaluate, engine.sweep, engine.cli; "
            "sys.exit('PySide6' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0

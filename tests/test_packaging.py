"""The PyInstaller spec and the desktop entry stay in step with the code (the bundle itself: `make package`)."""

from __future__ import annotations

import ast
import configparser
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "packaging" / "mpsr.spec"


def spec_list(name: str) -> list[str]:
    for node in ast.parse(SPEC.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{SPEC} has no literal {name} list")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_bundle_excludes_nothing_the_app_imports():
    excludes = spec_list("EXCLUDES")
    offenders = []
    for path in sorted((REPO / "engine").rglob("*.py")) + sorted((REPO / "app").rglob("*.py")):
        for module in imported_modules(path):
            offenders += [f"{path.relative_to(REPO)} imports {module}"
                          for ex in excludes if module == ex or module.startswith(ex + ".")]
    assert not offenders, "the bundle would lack these (packaging/mpsr.spec EXCLUDES): " + "; ".join(offenders)


def test_bundle_has_the_pyiqa_networks_of_every_metric():
    # pyiqa imports a metric's network module by name, which PyInstaller cannot see: the spec lists them.
    from pyiqa.default_model_configs import DEFAULT_CONFIGS

    source = (REPO / "engine" / "metrics" / "iqa.py").read_text(encoding="utf-8")
    metrics = set(re.findall(r"create_metric\(\s*\"(\w+)\"", source))
    assert metrics, "engine/metrics/iqa.py creates no pyiqa metric any more: update this test"
    bundled = {f"pyiqa.archs.{name}_arch" for name in spec_list("IQA_ARCHS")}
    for metric in metrics:
        arch = DEFAULT_CONFIGS[metric]["metric_opts"]["type"]
        snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", arch).lower()
        candidates = {f"pyiqa.archs.{arch}_arch", f"pyiqa.archs.{arch.lower()}_arch", f"pyiqa.archs.{snake}_arch"}
        assert candidates & bundled, f"metric {metric!r} needs one of {sorted(candidates)} in IQA_ARCHS"


def test_desktop_entry():
    path = REPO / "packaging" / "mpsr.desktop"
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(path, encoding="utf-8")
    group = entry["Desktop Entry"]
    assert group["Type"] == "Application" and group["Name"]
    assert group["Exec"].split()[:2] == ["mpsr", "gui"]
    icon = REPO / "resources" / "icons" / f"{group['Icon']}.svg"
    assert icon.is_file() and b"<svg" in icon.read_bytes()[:4096]
    for key in ("Categories", "MimeType", "Keywords"):
        assert group[key].endswith(";"), f"{key} must end with ';'"
    if shutil.which("desktop-file-validate"):
        result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0 and not result.stdout.strip(), result.stdout

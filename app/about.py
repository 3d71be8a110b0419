"""Help > About: versions of everything that computes, and where the models come from."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QSize, qVersion
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTextBrowser,
    QVBoxLayout,
)

from app.screen_fit import fit_to_screen
from engine import __version__ as mpsr_version

# Distribution names whose versions change results; read from metadata so nothing heavy is imported.
_PACKAGES = ("torch", "torchvision", "numpy", "Pillow", "pyiqa", "onnxruntime", "safetensors")
_METRIC_FILES = (
    ("NIQE pristine parameters", "basicsr 1.4.2 (Apache-2.0), bundled in resources/niqe"),
    ("Ma / NRQM model (for PI)", "pyiqa weights (chaofengc/IQA-PyTorch-Weights), fetched on request"),
)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _card(spec: str) -> tuple[Path | None, dict | None, str]:
    """(weights path, model card, problem) for a model spec, without loading the weights."""
    from engine.errors import MPSRError
    from engine.weights import resolve

    try:
        path = resolve(spec)
    except MPSRError as err:
        return None, None, str(err)
    try:
        return path, json.loads(path.with_suffix(".json").read_text(encoding="utf-8")), ""
    except (OSError, ValueError):
        return path, None, "no model card next to the weights"


def model_rows(specs: list[str]) -> str:
    rows = []
    for spec in specs:
        path, card, problem = _card(spec)
        if card is None:
            rows.append(f"<tr><td><b>{spec}</b></td><td colspan=2>{problem}</td></tr>")
            continue
        source = card.get("upstream") or card.get("source") or ""
        if isinstance(source, dict):
            source = ", ".join(f"{k} {v}" for k, v in source.items() if k in ("package", "version"))
        sha = str(card.get("sha256", ""))[:16]
        rows.append(
            f"<tr><td><b>{card.get('display_name', spec)}</b><br><small>{path}</small></td>"
            f"<td>{card.get('licence') or card.get('license') or 'licence not stated'}</td>"
            f"<td>{source}<br><small>sha256 {sha}\u2026</small></td></tr>"
        )
    return "".join(rows)


def about_html(models: list[str]) -> str:
    from engine.quant import kernel_info

    versions = "".join(
        f"<tr><td>{name}</td><td>{ver}</td></tr>"
        for name, ver in [("mpsr", mpsr_version), ("Python", platform.python_version()),
                          ("Qt / PySide6", f"{qVersion()} / {pyside_version}")]
        + [(p, _version(p)) for p in _PACKAGES]
        + [("CPU (int8 kernels)", kernel_info().label)]
    )
    metrics = "".join(f"<tr><td>{n}</td><td>{s}</td></tr>" for n, s in _METRIC_FILES)
    return (
        "<h2>MPSR</h2><p>Multi-Precision Super-Resolution: 4x upscaling with SRGAN and ESRGAN generators "
        "in fp32, int8 and mixed int16/int8 precision. Licence BSD-3-Clause.</p>"
        f"<h3>Versions</h3><table cellpadding=3>{versions}</table>"
        f"<h3>Models</h3><table cellpadding=3><tr><th>Model</th><th>Licence</th><th>Source</th></tr>"
        f"{model_rows(models)}</table>"
        f"<h3>Metric models</h3><table cellpadding=3>{metrics}</table>"
    )


class AboutDialog(QDialog):
    def __init__(self, parent=None, models: list[str] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About MPSR")
        specs = list(models) if models is not None else ["esrgan", "srgan"]
        if models is None and parent is not None and hasattr(parent, "cfg"):
            specs += parent.cfg.extra_models
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(True)
        self.text.setHtml(about_html(specs))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"MPSR {mpsr_version}"))
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
        fit_to_screen(self, QSize(640, 560))

"""Everything the app remembers between runs, stored with QSettings."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from PySide6.QtCore import QSettings

from engine.tiling import DEFAULT_OVERLAP, DEFAULT_TILE

MAX_RECENT = 10
SAVE_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WebP": ".webp", "TIFF": ".tif", "BMP": ".bmp"}
LOSSY = ("JPEG", "WebP")


@dataclass
class AppSettings:
    model: str = "esrgan"
    precision: str = "fp32"
    output_dir: str = ""  # empty: the last folder saved to, else next to the input (if writable)
    last_save_dir: str = ""  # where the save dialog saved last
    save_format: str = "PNG"
    quality: int = 95
    input_view: str = "bicubic"  # how the input is enlarged x4 for comparison: "nearest" or "bicubic"
    benchmark: bool = False
    compute_pi: bool = True  # PI needs NRQM: ~15 s per 512x512 on 2 CPU cores
    device: str = "auto"  # "auto", "cpu" or "cuda"
    threads: int = 0  # 0: let torch decide
    tile: int = DEFAULT_TILE
    overlap: int = DEFAULT_OVERLAP
    recent_files: list[str] = field(default_factory=list)
    extra_models: list[str] = field(default_factory=list)  # model files the user loaded
    extra_precisions: list[str] = field(default_factory=list)  # plans/artifacts the user added

    @classmethod
    def load(cls, store: QSettings) -> AppSettings:
        out = cls()
        for f in fields(cls):
            if not store.contains(f.name):
                continue
            raw = store.value(f.name)
            default = getattr(out, f.name)
            try:
                setattr(out, f.name, _coerce(raw, default))
            except (TypeError, ValueError):
                continue  # a hand-edited or older settings file: keep the default
        return out

    def save(self, store: QSettings) -> None:
        for f in fields(self):
            store.setValue(f.name, getattr(self, f.name))
        store.sync()

    def add_recent(self, path: str) -> None:
        self.recent_files = [path] + [p for p in self.recent_files if p != path]
        del self.recent_files[MAX_RECENT:]


def _coerce(raw, default):
    """QSettings returns strings from INI files; bring them back to the default's type."""
    if isinstance(default, bool):
        return raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, list):
        if raw is None or raw == "":
            return []
        return [str(x) for x in raw] if isinstance(raw, (list, tuple)) else [str(raw)]
    return str(raw)

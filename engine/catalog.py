"""The generators a user can run: the named ones (esrgan, srgan) and every weights file shipped in ``models/``.

Quantized artifacts are described from their header alone (no tensors read), with the named generator they
were made from, so a listing says how to run each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.errors import ModelError
from engine.weights import known_models, shipped_dir
from engine.weights.load import MISSING_HINTS, QUANTIZED_FORMAT, read_card


@dataclass(frozen=True)
class Entry:
    name: str
    path: Path
    precision: str  # "fp32", or a quantized artifact's plan name ("int8", "mixed", ...)
    model: str | None  # for an artifact: the --model it runs with (a name or a file), if known
    description: str
    problem: str | None = None  # why it cannot be used (missing, unreadable)

    @property
    def usage(self) -> str:
        if self.problem:
            return ""
        if self.precision == "fp32":
            return f"--model {self.name if self.name in known_models() else self.path}"
        return f"--model {self.model or '?'} --precision {self.path}"


def _is_quantized(path: Path) -> bool:
    import safetensors

    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get("format") == QUANTIZED_FORMAT
    except (safetensors.SafetensorError, OSError, ValueError, RuntimeError):
        return False


def _named_by_sha() -> dict[str, str]:
    names = {}
    for name, path in known_models().items():
        sha = (read_card(path) or {}).get("sha256")
        if sha:
            names[sha] = name
    return names


def _artifact(path: Path, named: dict[str, str]) -> Entry:
    from engine.quant import read_info

    try:
        info = read_info(path)
    except ModelError as err:
        return Entry(path.stem, path, "?", None, "", problem=str(err))
    card = info.card
    source = named.get(card.get("source_sha256") or "") or card.get("source_model")
    return Entry(path.stem, path, info.plan.name, source, f"{card.get('display_name') or path.stem}, plan {info.plan}")


def models() -> list[Entry]:
    """Named generators first (present or not), then every other ``.safetensors`` file in ``models/``."""
    entries = []
    for name, path in known_models().items():
        card = read_card(path) or {}
        entries.append(Entry(name, path, "fp32", name, str(card.get("display_name") or name),
                             None if path.is_file() else MISSING_HINTS[name]))
    listed = {e.path.resolve() for e in entries}
    named = _named_by_sha()
    for path in sorted(shipped_dir().glob("*.safetensors")):
        if path.resolve() in listed:
            continue
        if _is_quantized(path):
            entries.append(_artifact(path, named))
        else:
            card = read_card(path) or {}
            entries.append(Entry(path.stem, path, "fp32", None, str(card.get("display_name") or path.stem)))
    return entries

"""Where weights live; they are written through engine.files.

Downloaded/converted weights go to a per-user cache (never into the repository or the
installed package); weights trained by the project ship in the repository's ``models/``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from engine.errors import ModelError

_REPO = Path(__file__).resolve().parents[2]


def model_dir(create: bool = True) -> Path:
    """The per-user model cache: $MPSR_MODEL_DIR, else $XDG_CACHE_HOME/mpsr/models, else ~/.cache/mpsr/models."""
    if os.environ.get("MPSR_MODEL_DIR"):
        path = Path(os.environ["MPSR_MODEL_DIR"]).expanduser()
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(cache).expanduser() / "mpsr" / "models"
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelError(f"cannot create the model folder ({exc.strerror or exc}); "
                             "set MPSR_MODEL_DIR to a writable folder", path) from None
    return path


def shipped_dir() -> Path:
    """The repository's ``models/`` folder: weights trained by the project and committed with it."""
    return _REPO / "models"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()

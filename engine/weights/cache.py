"""Where weights live, and the file helpers every writer of weights uses.

Downloaded/converted weights go to a per-user cache (never into the repository or the
installed package); weights trained by the project ship in the repository's ``models/``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from engine import files
from engine.errors import ModelError, MPSRError

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


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temp file beside ``path``, then rename it over ``path``; returns the path written
    (see :func:`engine.files.write_atomic`)."""
    return files.write_atomic(path, write)


def write_json(path: str | os.PathLike, data: object) -> Path:
    """``data`` as indented JSON (no NaN), written atomically."""
    return files.write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike, fmt: str, kind: str, sections: Iterable[str] = ()) -> dict:
    """A JSON document this project wrote with ``"format": fmt`` and the object ``sections`` (e.g. "config");
    anything else is a one-line error naming the file and the ``kind`` of document expected (e.g. "sweep file")."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise MPSRError(f"cannot read the {kind} ({err})", path) from None
    return check_document(data, path, fmt, kind, sections)


def check_document(data: object, path: str | os.PathLike, fmt: str, kind: str, sections: Iterable[str] = ()) -> dict:
    """``data`` if it is a document of format ``fmt`` with the object ``sections``; else a one-line error."""
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise MPSRError(f"not an mpsr {kind} (expected format {fmt})", path)
    missing = [name for name in sections if not isinstance(data.get(name), dict)]
    if missing:
        raise MPSRError(f"not an mpsr {kind}: it has no {' or '.join(missing)} section (damaged, or written by "
                        "another program)", path)
    return data

"""Where weights live, and the file helpers every writer of weights uses.

Downloaded/converted weights go to a per-user cache (never into the repository or the
installed package); weights trained by the project ship in the repository's ``models/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

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


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import (os.umask can only be read by setting it, which races with other threads).
_UMASK = _read_umask()


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temp file beside ``path``, then rename it over ``path``.

    The rename is atomic on one file system, so readers see the old file or the whole new one,
    and a crash or an exception leaves no half-written file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its 0600 mode would ignore the umask that ordinary files get.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    open(tmp, "xb").close()
    try:
        write(tmp)
        # Some writers (safetensors) recreate the file with mode 0600; give it the mode of an ordinary file.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike, data: object) -> Path:
    """``data`` as indented JSON (no NaN), written atomically."""
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_json(path: str | os.PathLike, fmt: str, kind: str) -> dict:
    """A JSON document this project wrote with ``"format": fmt``; anything else is a one-line error naming
    the file and the ``kind`` of document expected (e.g. "sweep file")."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise MPSRError(f"cannot read the {kind} ({err})", path) from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise MPSRError(f"not an mpsr {kind} (expected format {fmt})", path)
    return data

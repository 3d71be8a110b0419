"""User-facing errors: one readable line that names the file and the problem."""

from __future__ import annotations

import os


class MPSRError(Exception):
    """An error meant for the user. ``str(err)`` is a single line, no traceback needed."""

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        self.path = os.fspath(path) if path is not None else None
        line = " ".join(str(message).split())
        super().__init__(f"{self.path}: {line}" if self.path else line)


class ImageError(MPSRError):
    """An image could not be read or written."""


class ModelError(MPSRError):
    """A model file is missing, corrupt, unsafe or of an unknown architecture."""


class PlanError(MPSRError):
    """A precision plan is malformed or does not fit the model."""


class WriteError(MPSRError):
    """A file could not be written (read-only folder, disk full); nothing partial was left behind."""

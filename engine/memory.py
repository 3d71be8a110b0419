"""How much memory a job may use, checked before it allocates, so a too-big job fails in one line at once."""

from __future__ import annotations

import os
from pathlib import Path

import psutil

from engine.errors import MPSRError

# cgroup v2, then v1: a container's limit can be far below the machine's free memory
_CGROUP_FILES = (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                 ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"))


def _cgroup_room() -> int | None:
    for limit_file, usage_file in _CGROUP_FILES:
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:
            return max(int(limit) - usage, 0)
        return None
    return None


def available() -> int:
    """Bytes this process can still allocate without swapping: free memory, within the container's limit."""
    room = psutil.virtual_memory().available
    cgroup = _cgroup_room()
    return room if cgroup is None else min(room, cgroup)


def gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def check(needed: int, what: str, path: str | os.PathLike | None = None, hint: str = "") -> None:
    """One-line :class:`MPSRError` when ``needed`` bytes are more than :func:`available`."""
    room = available()
    if needed > room:
        raise MPSRError(f"{what} needs about {gb(needed)} of memory, {gb(room)} is available"
                        + (f"; {hint}" if hint else ""), path)

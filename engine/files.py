"""Writing files so that nothing is lost: the one atomic writer every output, report and checkpoint goes through.

A file is written to a hidden temporary file beside its target (``.<name>.<pid>-<random>.part``), flushed to
disk, renamed over the target, and the folder entry flushed too, so readers and crashes see the old file or the
whole new one. Write errors (read-only folder, disk full) become one :class:`WriteError` line and leave no
partial file. A temporary file whose writing process is gone (killed with -9) is removed the next time its
target is written.

The rename runs under a lock on the target's folder, shared by every mpsr process, which makes the checks
before it race-free: inside :func:`run_files` no write replaces an input of the run, and a target that another
run wrote meanwhile is kept and the new file goes beside it under a free name (returned to the caller, who
says so). :func:`update_json` reads, merges and rewrites a JSON document under the same lock, so concurrent
writers of one report add to it instead of replacing each other's work.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.errors import MPSRError, WriteError

try:
    import fcntl
except ImportError:  # Windows: the in-process lock still serialises threads
    fcntl = None

PART = ".part"
# Below this much free space a failed write is reported as a full disk (the writers' own messages,
# e.g. torch's "unexpected pos", do not say so).
_NEARLY_FULL = 1 << 20


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import (os.umask can only be read by setting it, which races with other threads).
_UMASK = _read_umask()


def reason(err: BaseException) -> str:
    """The short cause of an OS error ("No space left on device"), else its first line."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0][:160] if lines else type(err).__name__


# ----------------------------------------------------------------------------------------------- locking

_lock = threading.RLock()
_held: dict[str, int] = {}  # folder -> open, flock-ed descriptor of this process


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Exclusive lock on ``folder`` among all mpsr processes and threads (re-entrant in one thread)."""
    key = os.path.realpath(folder)
    with _lock:
        if key in _held or fcntl is None:
            yield
            return
        try:
            fd = os.open(key, os.O_RDONLY)
        except OSError as err:
            raise WriteError(f"cannot open the folder: {reason(err)}", key) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                pass  # file systems without flock (some network mounts): threads are still serialised
            _held[key] = fd
            try:
                yield
            finally:
                del _held[key]
        finally:
            os.close(fd)  # releases the flock


# ----------------------------------------------------------------------------------------------- a run's files


@dataclass(frozen=True)
class FileState:
    """What a path held when a run started: nothing, or one version of a file."""

    exists: bool
    ino: int = 0
    mtime_ns: int = 0
    size: int = 0

    @classmethod
    def of(cls, path: Path) -> FileState:
        try:
            st = path.stat()
        except OSError:
            return cls(False)
        return cls(True, st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass
class _Run:
    inputs: list[Path]
    outputs: dict[str, FileState]


_run: contextvars.ContextVar[_Run | None] = contextvars.ContextVar("mpsr_run_files", default=None)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name one file (links, ``..``, case-insensitive names included)."""
    a, b = Path(a), Path(b)
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_outputs(outputs: Iterable[str | os.PathLike], inputs: Iterable[str | os.PathLike]) -> None:
    """One-line error if an output of a run is one of its inputs, or two outputs are one file."""
    inputs = [Path(p) for p in inputs]
    seen: list[Path] = []
    for out in map(Path, outputs):
        for src in inputs:
            if same_file(out, src):
                raise MPSRError(f"is an input of this run and would be overwritten; choose another output"
                                + ("" if out == src else f" (it is {src})"), out)
        for other in seen:
            if same_file(out, other):
                raise MPSRError(f"two outputs of this run would both be written to {out}", other)
        seen.append(out)


@contextlib.contextmanager
def run_files(inputs: Iterable[str | os.PathLike] = (), outputs: Iterable[str | os.PathLike] = ()) -> Iterator[None]:
    """Declare a run's inputs and outputs, checked now (:func:`check_outputs`) and at every write inside.

    Inside, :func:`write_atomic` refuses to replace an input and keeps a declared output that changed
    since this call (another run wrote it), writing the new file under a free name instead. Temporary
    files of the outputs left by killed runs are removed now.
    """
    inputs, outputs = [Path(p) for p in inputs], [Path(p) for p in outputs]
    check_outputs(outputs, inputs)
    for out in outputs:
        clean_stale(out)  # left by an earlier run that was killed while writing it
    outer = _run.get()
    run = _Run(inputs + (outer.inputs if outer else []),
               {**(outer.outputs if outer else {}), **{_key(p): FileState.of(p) for p in outputs}})
    token = _run.set(run)
    try:
        yield
    finally:
        _run.reset(token)


def _key(path: Path) -> str:
    return os.path.realpath(path)


def free_name(path: Path) -> Path:
    """``path``, or ``<stem>-2<suffix>``, ``-3``... : the first name not taken (call under the folder lock)."""
    n = 2
    candidate = path
    while candidate.exists() or candidate.is_symlink():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def _target(path: Path) -> Path:
    """Where the new file goes, decided under the folder lock."""
    run = _run.get()
    if run is None:
        return path
    for src in run.inputs:
        if same_file(path, src):
            raise MPSRError("refusing to overwrite an input of this run; choose another output name or folder", path)
    expected = run.outputs.get(_key(path))
    if expected is not None and FileState.of(path) != expected:
        return free_name(path)
    return path


def _record(path: Path, target: Path) -> None:
    run = _run.get()
    if run is not None and _key(path) in run.outputs and target == path:
        run.outputs[_key(path)] = FileState.of(path)


# ----------------------------------------------------------------------------------------------- temp files

_PART_RE = re.compile(r"\.(\d+)-[0-9a-f]+" + re.escape(PART) + "$")


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{PART}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name != "posix":  # (on Windows os.kill would end the process)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def clean_stale(path: str | os.PathLike) -> list[Path]:
    """Remove temporary files of ``path`` left by writers that no longer run; returns what was removed."""
    path = Path(path)
    removed = []
    prefix = f".{path.name}."
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        match = _PART_RE.search(entry.name)
        if match and entry.name == prefix + match.group(0)[1:] and not _pid_alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _disk_full(folder: Path) -> bool:
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return False
    return st.f_bavail * st.f_frsize < _NEARLY_FULL


def _os_cause(err: Exception, folder: Path) -> str | None:
    """The OS-level cause of a failed write, or None for an error of the writer's own (a bug, bad data).

    Writers in other languages wrap OS errors in their own exceptions: safetensors says "(os error 28)",
    torch.save only "unexpected pos" (then the disk is found full).
    """
    if isinstance(err, OSError):
        return reason(err)
    code = re.search(r"\(os error (\d+)\)", str(err))
    if code:
        return os.strerror(int(code.group(1)))
    return os.strerror(errno.ENOSPC) if _disk_full(folder) else None


def _fsync_path(path: Path, directory: bool = False) -> None:
    if directory and os.name != "posix":
        return  # folders cannot be opened for fsync elsewhere
    fd = os.open(path, os.O_RDONLY if directory else os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------------------- writing


def make_folder(folder: str | os.PathLike) -> Path:
    """``folder`` and its parents, created if missing; an OS error is a one-line :class:`WriteError`."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise WriteError("cannot create the folder: a file has that name", folder) from None
    except OSError as err:
        raise WriteError(f"cannot create the folder: {reason(err)}", folder) from None
    return folder


def check_writable(path: str | os.PathLike) -> None:
    """One-line :class:`WriteError` now, before any work, if ``path``'s folder cannot take a new file."""
    path = Path(path)
    make_folder(path.parent)
    tmp = _temp_name(path)
    try:
        open(tmp, "xb").close()
    except OSError as err:
        raise WriteError(f"cannot write here: {reason(err)}", path) from None
    tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None], *, what: str = "") -> Path:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, then move it over ``path``.

    Returns the path written: ``path``, or a free name beside it inside :func:`run_files` when another run
    wrote ``path`` meanwhile. ``what`` names the file in errors ("PNG image"). An OS error, or any error of
    ``write`` on a full disk, is a :class:`WriteError`; other exceptions of ``write`` propagate. Either way
    no temporary file stays behind and ``path`` keeps its old content.
    """
    path = Path(path)
    make_folder(path.parent)
    clean_stale(path)
    tmp = _temp_name(path)
    label = f"cannot write{' ' + what if what else ''}"
    try:
        # Not mkstemp: its 0600 mode would ignore the umask that ordinary files get.
        open(tmp, "xb").close()
    except OSError as err:
        raise WriteError(f"{label}: {reason(err)}", path) from None
    try:
        write(tmp)
        _fsync_path(tmp)
        # Some writers (safetensors) recreate the file with mode 0600; give it the mode of an ordinary file.
        os.chmod(tmp, 0o666 & ~_UMASK)
        with folder_lock(path.parent):
            target = _target(path)
            os.replace(tmp, target)
            _fsync_path(path.parent, directory=True)
            _record(path, target)
    except BaseException as err:
        cause = None if isinstance(err, MPSRError) or not isinstance(err, Exception) else _os_cause(err, path.parent)
        tmp.unlink(missing_ok=True)
        if cause:
            raise WriteError(f"{label}: {cause}", path) from None
        raise
    return target


def write_text(path: str | os.PathLike, text: str, *, what: str = "") -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), what=what)


def update_json(path: str | os.PathLike, merge: Callable[[dict | None], object], *, what: str = "") -> object:
    """Read ``path`` (None when absent), write ``merge(current)`` as JSON, all under the folder lock.

    Concurrent writers of one document each see the others' last write; returns what was written.
    """
    path = Path(path)
    make_folder(path.parent)
    with folder_lock(path.parent):
        current = None
        if path.exists():
            try:
                current = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise MPSRError(f"cannot read the {what or 'file'} ({reason(err)})", path) from None
        data = merge(current)
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
        write_text(path, text, what=what)
    return data


def write_json(path: str | os.PathLike, data: object) -> Path:
    """``data`` as indented JSON (no NaN), written atomically."""
    return write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


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

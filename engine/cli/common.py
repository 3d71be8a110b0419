"""What every sub-command shares: error reporting, Ctrl-C and SIGTERM, warnings, and a terminal progress bar."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from engine.errors import MPSRError
from engine.jobs import CancelToken, Cancelled, Progress

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_token: CancelToken | None = None  # the running command's, once it asked for one


def _on_signal(signum: int, frame) -> None:
    """First Ctrl-C / SIGTERM: cancel at the next safe point (a tile, a step: training saves a checkpoint);
    a second one, or one before the command can cancel, stops at once."""
    if _token is not None and not _token.cancelled:
        _token.cancel()
        print("\nmpsr: stopping at the next safe point (Ctrl-C again to stop at once)", file=sys.stderr)
        return
    raise KeyboardInterrupt


class _WarningFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"mpsr: warning: {record.getMessage()}"


def _log_warnings() -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_WarningFormatter())
    logging.getLogger("engine").addHandler(handler)
    return handler


def run_command(func: Callable, args) -> int:
    """Run a sub-command; user errors become one line on stderr and exit status 1, a cancel exit status 130."""
    global _token
    _token = None
    main_thread = threading.current_thread() is threading.main_thread()  # only it may set signal handlers
    previous = {sig: signal.signal(sig, _on_signal) for sig in _SIGNALS} if main_thread else {}
    handler = _log_warnings()
    try:
        return int(func(args) or 0)
    except MPSRError as err:
        print(f"mpsr: error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into a command that stopped reading (| head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:  # a file error an engine call did not word itself
        where = f"{err.filename}: " if err.filename else ""
        print(f"mpsr: error: {where}{err.strerror or err}", file=sys.stderr)
        return 1
    except (Cancelled, KeyboardInterrupt) as err:
        detail = str(err) if isinstance(err, Cancelled) and str(err) != "cancelled" else ""
        print(f"mpsr: cancelled{': ' + detail if detail else ''}", file=sys.stderr)
        return 130
    finally:
        _token = None
        logging.getLogger("engine").removeHandler(handler)
        for sig, old in previous.items():
            signal.signal(sig, old)


def error(message: str) -> None:
    print(f"mpsr: error: {message}", file=sys.stderr)


def warn(message: str) -> None:
    print(f"mpsr: warning: {message}", file=sys.stderr)


def status(message: str) -> None:
    """A line for a person watching the terminal (not written when stderr is a file or a pipe)."""
    if sys.stderr.isatty():
        print(message, file=sys.stderr)


@contextmanager
def progress_bar(desc: str, unit: str = "step", enabled: bool = True) -> Iterator[Callable[[Progress], None]]:
    """A tqdm bar on stderr driven by engine :class:`Progress` reports."""
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=unit, total=None, leave=False, disable=not enabled or not sys.stderr.isatty(),
               file=sys.stderr, dynamic_ncols=True)

    def report(p: Progress) -> None:
        if bar.total != p.total:
            bar.total = p.total
        bar.n = p.done
        if p.message:
            bar.set_postfix_str(p.message, refresh=False)
        bar.refresh()

    try:
        yield report
    finally:
        bar.close()


def cancel_token() -> CancelToken:
    """The running command's token: the first Ctrl-C or SIGTERM sets it, so the engine stops cleanly."""
    global _token
    if _token is None:
        _token = CancelToken()
    return _token

"""What every sub-command shares: error reporting, Ctrl-C, and a terminal progress bar."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

from engine.errors import MPSRError
from engine.jobs import CancelToken, Cancelled, Progress


def run_command(func: Callable, args) -> int:
    """Run a sub-command; user errors become one line on stderr and exit status 1."""
    try:
        return int(func(args) or 0)
    except MPSRError as err:
        print(f"mpsr: error: {err}", file=sys.stderr)
        return 1
    except (Cancelled, KeyboardInterrupt):
        print("mpsr: cancelled", file=sys.stderr)
        return 130


def error(message: str) -> None:
    print(f"mpsr: error: {message}", file=sys.stderr)


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
    """A token for CLI runs; Ctrl-C still raises KeyboardInterrupt, handled by :func:`run_command`."""
    return CancelToken()

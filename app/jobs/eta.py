"""Durations as a person reads them: the one formatter for every ETA and estimate the app shows."""

from __future__ import annotations


def duration_text(seconds: float) -> str:
    """'45 s', '12 min 05 s', '3 h 20 min'."""
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def eta_text(seconds: float | None) -> str:
    """'ETA 12 min 05 s', or nothing while the engine cannot tell yet."""
    return "" if seconds is None else f"ETA {duration_text(seconds)}"


def about_text(seconds: float) -> str:
    """A rough duration for a warning: 'about 40 seconds', 'about 25 minutes', 'about 3.5 hours'."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} seconds"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} minutes"
    return f"about {seconds / 3600:.1f} hours"

"""The session arrival rate of a log over time, as an open load's schedule.

The log is cut at clock boundaries (hours by default) and each window's rate is its requests
per second of log it covers, divided by the mean requests per session the simulator draws: so
sessions x requests per session reproduces the log's request count in every window, the daily
curve included. An edge window covering under a tenth of a window is merged with its neighbour
(a rate from a few minutes is noise). Simulated time 0 is the log's first request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mpmsim.errors import InputError

SHORT_EDGE = 0.1
"""An edge window covering less than this share of a window joins its neighbour."""


@dataclass(frozen=True)
class Window:
    """A stretch of the log with one rate."""

    start_s: float
    """Epoch seconds of its clock-aligned start (the first may start before the log)."""
    t_s: float
    """Simulated time its rate starts at (0 for the first window)."""
    covered_s: float
    """Seconds of the log inside it."""
    requests: int


@dataclass(frozen=True)
class Schedule:
    """Windows of the log and the session rate each gets."""

    first_s: float
    """Epoch seconds at simulated time 0 (the first request)."""
    duration_s: float
    """The log's span: first request to the end of the last."""
    window_s: float
    mean_requests: float
    """The mean requests per session the rates are divided by."""
    windows: tuple[Window, ...]

    def rate(self, window: Window) -> float:
        """Sessions per second in ``window``."""
        return window.requests / window.covered_s / self.mean_requests

    def points(self) -> list[tuple[float, float]]:
        """``[[t_s, sessions_per_s], ...]`` as the scenario's ``sessions_per_s`` holds them."""
        return [(w.t_s, self.rate(w)) for w in self.windows]

    def peak(self) -> Window:
        """The window with the highest rate."""
        return max(self.windows, key=self.rate)


def _windows(
    start_s: npt.NDArray[np.float64], end_s: float, window_s: float, offset_s: int
) -> list[Window]:
    """Clock-aligned windows from the first request to ``end_s``, with their request counts."""
    first = float(start_s.min())
    index = np.floor((start_s + offset_s) / window_s).astype(np.int64)
    low = int(index.min())
    high = int(np.floor((end_s + offset_s) / window_s))
    if (high * window_s - offset_s) >= end_s:
        high -= 1  # the end falls on a boundary: no window after it
    # A request exactly at the end (on a boundary) belongs to the last window.
    counts = np.bincount(np.minimum(index, high) - low, minlength=high - low + 1)
    out: list[Window] = []
    for i, count in enumerate(counts.tolist()):
        begin = (low + i) * window_s - offset_s
        covered = min(begin + window_s, end_s) - max(begin, first)
        out.append(Window(begin, max(begin - first, 0.0), covered, int(count)))
    return out


def _merged(a: Window, b: Window) -> Window:
    """Two adjacent windows as one (starting where ``a`` does)."""
    return Window(a.start_s, a.t_s, a.covered_s + b.covered_s, a.requests + b.requests)


def build_schedule(
    start_s: npt.ArrayLike,
    mean_requests: float,
    *,
    end_s: float,
    window_s: float = 3600.0,
    offset_s: int = 0,
) -> Schedule:
    """The schedule of requests starting at ``start_s`` (epoch), up to ``end_s``.

    ``offset_s`` (seconds east of UTC) aligns windows with the log's local clock.
    """
    starts = np.asarray(start_s, dtype=np.float64)
    first = float(starts.min())
    if end_s <= first:
        raise InputError("the log spans no time (one request, or all at one instant)")
    windows = _windows(starts, end_s, window_s, offset_s)
    if len(windows) > 1 and windows[0].covered_s < SHORT_EDGE * window_s:
        windows[:2] = [_merged(windows[0], windows[1])]
    if len(windows) > 1 and windows[-1].covered_s < SHORT_EDGE * window_s:
        windows[-2:] = [_merged(windows[-2], windows[-1])]
    return Schedule(first, end_s - first, window_s, mean_requests, tuple(windows))


def clock_hours(start_s: npt.ArrayLike, offset_s: int = 0) -> list[int]:
    """Requests per clock hour, from the first request's hour to the last's, empty ones 0."""
    hours = np.floor((np.asarray(start_s, dtype=np.float64) + offset_s) / 3600.0).astype(np.int64)
    low = int(hours.min())
    return [int(c) for c in np.bincount(hours - low).tolist()]


__all__ = ["SHORT_EDGE", "Schedule", "Window", "build_schedule", "clock_hours"]

"""A log streamed as connections: records sorted by start within a look-ahead, then grouped.

Apache writes a line when its request *ends*, so starts are nearly but not exactly in order.
Records wait in a heap until the reader is :data:`~mpmsim.workloads.trace.plan.LOOKAHEAD_S`
log seconds past their start, then leave it in start order and join their connection (the
connection rule's key; an idle gap over KeepAliveTimeout, or a line whose ``%X`` is ``-``,
ends one). Reading is pulled by the replay: the arrival process asks for the next
connection, a connection for its next request, and the stream reads just far enough to know.
Memory holds the look-ahead, the connections not yet started and the open ones, never the
whole log: finished connections are dropped, and the log is read once, front to back.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Generator
from itertools import islice

import numpy as np

from mpmsim.workloads.access_log import BadLines, open_log, parse_lines
from mpmsim.workloads.access_log.connections import Key, connection_key
from mpmsim.workloads.access_log.record import AccessRecord
from mpmsim.workloads.client import Job
from mpmsim.workloads.distributions import make_sampler
from mpmsim.workloads.trace.plan import LOOKAHEAD_S, TracePlan
from mpmsim.workloads.trace.service import TraceService

Logged = tuple[float, Job, bool, float]
"""A request as its connection replays it: (think s after the previous response, the job,
whether the server closed the connection after it, its logged ``%D`` in ms or NaN)."""

_BATCH = 256
"""Records read per step of the reader."""
_SWEEP_S = 10.0
"""Log seconds between two sweeps of the connections that idled out."""


class LogConnection:
    """One keep-alive connection rebuilt from the log, as the replay streams it."""

    __slots__ = ("dropped", "ended", "last_end_s", "pending", "t_s")

    def __init__(self, t_s: float, last_end_s: float) -> None:
        self.t_s = t_s
        """Simulated time its first request was sent (as logged, time-scaled)."""
        self.pending: deque[Logged] = deque()
        """Requests read and not yet replayed."""
        self.last_end_s = last_end_s
        """Log time its latest request ended (epoch seconds)."""
        self.ended = False
        """No more requests will join it."""
        self.dropped = False
        """Its replay gave up (a request failed): later requests are counted, not kept."""


class TraceStream:
    """The connections of ``plan``'s span of the log, pulled in start order."""

    def __init__(
        self,
        plan: TracePlan,
        service: TraceService,
        rng: np.random.Generator,
        *,
        start_s: float = 0.0,
        bad_lines: BadLines | None = None,
    ) -> None:
        parser = plan.parser()
        self.bad_lines = bad_lines if bad_lines is not None else BadLines()
        handle = open_log(plan.options.path)
        handle.seek(plan.offset_bytes)
        self._records: Generator[AccessRecord, None, None] = parse_lines(
            handle, parser, self.bad_lines, source=plan.options.path
        )
        self._handle = handle
        self._key = connection_key(plan.rule, parser.extra_names)
        self._job = service.job
        self._dither = (
            make_sampler({"dist": "uniform", "low": 0.0, "high": 1.0}, rng)
            if plan.whole_seconds
            else None
        )
        self._from = plan.origin_s + plan.from_s
        self._end = plan.origin_s + plan.end_s
        self._t0 = start_s
        self._scale = 1.0 / plan.options.speedup
        self._kat = plan.options.keepalive_timeout_s
        self._heap: list[tuple[float, int, float, Key, Job, bool, float]] = []
        self._seq = 0
        self._open: dict[Key, LogConnection] = {}
        self._new: deque[LogConnection] = deque()
        self._read_to = -math.inf
        self._released_to = -math.inf
        self._sweep_at = -math.inf
        self._eof = False
        self.requests = 0
        """Logged requests that started before the window's end (the replay's to send)."""
        self.late = 0
        """Requests read after later-starting ones had left the look-ahead."""
        self._per_s = [0] * (int(plan.duration_s) + 2)

    # -- what the replay pulls -------------------------------------------------------------------
    def next_connection(self) -> LogConnection | None:
        """The connection that starts next, or None when none starts before the window ends."""
        while not self._new:
            if self._eof or self._released_to >= self._end:
                return None
            self._read()
        return self._new.popleft()

    def next_request(self, conn: LogConnection) -> Logged | None:
        """``conn``'s next request, or None when it has no more."""
        pending = conn.pending
        while not pending:
            if conn.ended or self._eof:
                return None
            if self._released_to - self._kat > conn.last_end_s:
                conn.ended = True  # idle past KeepAliveTimeout: the server closed it
                return None
            self._read()
        return pending.popleft()

    @property
    def buffered(self) -> int:
        """Records and connections held: the look-ahead, those not started yet, the open ones."""
        return len(self._heap) + len(self._new) + len(self._open)

    def close(self) -> None:
        """Stop reading and close the log."""
        self._eof = True
        self._open.clear()
        self._heap.clear()
        self._records.close()
        self._handle.close()

    # -- reading ---------------------------------------------------------------------------------
    def _read(self) -> None:
        """Read a batch of records into the look-ahead and release what has left it."""
        heap, lo, job, key_of, dither = self._heap, self._from, self._job, self._key, self._dither
        push, nan = heapq.heappush, math.nan
        read_to, seq = self._read_to, self._seq
        count = 0
        for record in islice(self._records, _BATCH):
            count += 1
            start = record.start_s
            if start is None:
                continue
            end = start if record.end_s is None else record.end_s
            if dither is not None:
                shift = dither.draw()
                start += shift
                end += shift
            if start < lo:
                continue
            if start > read_to:
                read_to = start
            duration = record.duration_us
            seq += 1
            push(
                heap,
                (
                    start,
                    seq,
                    end,
                    key_of(record),
                    job(record),
                    record.connection_status == "-",
                    nan if duration is None else duration * 1e-3,
                ),
            )
        self._read_to, self._seq = read_to, seq
        done = count < _BATCH or (read_to > self._end + LOOKAHEAD_S and not self._open)
        self._release(math.inf if done else read_to - LOOKAHEAD_S)
        if done:
            self._finish()

    def _release(self, upto: float) -> None:
        """Group the records that started by ``upto`` into their connections, in start order:
        each joins its key's open connection, or starts a new one (one loop, the hot path)."""
        heap, pop, open_conns, new = self._heap, heapq.heappop, self._open, self._new
        kat, window_end, origin, scale = self._kat, self._end, self._from, self._scale
        t0, per_s = self._t0, self._per_s
        released, late, requests = self._released_to, 0, 0
        while heap and heap[0][0] <= upto:
            start, _, end, key, job, closes, logged_ms = pop(heap)
            if start < released:
                late += 1
            else:
                released = start
            conn = open_conns.get(key)
            if conn is not None and start - conn.last_end_s > kat:
                conn.ended = True
                conn = None
            if conn is None:
                if start >= window_end:
                    continue  # a connection after the window: not replayed
                conn = LogConnection(t0 + (start - origin) * scale, end)
                open_conns[key] = conn
                new.append(conn)
                think = 0.0
            else:
                think = max(start - conn.last_end_s, 0.0)
                if end > conn.last_end_s:
                    conn.last_end_s = end
            if not conn.dropped:
                conn.pending.append((think, job, closes, logged_ms))
            if start < window_end:
                requests += 1
                per_s[int((start - origin) * scale)] += 1
            if closes:  # %X "-": the server closed the connection after this request
                conn.ended = True
                del open_conns[key]
        self._released_to = released
        self.late += late
        self.requests += requests
        if released >= self._sweep_at:
            self._sweep()

    @property
    def offered(self) -> np.ndarray:
        """Logged requests per simulated second (by their logged start, time-scaled)."""
        return np.asarray(self._per_s, dtype=np.int64)

    def _sweep(self) -> None:
        """Forget the connections that idled out (their keys may come back as new ones)."""
        limit = self._released_to - self._kat
        for key in [k for k, c in self._open.items() if c.last_end_s < limit]:
            self._open.pop(key).ended = True
        self._sweep_at = self._released_to + _SWEEP_S

    def _finish(self) -> None:
        """The end of the log (or of what the window needs): every connection is complete."""
        for conn in self._open.values():
            conn.ended = True
        self.close()


__all__ = ["LogConnection", "Logged", "TraceStream"]

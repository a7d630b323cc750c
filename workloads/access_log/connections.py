"""Keep-alive connections rebuilt from an access log: which rule, the rebuild, and its check.

A log line names its connection only when the format logs something that does: ``%{c}L``;
the client's address and port ``%{remote}p``; the client and the slot that served it (``%P``
and ``%{tid}P``, or ``UNIQUE_ID``, whose ``thread_index`` is the connection's slot). Without
any of these, a client's requests are one connection while the gaps between them stay under
KeepAliveTimeout (the server would have closed it otherwise). :func:`choose_rule` picks the
best rule the log allows, :func:`connection_key` makes the key a request is grouped by,
:func:`rebuild` groups requests (vectorised, any order in) and :func:`check_rule` compares the
result with what ``%X`` and ``%k`` say, where the log has them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt

from mpmsim.workloads.access_log.record import AccessRecord
from mpmsim.workloads.access_log.unique_id import decode_unique_id

UNIQUE_ID = "%{UNIQUE_ID}e"
"""The format directive mod_unique_id's identifier is logged with."""

APACHE_KEEPALIVE_TIMEOUT_S = 5.0
"""Apache 2.4's default KeepAliveTimeout: the gap rule's default."""

_MOSTLY = 0.9
"""Share of the first records that must carry a rule's fields for the rule to be used."""

Key = tuple[Any, ...]
_Ints = npt.NDArray[np.int64]
_Floats = npt.NDArray[np.float64]
_Bools = npt.NDArray[np.bool_]


class ConnectionRule(Enum):
    """How requests are grouped into connections; the value is the rule's short name."""

    CONNECTION_ID = "connection-id"
    CLIENT_PORT = "client-port"
    CLIENT_THREAD = "client-process-thread"
    CLIENT_UNIQUE_ID = "client-unique-id"
    CLIENT_GAPS = "client-gaps"

    @property
    def text(self) -> str:
        """One line for the summary: what the rule groups by."""
        return _TEXTS[self]

    @property
    def splits_on_gaps(self) -> bool:
        """A key may name several connections one after another (a port or a slot is
        reused), so an idle gap longer than KeepAliveTimeout starts a new one."""
        return self is not ConnectionRule.CONNECTION_ID


_TEXTS = {
    ConnectionRule.CONNECTION_ID: "connection log id %{c}L",
    ConnectionRule.CLIENT_PORT: "client address + port %{remote}p, idle gaps over "
    "KeepAliveTimeout split",
    ConnectionRule.CLIENT_THREAD: "client address + serving process/thread %P %{tid}P, idle "
    "gaps over KeepAliveTimeout split",
    ConnectionRule.CLIENT_UNIQUE_ID: "client address + process and connection slot decoded "
    "from UNIQUE_ID, idle gaps over KeepAliveTimeout split",
    ConnectionRule.CLIENT_GAPS: "client address, idle gaps over KeepAliveTimeout split (the "
    "log names no connection)",
}


def _unique_id_key(record: AccessRecord, index: int) -> Key | None:
    """(client, process, slot) from the record's UNIQUE_ID, or ``None``."""
    decoded = decode_unique_id(record.extra[index])
    if decoded is None or record.client is None:
        return None
    return (record.client, decoded.process, decoded.slot)


def _rule_keys(
    rule: ConnectionRule, extra_names: Sequence[str]
) -> Callable[[AccessRecord], Key | None]:
    """The key of one record under ``rule``, ``None`` when the record lacks its fields."""
    if rule is ConnectionRule.CONNECTION_ID:
        return lambda r: None if r.connection_id is None else (r.connection_id,)
    if rule is ConnectionRule.CLIENT_PORT:
        return lambda r: (
            None
            if r.client is None or r.client_port is None
            else (
                r.client,
                r.client_port,
            )
        )
    if rule is ConnectionRule.CLIENT_THREAD:
        return lambda r: None if r.client is None or r.pid is None else (r.client, r.pid, r.tid)
    if rule is ConnectionRule.CLIENT_UNIQUE_ID:
        index = list(extra_names).index(UNIQUE_ID)
        return lambda r: _unique_id_key(r, index)
    return lambda r: None if r.client is None else (r.client,)


def choose_rule(head: Sequence[AccessRecord], extra_names: Sequence[str]) -> ConnectionRule:
    """The most precise rule whose fields most of ``head`` (the log's first records) carry."""
    candidates = [
        ConnectionRule.CONNECTION_ID,
        ConnectionRule.CLIENT_PORT,
        ConnectionRule.CLIENT_THREAD,
    ]
    if UNIQUE_ID in extra_names:
        candidates.append(ConnectionRule.CLIENT_UNIQUE_ID)
    for rule in candidates:
        key = _rule_keys(rule, extra_names)
        carried = sum(1 for record in head if key(record) is not None)
        if head and carried >= _MOSTLY * len(head):
            return rule
    return ConnectionRule.CLIENT_GAPS


def connection_key(
    rule: ConnectionRule, extra_names: Sequence[str]
) -> Callable[[AccessRecord], Key]:
    """The key a record is grouped by: the rule's, or the client's alone for a record that
    lacks the rule's fields (a ``-`` id), kept apart from the rule's keys."""
    key = _rule_keys(rule, extra_names)

    def keyed(record: AccessRecord) -> Key:
        found = key(record)
        return found if found is not None else ("no-id", record.client)

    return keyed


@dataclass(frozen=True)
class Connections:
    """Requests grouped into connections. Per-request arrays are in the order given to
    :func:`rebuild`; per-connection ones in the order of their keys, then of their start."""

    rule: ConnectionRule
    keepalive_timeout_s: float
    connection: _Ints
    """Per request: the index of its connection."""
    position: _Ints
    """Per request: requests before it on its connection (what ``%k`` logs)."""
    last: _Bools
    """Per request: the connection's last."""
    requests: _Ints
    """Per connection: how many requests it carried."""
    start_s: _Floats
    """Per connection: its first request's start, epoch seconds."""
    think_s: _Floats
    """Per gap between two requests of a connection: the previous one's end to the next
    one's start (0 when they overlap), seconds."""

    @property
    def count(self) -> int:
        """How many connections."""
        return len(self.requests)

    def per_connection(self, values: npt.ArrayLike) -> _Floats:
        """Per connection, the sum of a per-request quantity (bytes, say)."""
        weights = np.asarray(values, dtype=np.float64)
        sums = np.bincount(self.connection, weights=weights, minlength=self.count)
        return np.asarray(sums, dtype=np.float64)


def rebuild(
    keys: npt.ArrayLike,
    start_s: npt.ArrayLike,
    end_s: npt.ArrayLike,
    rule: ConnectionRule,
    keepalive_timeout_s: float = APACHE_KEEPALIVE_TIMEOUT_S,
) -> Connections:
    """Group requests by their integer key, in order of start; with a rule that splits on gaps,
    an idle gap (start minus the previous request's end) over the timeout starts a new one."""
    key = np.asarray(keys, dtype=np.int64)
    start = np.asarray(start_s, dtype=np.float64)
    end = np.asarray(end_s, dtype=np.float64)
    n = len(key)
    order = np.lexsort((start, key))
    k, s, e = key[order], start[order], end[order]
    idle = s[1:] - e[:-1]
    new = np.ones(n, dtype=bool)
    new[1:] = k[1:] != k[:-1]
    if rule.splits_on_gaps:
        new[1:] |= idle > keepalive_timeout_s
    sorted_conn = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    last_sorted = np.ones(n, dtype=bool)
    last_sorted[:-1] = new[1:]
    connection = np.empty(n, dtype=np.int64)
    connection[order] = sorted_conn
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n) - first[sorted_conn]
    last = np.empty(n, dtype=bool)
    last[order] = last_sorted
    return Connections(
        rule=rule,
        keepalive_timeout_s=keepalive_timeout_s,
        connection=connection,
        position=position,
        last=last,
        requests=np.diff(np.append(first, n)).astype(np.int64),
        start_s=s[first],
        think_s=np.maximum(idle[~new[1:]], 0.0),
    )


X_UNKNOWN, X_KEPT, X_CLOSED, X_ABORTED = 0, 1, 2, 3
"""Codes of ``%X`` per request: not logged, ``+``, ``-``, ``X``."""
X_CODES = {None: X_UNKNOWN, "+": X_KEPT, "-": X_CLOSED, "X": X_ABORTED}


@dataclass(frozen=True)
class RuleCheck:
    """The rebuilt connections against ``%X`` and ``%k``, where the log has them."""

    x_logged: int
    """Requests whose ``%X`` is logged."""
    x_closed: int
    """Of those, requests after which the server closed (``-``) or the client aborted (``X``)."""
    x_closed_at_end: int
    """Of those, requests the rebuild also makes the last of their connection."""
    ends_logged: int
    """Rebuilt connections whose last request has ``%X``."""
    ends_closed: int
    """Of those, ending on a close (``-``/``X``); the rest end on ``+``: the connection then
    idled out (KeepAliveTimeout) or the client closed it, which ``%X`` cannot see."""
    k_logged: int
    """Requests whose ``%k`` is logged."""
    k_agree: int
    """Of those, requests whose position on the rebuilt connection equals ``%k``."""

    @property
    def x_agreement(self) -> float | None:
        """Share of logged closes where the rebuilt connection ends too (``None``: none logged)."""
        return self.x_closed_at_end / self.x_closed if self.x_closed else None

    @property
    def k_agreement(self) -> float | None:
        """Share of requests whose rebuilt position is their ``%k`` (``None``: not logged)."""
        return self.k_agree / self.k_logged if self.k_logged else None

    def sentences(self) -> list[str]:
        """What the check found, one sentence per logged field."""
        out: list[str] = []
        if self.x_logged:
            share = self.x_agreement
            shown = "-" if share is None else f"{share:.1%}"
            out.append(
                f"%X: {self.x_closed_at_end:,} of {self.x_closed:,} requests after which the "
                f"connection closed (- or X) end a rebuilt connection ({shown}); "
                f"{self.ends_closed:,} of {self.ends_logged:,} rebuilt connections end on a "
                "close, the others on + (idled out or closed by the client)"
            )
        if self.k_logged:
            out.append(
                f"%k: {self.k_agree:,} of {self.k_logged:,} requests sit at the logged "
                f"position on their rebuilt connection ({self.k_agreement:.1%})"
            )
        return out


def check_rule(
    connections: Connections, x_codes: npt.ArrayLike, keepalive_requests: npt.ArrayLike
) -> RuleCheck:
    """Compare the rebuild with ``%X`` codes (:data:`X_CODES`) and ``%k`` (-1: not logged)."""
    x = np.asarray(x_codes, dtype=np.int8)
    k = np.asarray(keepalive_requests, dtype=np.int64)
    closed = (x == X_CLOSED) | (x == X_ABORTED)
    ends = connections.last & (x != X_UNKNOWN)
    logged_k = k >= 0
    return RuleCheck(
        x_logged=int(np.count_nonzero(x != X_UNKNOWN)),
        x_closed=int(np.count_nonzero(closed)),
        x_closed_at_end=int(np.count_nonzero(closed & connections.last)),
        ends_logged=int(np.count_nonzero(ends)),
        ends_closed=int(np.count_nonzero(ends & closed)),
        k_logged=int(np.count_nonzero(logged_k)),
        k_agree=int(np.count_nonzero(logged_k & (k == connections.position))),
    )


__all__ = [
    "APACHE_KEEPALIVE_TIMEOUT_S",
    "UNIQUE_ID",
    "X_ABORTED",
    "X_CLOSED",
    "X_CODES",
    "X_KEPT",
    "X_UNKNOWN",
    "ConnectionRule",
    "Connections",
    "Key",
    "RuleCheck",
    "check_rule",
    "choose_rule",
    "connection_key",
    "rebuild",
]

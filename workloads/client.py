"""What a load generator needs of a simulated HTTP client: the one interface between the two.

The engine's :class:`mpmsim.engine.client.Client` implements it; load generators depend on this
protocol only, so the workloads never import the engine (the engine imports the workloads).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Protocol

import simpy

Proc = Generator[simpy.Event, Any, Any]
Job = tuple[int, float, float, float]
"""What a request asks of the server: (mix class index, CPU s, wait s, response bytes)."""


class Counts(Protocol):
    """The recorder's running count of finished requests."""

    @property
    def finished(self) -> int:
        """Requests finished so far (completed or failed)."""
        ...


class HttpClient(Protocol):
    """A client that sends requests on connections, as ab, wrk or a browser would."""

    @property
    def env(self) -> simpy.Environment:
        """The simulation's environment."""
        ...

    @property
    def recorder(self) -> Counts:
        """Where finished requests are counted."""
        ...

    def request(
        self, conn: Any, *, delay_s: float, client_keepalive: bool, job: Job | None = None
    ) -> Proc:
        """Send one request after ``delay_s``; returns ``(conn, status, t_done)``.

        ``conn`` is None for a new connection, else the one the previous request left open.
        ``job`` fixes what the request asks of the server (a replayed log's request); None
        draws it from the mix.
        """
        ...

    def finish(self, conn: Any, delay_s: float, *, client_closes: bool) -> Proc:
        """End a visit after ``delay_s``: close the connection or leave it to the server."""
        ...

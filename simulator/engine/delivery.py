"""A response's way back to the client: the link, a write that blocks, keep-alive or close.

The worker has computed the response (:meth:`mpmsim.engine.client.Client._served`); what
follows is the network's part. What fits the socket's send buffer leaves at once; the rest
holds the writer until the client has read enough (or Timeout passes), unless event's listener
finishes the write. Then the server keeps the connection for the next request or closes it,
and the client has the last byte half a round trip after it left.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import simpy

from mpmsim.engine.connection import Conn
from mpmsim.engine.recorder import OK, RESET, TIMEOUT
from mpmsim.engine.server import Server
from mpmsim.models.mpm.base import Child


class Delivery:
    """How one server's responses reach its clients over a link of a given speed."""

    def __init__(
        self,
        env: simpy.Environment,
        server: Server,
        streams: Sequence[bool],
        *,
        half_rtt_s: float,
        timeout_s: float | None,
    ) -> None:
        self.env = env
        self.server = server
        self.streams = streams  # per request class: the handler streams its response
        self.half_rtt_s = half_rtt_s
        self.timeout_s = timeout_s  # the client's own timeout, None for none
        self.server_timeout_s = float(server.directives.Timeout)

    def transfer_s(self, k: int, size: float, bw: float) -> tuple[float, float]:
        """Seconds ``size`` bytes take to the client at ``bw`` bytes/s; how long the writer blocks.

        What fits the socket buffer does not block; event's listener finishes the write of a
        larger response (two switches of CPU) unless the request class streams its response.
        """
        server = self.server
        ov = server.overheads
        tx_s = size / bw
        if size <= ov.send_buffer_bytes:
            return tx_s, 0.0
        if server.model.write_completion_off_worker and not self.streams[k]:
            server.cpu.run(ov.write_completion_cpu_s)
            return tx_s, 0.0
        return tx_s, (size - ov.send_buffer_bytes) / bw

    def blocking_write(
        self, conn: Conn, child: Child, held_s: float
    ) -> Generator[simpy.Event, Any, int]:
        """The worker blocks ``held_s`` on what the buffer did not take: OK, TIMEOUT or RESET."""
        if held_s > self.server_timeout_s:
            # A blocking write that makes no progress for Timeout seconds is abandoned.
            yield self.env.timeout(self.server_timeout_s)
            self.server.close(conn, worker_held=True)
            return TIMEOUT
        yield self.env.timeout(held_s)
        return OK if child.alive else RESET

    def delivered(
        self, conn: Conn, keep: bool, t_start: float, tx_s: float, held_s: float
    ) -> tuple[int, float, bool]:
        """The response is written: the server keeps or closes ``conn``, the client reads the rest.

        Returns ``(status, when the client has the whole response, whether ``conn`` stays
        open)``: TIMEOUT if the client's own timeout passed first (it then closes ``conn``).
        """
        server = self.server
        t_done = self.env.now + tx_s - held_s + self.half_rtt_s
        if keep:
            server.keepalive.hold(conn)
        else:  # the client closes when it has the response; its FIN takes half a round trip
            server.close(
                conn, worker_held=True, fin_after_s=t_done + self.half_rtt_s - self.env.now
            )
        if self.timeout_s is not None and t_done - t_start > self.timeout_s:
            if keep:
                server.keepalive.expire(conn)  # the client gave up and closed it
            return TIMEOUT, t_done, False
        return OK, t_done, keep

"""The memory of a server's open connections: Apache's, the kernel's, and event's kept pools.

Every open connection holds ``connection_kib`` of Apache's memory and ``socket_kib`` of the
kernel's (RAM, in no process's PSS). A connection that event's listener holds holds
``listener_connection_kib`` more, from the first time its listener takes it to its close: its
own pool (ptrans) and bucket allocator, apart from the workers. Event's listener takes a
connection in its keep-alive queue and in its linger queue (a lingering close whose FIN has not
come yet): each connection there "keeps its ptrans pool and buffered output, but no thread"
(``../shared/reference/apache-mpm-facts.md`` section 7; event.c ``process_lingering_close``
gives the pool back only after the EOF). Prefork and worker keep a worker per connection
instead, whose memory is the worker's. Measured: ~15 KiB for each connection an event child
keeps beyond its busy ones (measurements/README.md, "Probes of mechanisms").
"""

from __future__ import annotations

from mpmsim.engine.connection import Conn
from mpmsim.engine.memory import MemoryLedger
from mpmsim.engine.overheads import Overheads
from mpmsim.models.mpm.base import Child


class ConnectionMemory:
    """Charges and releases the connections' memory on one server's ledger."""

    def __init__(self, memory: MemoryLedger, overheads: Overheads) -> None:
        self._memory = memory
        self._conn_mib = overheads.conn_mib
        self._socket_mib = overheads.socket_mib
        self._kept_mib = overheads.kept_conn_mib
        self.kept = 0  # open connections event's listeners have held, with their pools
        self.kept_peak = 0

    def opened(self, n: int) -> None:
        """``n`` connections opened (closed, if negative): Apache's memory and the kernel's."""
        self._memory.add(n * self._conn_mib)
        if self._socket_mib:
            self._memory.add_kernel(n * self._socket_mib)

    def kept_by_listener(self, conn: Conn) -> None:
        """Event's listener takes ``conn`` for the first time (to keep it alive or to wait for
        its FIN): its pool, until it closes."""
        conn.kept = True
        child = conn.child
        assert child is not None
        child.kept += 1
        self.kept += 1
        if self.kept > self.kept_peak:
            self.kept_peak = self.kept
        self._memory.add(self._kept_mib)

    def closed(self, conn: Conn, child: Child) -> None:
        """``conn`` of the live ``child`` is closed (one ledger entry: this runs per connection)."""
        mib = self._conn_mib
        if conn.kept:
            child.kept -= 1
            self.kept -= 1
            mib += self._kept_mib
        self._memory.add(-mib)
        if self._socket_mib:
            self._memory.add_kernel(-self._socket_mib)

    def killed(self, child: Child) -> None:
        """``child`` was killed with its connections open."""
        self.opened(-child.conns)
        self.kept -= child.kept
        self._memory.add(-child.kept * self._kept_mib)

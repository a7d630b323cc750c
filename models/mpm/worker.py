"""mpm_worker: a listener thread per child hands each connection to one of ThreadsPerChild workers.

Facts §1.2: the listener accepts only while its child has an idle worker; the worker then holds
the connection to the end, keep-alive wait and lingering close included, exactly like a prefork
child. MaxConnectionsPerChild is counted down when a connection finishes.
"""

from __future__ import annotations

from mpmsim.models.mpm.base import READY, Child
from mpmsim.models.mpm.threaded import ThreadedMaintenance


class WorkerModel(ThreadedMaintenance):
    """The worker MPM."""

    name = "worker"
    keepalive_holds_worker = True
    write_completion_off_worker = False
    linger_holds_worker = True
    # Counted beyond the wake-up of the task that serves the request (in the request's CPU):
    # a new connection first wakes the listener, which hands the socket to a worker (one extra
    # switch); a keep-alive request wakes the worker blocked in read(), as in prefork (none);
    # ap_lingering_close() blocks in read until the client's FIN (one more wake-up).
    switches_per_new_connection = 1
    switches_per_keepalive_request = 0
    switches_per_close = 1
    uses_accept_mutex = True
    reached_code = "AH00286"
    near_code = "AH00287"
    full_code = "AH00288"
    busy_code = "AH00289"

    def may_accept(self, child: Child) -> bool:
        return child.state == READY and child.idle > 0

    def on_accept(self, child: Child) -> bool:
        child.conns_accepted += 1
        return False

    def on_connection_closed(self, child: Child) -> bool:
        # worker.c l.822: requests_this_child is decremented after each connection.
        child.conns_finished += 1
        limit = self.d.MaxConnectionsPerChild
        return limit > 0 and child.conns_finished >= limit

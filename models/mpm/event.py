"""mpm_event: workers only while there is work; the listener keeps idle connections.

Facts §1.3 and §5: a child's listener accepts while it has an idle worker and its connections
are under ``ThreadsPerChild + (idle - D) * floor(factor)``; a new
connection goes to a worker at once; after the response the worker is released and the listener
watches the keep-alive connection, finishes writes that did not fit the socket buffer and does
the lingering close. A keep-alive request that finds no idle worker gets its connection closed
(under a scheduler the child's listener looks for one only when it runs, and closes that
connection alone: mpmsim.engine.listener; under processor sharing at once, and every idle
keep-alive connection of that child with it). Idle threads of a child that does
not accept are not counted by the parent, so it forks more children (up to ServerLimit slots).
"""

from __future__ import annotations

from mpmsim.models.apache.directives import EffectiveDirectives
from mpmsim.models.mpm.base import READY, STARTING, Child
from mpmsim.models.mpm.threaded import ThreadedMaintenance


class EventModel(ThreadedMaintenance):
    """The event MPM."""

    name = "event"
    keepalive_holds_worker = False
    write_completion_off_worker = True
    linger_holds_worker = False
    # Counted beyond the wake-up of the worker that serves the request: a new connection and a
    # readable keep-alive connection both wake the listener first, which hands the socket on
    # (one extra switch each); the client's FIN in lingering close wakes the listener (one).
    switches_per_new_connection = 1
    switches_per_keepalive_request = 1
    switches_per_close = 1
    # No accept mutex at all (event.xml "How it works"): each listener polls its own pollset.
    uses_accept_mutex = False
    # disable_listensocks / enable_listensocks (event.c l.475-512): see Server._refresh
    listener_disables = True
    reached_code = "AH00484"
    near_code = "AH10159"
    full_code = "AH03490"
    busy_code = "AH00486"

    def __init__(self, directives: EffectiveDirectives) -> None:
        super().__init__(directives)
        self._tpc = directives.ThreadsPerChild
        self._factor = directives.async_factor_effective

    def may_accept(self, child: Child) -> bool:
        if child.state != READY or child.idle <= 0:
            return False
        # connections_above_limit(), event.c l.519-537; the factor is truncated to an integer.
        # Connections in lingering close are left out of the count (l.527: c_count - l_count).
        d_flag = 1 if child.not_accepting else 0
        return child.conns - child.lingering < self._tpc + (child.idle - d_flag) * self._factor

    def counts_idle(self, child: Child) -> bool:
        # event.c l.2954: idle threads of a child that stopped accepting are not idle.
        return child.state == STARTING or (child.state == READY and not child.not_accepting)

    def free_slots(self, active: int, total: int, unreaped: int) -> int:
        # A slot is free only without any process (event.c l.2971: ``pid == 0``): stopping
        # children keep theirs, and so do exited ones until the parent reaps them; the active
        # children are capped by MaxRequestWorkers/ThreadsPerChild.
        return min(self.d.ServerLimit - total - unreaped, self.d.process_limit - active)

    def may_stop_one(self, active: int, total: int) -> bool:
        # do_kill: no child is stopping, or there is room for the replacement (l.3007-3043).
        stopping = total - active
        return stopping == 0 or self.d.ServerLimit - total > self.d.process_limit

    def on_accept(self, child: Child) -> bool:
        # event.c l.2018: conns_this_child is decremented by the listener at accept.
        child.conns_accepted += 1
        limit = self.d.MaxConnectionsPerChild
        return limit > 0 and child.conns_accepted >= limit

    def on_connection_closed(self, child: Child) -> bool:
        child.conns_finished += 1
        return False

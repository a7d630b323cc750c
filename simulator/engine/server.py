"""The simulated Apache server: parent, children, and the connections they hold.

What all MPMs share lives here; where they differ, the server asks its :class:`MPMModel`. The
accept queue, the idle keep-alive connections, the lingering closes and the process table
(scoreboard slots, processes and threads alive) have modules of their own. Counters (busy
workers, open connections) are kept incrementally so sampling them is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import simpy

from mpmsim.engine.accept_queue import AcceptQueue
from mpmsim.engine.conn_memory import ConnectionMemory
from mpmsim.engine.connection import Conn
from mpmsim.engine.cpu import CPU
from mpmsim.engine.error_log import ErrorLog
from mpmsim.engine.keepalive import KeepAliveRegistry
from mpmsim.engine.lingering import LingeringClose
from mpmsim.engine.listener import Listeners, wake_to_enable
from mpmsim.engine.memory import MemoryLedger
from mpmsim.engine.overheads import Overheads
from mpmsim.engine.parent import maintenance_loop
from mpmsim.engine.process_table import ProcessTable
from mpmsim.engine.worker_memory import keep_for_worker
from mpmsim.models.mpm.base import DEAD, QUIESCING, READY, STARTING, Child, MPMModel

if TYPE_CHECKING:
    from mpmsim.models.apache.directives import EffectiveDirectives
    from mpmsim.models.costs import CostModel
    from mpmsim.models.hardware import HardwareSpec

ACCEPTED, QUEUED, DROPPED = 0, 1, 2


class Server:
    """Apache's parent process and its children on one simulated machine."""

    def __init__(
        self,
        env: simpy.Environment,
        model: MPMModel,
        directives: EffectiveDirectives,
        costs: CostModel,
        hardware: HardwareSpec,
        cpu: CPU,
        memory: MemoryLedger,
        somaxconn: int,
        listeners: int = 1,
    ) -> None:
        self.env = env
        self.model = model
        self._d = directives
        self.costs = costs
        self.cpu = cpu
        self.memory = memory
        self.overheads = Overheads.derive(model, costs, hardware, listeners)
        self.accept_queue = AcceptQueue(directives.ListenBacklog, somaxconn)
        self.conn_memory = ConnectionMemory(memory, self.overheads)
        #: event's listeners, which hand a kept connection's next request to a worker when they
        #: run; under processor sharing no task waits for its turn, so there are none
        self.listeners = (
            Listeners(env, cpu, self.overheads.ka_request_cpu_s)
            if not model.keepalive_holds_worker and not cpu.runs_at_once
            else None
        )
        self.keepalive = KeepAliveRegistry(
            self,
            holds_worker=model.keepalive_holds_worker,
            kept=self.conn_memory.kept_by_listener,
            listeners=self.listeners,
        )
        if self.listeners is not None:
            # a round ends by accepting from the backlog while the child may
            self.listeners.after_round = self._drain
        self.lingering = LingeringClose(env, cpu, self.overheads, self)
        #: event's lingering closes take a worker after the FIN; under processor sharing no
        #: job waits for its turn, so the close stays part of the response's CPU job
        self.defers_linger = not model.linger_holds_worker and not cpu.runs_at_once
        self.table = ProcessTable(
            model.threads_per_child(), model.extra_threads_per_child(), self.overheads.child_mib
        )
        self._used_mib = self.overheads.thread_used_mib
        # a threaded child's workers that have served (memory, and the count calibrate reads)
        self._counts_used = model.threaded
        # Both wait for a task's turn on the CPU; under processor sharing there is none, so
        # they are skipped (nothing per connection).
        self._hands_off = model.accept_hands_off and not cpu.runs_at_once
        self._fills_first = model.accept_fills_first
        self._disables = model.listener_disables and not cpu.runs_at_once
        self._accepting: dict[Child, None] = {}  # children that may accept, in round-robin order
        self.error_log = ErrorLog()
        # counters
        self.busy = 0  # workers held by a connection (R, W, K and C states)
        self.conns_open = 0
        self.busy_peak = 0
        self.conns_accepted = 0
        self.oom_kills = 0

    # -- ServerView -------------------------------------------------------------------------
    @property
    def now(self) -> float:
        return float(self.env.now)

    @property
    def directives(self) -> EffectiveDirectives:
        return self._d

    @property
    def children(self) -> list[Child]:
        return self.table.children

    @property
    def unreaped(self) -> int:
        """Children that have exited but whose scoreboard slots the parent has not freed yet."""
        return self.table.unreaped

    def log(self, code: str, message: str, *, once: bool = False) -> None:
        """Write a line to the simulated error log (``once``: only for the server's lifetime)."""
        self.error_log.write(self.now, code, message, once=once)

    def spawn_child(self) -> Child | None:
        """Fork a child; it starts accepting once the fork and its threads' creation are done."""
        child = self.table.fork(self.now)
        self.memory.add(child.memory_mib)
        self._update_switch_cost()
        done = self.cpu.run(self.overheads.spawn_cpu_s)
        done.callbacks.append(lambda _ev: self._child_ready(child))
        return child

    def stop_child(self, child: Child) -> None:
        """Graceful stop: accept nothing more, close idle keep-alive, exit when empty."""
        if child.state in (QUIESCING, DEAD):
            return
        child.state = QUIESCING
        self._accepting.pop(child, None)
        self.keepalive.close_all(child)
        self._maybe_exit(child)

    # -- start-up and maintenance ---------------------------------------------------------
    def start(self) -> None:
        """Start the parent: its memory, StartServers children, and the maintenance loop."""
        self.memory.add(self.costs.parent_mib + self.costs.shared_mib)
        for _ in range(min(self._d.StartServers, self._d.process_limit)):
            self.spawn_child()
        self.env.process(maintenance_loop(self.env, self.model, self, self.table))

    def _child_ready(self, child: Child) -> None:
        if child.state != STARTING:
            return
        child.state = READY
        child.idle = child.threads
        self._refresh(child)
        self._drain(child)

    # -- connections ----------------------------------------------------------------------------
    def arrive(self, conn: Conn) -> int:
        """A connection completes its handshake: ACCEPTED by a child, QUEUED, or DROPPED."""
        if self._accepting and not self.accept_queue.waiting:
            listeners = self.listeners  # a child whose listener is woken accepts in its round
            child = (next(iter(self._accepting)) if listeners is None
                     else listeners.first_asleep(self._accepting))  # fmt: skip
            if child is not None:
                self._accept(child, conn)
                return ACCEPTED
        return QUEUED if self.accept_queue.offer(conn) else DROPPED

    def _may_drain(self, child: Child) -> bool:
        """Whether ``child`` accepts from the backlog now, not in its listener's next round."""
        return self.listeners is None or not self.listeners.pending(child)

    def _accept(self, child: Child, conn: Conn) -> None:
        child.idle -= 1
        if self._hands_off:
            child.waking += 1  # until its first CPU job runs (:meth:`worker_ran`)
        if self._counts_used and child.used < child.threads:
            self._thread_used(child)
        child.conns += 1
        self.busy += 1
        if self.busy > self.busy_peak:
            self.busy_peak = self.busy
        self.conns_open += 1
        self.conns_accepted += 1
        conn.child = child
        self.conn_memory.opened(1)
        if self.model.on_accept(child):
            self.stop_child(child)
        if not self._fills_first:
            # Round-robin: the child goes to the back of the accepting queue.
            self._accepting.pop(child, None)
        # else the child that accepted stays first while it may accept: a listener that got
        # the CPU goes round its loop (event.c/worker.c listener_thread: poll, accept, push)
        # until its workers are all reserved or it is above its connection limit
        self._refresh(child)

    def _drain(self, child: Child) -> None:
        """``child`` accepts from the queue while it may."""
        queue = self.accept_queue
        waiting = queue.waiting
        model = self.model
        while waiting and model.may_accept(child):
            conn = queue.pop()
            if conn is None:
                return
            self._accept(child, conn)
            assert conn.wake is not None
            conn.wake.succeed()

    def _refresh(self, child: Child) -> None:
        """Recompute whether ``child`` accepts (and event's listener flag)."""
        ok = self.model.may_accept(child)
        if child.state == READY:
            if ok and child.not_accepting and self._disables:
                # accepting again once its listener has run (listener.wake_to_enable)
                wake_to_enable(
                    self.cpu, self.overheads.thread_switch_s, child, self._listener_enabled
                )
                ok = False  # not before its listener has run
            else:
                child.not_accepting = not ok
        if ok:
            self._accepting.setdefault(child, None)  # a child already in keeps its turn
        else:
            self._accepting.pop(child, None)

    def _listener_enabled(self, child: Child) -> None:
        """``enable_listensocks``; a child still full is disabled again."""
        if child.state != READY or not child.not_accepting:
            return
        child.not_accepting = False
        self._refresh(child)
        if not child.not_accepting and self.accept_queue.waiting:
            self._drain(child)

    def _thread_used(self, child: Child) -> None:
        """A hand-off to a worker: the child keeps ``thread_used_kib`` for each that has run."""
        self.table.served(child, keep_for_worker(child, self.memory, child.used, self._used_mib))

    def worker_ran(self, child: Child) -> None:
        """The worker given a new connection got the CPU: its scoreboard slot leaves READY.

        httpd 2.4: a worker thread (worker.c, event.c ``worker_thread``) sets SERVER_READY
        before it waits in ``ap_queue_pop_*``; the listener's push only wakes it, and it writes
        SERVER_BUSY_READ itself when it runs (``ap_process_http_sync_connection``,
        ``event.c process_socket``). Until the scheduler runs it, the parent's scan
        (``perform_idle_server_maintenance``) counts it idle. (A prefork child accepts and
        leaves READY in one run: MPMModel.accept_hands_off.)
        """
        if child.waking > 0:
            child.waking -= 1

    def release_worker(self, child: Child) -> None:
        """A worker of ``child`` finished with its connection (or handed it to the listener)."""
        if child.state == DEAD:
            return
        if self.defers_linger and self.lingering.take_freed_worker(child):
            return  # it goes on to a lingering close whose FIN waited for a worker
        child.idle += 1
        self.busy -= 1
        self._refresh(child)
        if self.accept_queue.waiting and self._may_drain(child):
            self._drain(child)

    def take_worker(self, child: Child) -> bool:
        """Event: reserve an idle worker of ``child`` for a readable keep-alive connection."""
        if child.state != READY or child.idle <= 0:
            return False
        self.hold_worker(child)
        return True

    def hold_worker(self, child: Child) -> None:
        """Take one of the idle workers of ``child`` (it has one)."""
        child.idle -= 1
        if self._counts_used and child.used < child.threads:
            self._thread_used(child)
        self.busy += 1
        if self.busy > self.busy_peak:
            self.busy_peak = self.busy
        self._refresh(child)

    def class_state(self, child: Child, k: int, mib: float, child_mib: float = 0.0) -> None:
        """A worker of ``child`` is handed a request of class ``k``: ``mib`` is its worker_kib,
        ``child_mib`` its child_kib (kept once, by the child's first worker of the class)."""
        if child.state == DEAD:
            return
        served = child.class_workers.get(k, 0)
        child.class_workers[k] = keep_for_worker(child, self.memory, served, mib, child_mib)

    def close(self, conn: Conn, *, worker_held: bool, fin_after_s: float = 0.0) -> None:
        """Close after a response: a lingering close if a worker held ``conn`` (lingering.py).

        ``fin_after_s``: when the client's FIN reaches the server (it reads the response to the
        end and closes).
        """
        child = conn.child
        assert child is not None
        if conn.server_closed or not child.alive:
            return
        if worker_held:
            if self.overheads.linger_on_worker:
                self.lingering.on_worker(conn, child, fin_after_s)
                return
            if self.defers_linger:
                # event: the worker shut the write side down and handed the connection to its
                # listener's linger queue (start_lingering_close_blocking); it no longer counts
                # against accepting (connections_above_limit: c_count - l_count)
                conn.lingering = True
                child.lingering += 1
                if fin_after_s > 0.0 and not conn.kept:
                    # its non-blocking read found no FIN yet (EAGAIN): it waits in the linger
                    # queue with its pool (process_lingering_close); with the FIN in, the
                    # worker closes it at once and no pool stays behind
                    self.conn_memory.kept_by_listener(conn)
                self.release_worker(child)
                self.lingering.deferred(conn, child, fin_after_s)
                return
            self.release_worker(child)
        self.finish_close(conn)

    def finish_close(self, conn: Conn) -> None:
        """Close ``conn`` now; a worker it held has been released already."""
        child = conn.child
        assert child is not None
        if conn.server_closed:
            return
        conn.server_closed = True
        conn.closed_at = self.env.now  # (self.now, less one property call)
        if child.state == DEAD:
            return
        if conn.lingering:
            child.lingering -= 1
        child.conns -= 1
        self.conns_open -= 1
        self.conn_memory.closed(conn, child)
        if self.model.on_connection_closed(child):
            self.stop_child(child)
        self._refresh(child)
        self._maybe_exit(child)
        if self.accept_queue.waiting and child.state == READY and self._may_drain(child):
            self._drain(child)

    def _maybe_exit(self, child: Child) -> None:
        if child.state == QUIESCING and child.conns == 0:
            self.exit_child(child)

    def exit_child(self, child: Child) -> None:
        """``child`` exits: its slot is held until the parent reaps it, its memory is freed,
        and its teardown takes the CPU (``thread_exit_cpu_ms`` a thread; a child measured at
        2.5 ms with 25 threads after serving, benchmarks/probe_lua.py exit)."""
        if self.overheads.exit_cpu_s:
            self.cpu.run(self.overheads.exit_cpu_s)
        child.state = DEAD
        self._accepting.pop(child, None)
        self.table.exited(child)  # its slot is freed when the parent reaps it
        self.keepalive.forget(child)
        self.lingering.forget(child)
        self.memory.add(-child.memory_mib)
        self._update_switch_cost()

    def _update_switch_cost(self) -> None:
        """Set the CPU's switch costs from the processes and threads alive (Overheads)."""
        table = self.table
        self.cpu.tasks_alive = table.threads
        job_s, switch_s = self.overheads.switch_costs(
            table.threads, len(table.children), threaded=self.model.threaded
        )
        self.cpu.job_switch_s = job_s
        self.cpu.set_switch_cost(switch_s)

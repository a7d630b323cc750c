"""The one interface every MPM model implements, and the child-process state it works on.

The engine (:mod:`mpmsim.engine.server`) owns the mechanics shared by all MPMs: the accept queue,
the CPU, memory, connections and requests. An MPM model answers the questions where Apache's MPMs
differ: who holds a worker in each phase of a connection, when a child may accept, how a connection
is handed to a worker (and so how many wake-ups it costs), how MaxConnectionsPerChild is counted,
and what the parent does in its once-a-second maintenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from mpmsim.models.apache.directives import EffectiveDirectives


class ChildState(IntEnum):
    """Life of a child process (scoreboard-like)."""

    STARTING = 1  # forked, not yet accepting; counted as idle by maintenance (as in Apache)
    READY = 2  # serving or waiting for connections
    QUIESCING = 3  # stopping gracefully: accepts nothing, exits when its connections end
    DEAD = 4


# The states as plain module constants, for code that runs per request: looking a member up on
# the enum class (``ChildState.READY``) costs several times more than comparing with it.
STARTING = ChildState.STARTING
READY = ChildState.READY
QUIESCING = ChildState.QUIESCING
DEAD = ChildState.DEAD


@dataclass(eq=False)
class Child:
    """One Apache child process: ``threads`` workers, of which ``idle`` wait for work."""

    slot: int
    threads: int
    extra_threads: int
    memory_mib: float
    state: ChildState = ChildState.STARTING
    idle: int = 0
    conns: int = 0  # open connections (event's C)
    lingering: int = 0  # of them, event's in lingering close (its listener watches them)
    kept: int = 0  # of them, event's that its listener has kept alive once (their pools)
    conns_accepted: int = 0
    conns_finished: int = 0
    used: int = 0  # worker threads that have served at least once
    #: workers handed a new connection that have not run yet: the scoreboard still shows them
    #: SERVER_READY (they set SERVER_BUSY_READ themselves, once the CPU runs them)
    waking: int = 0
    not_accepting: bool = False  # event: listener disabled (full)
    enabling: bool = False  # event: its listener was woken to enable accepting again
    started_s: float = 0.0
    #: per request class (its index in the mix): workers that have served it
    #: (``worker_kib``), at most ``threads``
    class_workers: dict[int, int] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        """The process exists (it may be starting or stopping)."""
        return self.state != DEAD

    @property
    def idle_on_scoreboard(self) -> int:
        """Workers the parent's scan sees as idle: free ones and those not yet run."""
        return self.idle + min(self.waking, self.threads - self.idle)

    @property
    def busy(self) -> int:
        """Workers held by a connection."""
        return self.threads - self.idle if self.state != STARTING else 0


class ServerView(Protocol):
    """What an MPM model may see and do on the simulated server."""

    @property
    def now(self) -> float: ...

    @property
    def directives(self) -> EffectiveDirectives: ...

    @property
    def children(self) -> list[Child]: ...

    @property
    def unreaped(self) -> int:
        """Exited children whose slots the parent has not reaped yet (not in ``children``)."""
        ...

    def spawn_child(self) -> Child | None: ...

    def stop_child(self, child: Child) -> None: ...

    def log(self, code: str, message: str, *, once: bool = False) -> None: ...


@runtime_checkable
class MPMModel(Protocol):
    """An Apache MPM as the engine sees it."""

    name: str
    #: an idle keep-alive connection pins its worker (prefork, worker) or not (event)
    keepalive_holds_worker: bool
    #: a response larger than the socket buffer is finished by the listener, freeing the worker
    write_completion_off_worker: bool
    #: lingering close keeps the worker (sync MPMs) or is done by the listener (event)
    linger_holds_worker: bool
    #: context switches for handing a new connection to a worker / a keep-alive request to one
    switches_per_new_connection: int
    switches_per_keepalive_request: int
    #: context switches when the server closes a connection: a sync worker blocks in the
    #: lingering-close read and wakes for the client's FIN; event's listener reaps it in its poll
    switches_per_close: int
    #: with more than one Listen socket, accept() is serialised by the accept mutex (prefork,
    #: worker); event polls without one
    uses_accept_mutex: bool
    #: the workers are threads sharing a process (switches between them are cheaper)
    threaded: bool
    #: a listener accepts and hands the socket to a worker that the scheduler must still run
    #: (worker, event: until then its scoreboard slot reads SERVER_READY); a prefork child
    #: accepts itself and leaves READY in the same run
    accept_hands_off: bool
    #: a child's listener, once it runs, accepts while its child may (worker, event: the
    #: listener loops poll -> accept -> push); prefork children each accept one connection
    #: and the kernel wakes the longest-waiting one, so they take turns
    accept_fills_first: bool
    #: a full child's listener takes its listening sockets out of its pollset and must run
    #: again to put them back (event); others simply wait for an idle worker
    listener_disables: bool

    def threads_per_child(self) -> int:
        """Worker threads in each child."""
        ...

    def extra_threads_per_child(self) -> int:
        """Non-worker threads in each child (listener, main thread)."""
        ...

    def may_accept(self, child: Child) -> bool:
        """``child`` would take a new connection from the accept queue now."""
        ...

    def on_accept(self, child: Child) -> bool:
        """Count an accepted connection; True if the child must stop (MaxConnectionsPerChild)."""
        ...

    def on_connection_closed(self, child: Child) -> bool:
        """Count a finished connection; True if the child must now stop."""
        ...

    def parent_idle(self, children: list[Child]) -> int:
        """The idle count the parent's maintenance compares with its spare settings, over the
        live ``children`` (idle children under prefork, idle threads under worker and event)."""
        ...

    def maintain(self, server: ServerView) -> None:
        """The parent's once-a-second idle-server maintenance."""
        ...


def spawn_rate_step(rate: int, max_rate: int = 32) -> int:
    """Apache's exponential spawn rate: 1, 2, 4 ... up to MAX_SPAWN_RATE (32)."""
    return min(rate * 2, max_rate)

"""What the server's own mechanics cost: CPU per connection event, memory per process and socket.

Derived once per run from the cost model, the hardware's context-switch time and the MPM's
hand-offs (how many switches a new connection, a keep-alive request and a close cost).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mpmsim.models.costs import CostModel
    from mpmsim.models.hardware import HardwareSpec
    from mpmsim.models.mpm.base import MPMModel


@dataclass(frozen=True, slots=True)
class Overheads:
    """CPU in seconds of reference-core work, memory in MiB, buffers in bytes."""

    process_switch_s: float  # one switch between processes
    thread_switch_s: float  # one switch between threads of a process
    switch_s_per_task: float  # more per switch for each process or thread alive
    switch_s_per_process: float  # more per switch for each process alive
    new_conn_cpu_s: float  # accepting a connection and handing it to a worker
    idle_conn_cpu_s: float  # more for a new connection whose worker runs on an idle vCPU
    ka_request_cpu_s: float  # handing a readable keep-alive connection to a worker
    write_completion_cpu_s: float  # event's listener finishing a write that did not fit
    close_cpu_s: float  # shutdown, lingering close and the wake-up for the client's FIN
    #: event: the CPU job of the worker woken for the client's FIN (a switch); the rest of the
    #: close (shutdown, reading the EOF, close) is charged with the response
    deferred_close_cpu_s: float
    #: the worker itself waits for the client's FIN and closes (prefork, worker): the close is
    #: a CPU job of its own after the FIN, not part of the request's
    linger_on_worker: bool
    request_cpu_s: float  # per request, on top of the request class's own CPU
    #: the kernel's work on the vCPU outside Apache's processes, per request and per new
    #: connection (in the vCPU's busy time, not in Apache's CPU per request)
    kernel_request_s: float
    kernel_conn_s: float
    after_response_s: float  # of a request's CPU, what its worker runs after the response
    conn_mib: float  # per open connection: Apache's
    kept_conn_mib: float  # more per connection a listener has kept alive (event)
    socket_mib: float  # per open connection: the kernel's (RAM, in no PSS)
    send_buffer_bytes: float  # a response larger than this blocks its writer
    child_mib: float  # per child process with all its threads
    thread_used_mib: float  # more per worker thread of a threaded MPM once it has served
    spawn_cpu_s: float  # forking a child and creating its threads
    exit_cpu_s: float  # a child's exit: its threads' and its address space's teardown

    def switch_costs(self, tasks: int, children: int, *, threaded: bool) -> tuple[float, float]:
        """(extra work per CPU job, cost of a time-slice switch) with ``tasks`` alive.

        A switch's fixed part is the hardware's plus the cost model's per kind of switch. Its
        indirect part grows with the tasks alive (``switch_us_per_task`` each): the next task's
        cache lines and TLB entries are less likely to have survived the others (Linux
        ``kernel/sched/core.c`` ``context_switch``: ``switch_mm_irqs_off`` between processes
        flushes the user TLB without PCID; the working sets of all tasks share the caches).
        It is paid on every time-slice switch and by every CPU job (the wake-up into its task).
        ``switch_us_per_process`` grows it with the processes alive (``children`` and the
        parent): each has its own page tables, so the working set that a switch between
        processes must reload grows with them, while threads of one process share theirs.
        Under a threaded MPM a time-slice switch lands in another process with probability
        1 - 1/children.
        """
        per_task = self.switch_s_per_task
        extra = per_task * tasks if per_task else 0.0
        if self.switch_s_per_process:
            extra += self.switch_s_per_process * (children + 1)  # the children and the parent
        if threaded:
            cross = 1.0 - 1.0 / max(1, children)
            thread_s, process_s = self.thread_switch_s, self.process_switch_s
            cost = thread_s + cross * (process_s - thread_s)
        else:
            cost = self.process_switch_s
        return extra, cost + extra

    @classmethod
    def derive(
        cls, model: MPMModel, costs: CostModel, hardware: HardwareSpec, listeners: int
    ) -> Overheads:
        """The overheads of ``model`` with ``costs`` on ``hardware``, with ``listeners`` sockets."""
        hw_switch = hardware.context_switch_us
        process_switch_s = (hw_switch + costs.process_switch_us) * 1e-6
        thread_switch_s = (hw_switch + costs.thread_switch_us) * 1e-6
        handoff = thread_switch_s if model.threaded else process_switch_s
        new_conn_cpu_s = costs.accept_cpu_ms * 1e-3 + model.switches_per_new_connection * handoff
        if listeners > 1 and model.uses_accept_mutex:
            new_conn_cpu_s += costs.accept_mutex_us * 1e-6
        threads = model.threads_per_child()
        return cls(
            process_switch_s=process_switch_s,
            thread_switch_s=thread_switch_s,
            switch_s_per_task=costs.switch_us_per_task * 1e-6,
            switch_s_per_process=costs.switch_us_per_process * 1e-6,
            new_conn_cpu_s=new_conn_cpu_s,
            idle_conn_cpu_s=costs.idle_connection_us * 1e-6,
            ka_request_cpu_s=model.switches_per_keepalive_request * handoff,
            write_completion_cpu_s=2 * handoff if model.write_completion_off_worker else 0.0,
            close_cpu_s=costs.close_cpu_ms * 1e-3 + model.switches_per_close * handoff,
            deferred_close_cpu_s=model.switches_per_close * handoff,
            linger_on_worker=model.linger_holds_worker,
            request_cpu_s=costs.request_cpu_ms * 1e-3,
            kernel_request_s=costs.kernel_us_per_request * 1e-6,
            kernel_conn_s=costs.kernel_us_per_connection * 1e-6,
            after_response_s=costs.after_response_cpu_ms * 1e-3,
            conn_mib=costs.connection_kib / 1024.0,
            kept_conn_mib=0.0
            if model.keepalive_holds_worker
            else costs.listener_connection_kib / 1024.0,
            socket_mib=costs.socket_kib / 1024.0,
            send_buffer_bytes=costs.send_buffer_kib * 1024.0,
            child_mib=costs.process_mib
            + (threads + model.extra_threads_per_child()) * costs.thread_mib,
            thread_used_mib=costs.thread_used_kib / 1024.0 if model.threaded else 0.0,
            spawn_cpu_s=(costs.fork_cpu_ms + threads * costs.thread_create_cpu_ms) * 1e-3,
            exit_cpu_s=threads * costs.thread_exit_cpu_ms * 1e-3,
        )

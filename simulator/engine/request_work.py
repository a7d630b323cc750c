"""A request's CPU on its worker: the handler's, its connection's own costs, the kernel's work
beside it, and the tail the worker runs after the response.

:class:`~mpmsim.engine.client.Client` asks it once per request; the noise samplers (a gamma
factor on the whole job, another on the tail) are the replication's, drawn in request order.
"""

from __future__ import annotations

from mpmsim.engine.cpu import CPU
from mpmsim.engine.overheads import Overheads
from mpmsim.workloads.distributions import ConstantSampler, Sampler


class RequestWork:
    """What a request costs its worker, with the costs its connection and MPM add."""

    def __init__(
        self,
        ov: Overheads,
        cpu: CPU,
        *,
        close_with_response_s: float,
        ka_request_cpu_s: float,
        cpu_noise: Sampler | None = None,
        after_noise: Sampler | None = None,
    ) -> None:
        self._ov = ov
        self._cpu = cpu
        #: the close's CPU charged with a response that ends its connection
        self._close_with_response_s = close_with_response_s
        #: a kept connection's hand-off to its worker, when it is part of the request's job
        self._ka_request_cpu_s = ka_request_cpu_s
        self.cpu_noise = cpu_noise or ConstantSampler(1.0)
        self.after_noise = after_noise or ConstantSampler(1.0)

    def cpu_s(self, cpu_s: float, first: bool, keep: bool) -> float:
        """The worker's CPU for a request of ``cpu_s``, with the connection's own costs."""
        ov = self._ov
        # The kernel's own work for the request's packets shares the vCPU with it (ksoftirqd
        # runs the loopback's deferred receive softirqs on the sending CPU: net/core/dev.c
        # ``net_rx_action`` hands what exceeds its budget to ``wakeup_softirqd``); it is charged
        # with the request's job here and left out of Apache's CPU per request by the summary.
        work = ov.request_cpu_s + ov.kernel_request_s + cpu_s
        if first:
            work += ov.new_conn_cpu_s + ov.kernel_conn_s
            # A worker that gets its connection on an idle vCPU waits for each of the client's
            # packets (the request, the FIN) and is woken for it from idle (costs'
            # idle_connection_us); on a busy vCPU they are queued before it reads.
            if ov.idle_conn_cpu_s and self._cpu.has_idle_vcpu:
                work += ov.idle_conn_cpu_s
        else:
            work += self._ka_request_cpu_s
        if not keep:
            work += self._close_with_response_s
        return work * self.cpu_noise.draw()

    def tail_s(self, work: float) -> float:
        """The part of a request's ``work`` its worker runs after the response (at most half)."""
        mean = self._ov.after_response_s
        if not mean:
            return 0.0
        tail = mean * self.after_noise.draw()
        return tail if tail < 0.5 * work else 0.5 * work

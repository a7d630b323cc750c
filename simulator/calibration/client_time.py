"""The client's side of a measured run's time, from its rows with one client.

A closed loop of one client spends each request's time in the network round trip, in the
server, and (for a new connection) in its own connect and close; calibrate takes the round trip
and the client's work per connection from the c=1 rows so that the simulated client waits what
the real one did (:func:`estimate_rtt_ms`, :func:`estimate_client_conn_ms`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mpmsim.calibration.measured import BesideMs, ServerMs, nan_text
from mpmsim.workloads.readers import MeasuredRun


def estimate_rtt_ms(runs: Sequence[MeasuredRun], beside_ms: BesideMs | None = None) -> float:
    """Client round trip (ms) from the c=1 rows: the tool's mean latency (``lat_mean_ms``; ab's
    is 1 / throughput, wrk's its own, a little above that in the shared set and far above it on
    a contended client) minus Apache's measured CPU per request. 1 / throughput (Little's law)
    instead moved the shared set's worker rows at 100 clients from 8-11 processes to 17 (real
    6-11) and bench_fidelity's held-out shares down (session 40): not used.

    A keep-alive request costs one round trip, a new connection two (handshake and request)
    plus the client's own work per connection; so the keep-alive rows tell the round trip
    alone when there are any (:func:`estimate_client_conn_ms` takes the rest). ``beside_ms``
    gives the CPU the simulator charges a row's request beside Apache's (the kernel's work on
    its core, :func:`mpmsim.calibration.kernel_fit.kernel_ms`), taken off with it.
    """
    rows = _one_client(runs, beside_ms=beside_ms)
    kept = [(lat, cpu) for lat, cpu, ka in rows if ka]
    if kept:
        est = [lat - cpu for lat, cpu in kept]
    else:
        est = [(lat - cpu) / (1.0 if ka else 2.0) for lat, cpu, ka in rows]
    return max(float(np.median(est)), 0.0) if est else 0.0


def estimate_client_conn_ms(
    runs: Sequence[MeasuredRun],
    rtt_ms: float,
    server_ms: ServerMs | None = None,
    beside_ms: BesideMs | None = None,
) -> float:
    """The client's own time per new connection (ms): c=1 rows without keep-alive, beyond
    their two round trips and the server's time; 0 unless keep-alive rows fixed the round trip.

    The server's time is ``server_ms(run)`` when given and not None: calibrate passes the CPU
    its fitted model charges the row (:func:`mpmsim.calibration.regressors.model_cpu_ms`), so that
    the simulated row takes its measured time per request; else Apache's measured CPU. Either
    way with ``beside_ms``, as :func:`estimate_rtt_ms`.
    """
    rows = _one_client(runs, server_ms, beside_ms)
    if not any(ka for _, _, ka in rows):
        return 0.0
    est = [lat - cpu - 2.0 * rtt_ms for lat, cpu, ka in rows if not ka]
    return max(float(np.median(est)), 0.0) if est else 0.0


def _one_client(
    runs: Sequence[MeasuredRun],
    server_ms: ServerMs | None = None,
    beside_ms: BesideMs | None = None,
) -> list[tuple[float, float, bool]]:
    """(time per request, time in the server per request, keep-alive) of the closed c=1
    rows, ms.

    The server's time is ``server_ms(run)`` if given and not None, else Apache's measured CPU;
    a PHP row's is Apache's and FPM's CPU and the script's sleep.
    """
    return [
        (float(r.lat_mean_ms), _server_ms(r, server_ms) + (beside_ms(r) if beside_ms else 0.0),
         bool(r.keepalive))
        for r in runs
        if r.concurrency == 1 and r.lat_mean_ms and r.apache_cpu_ms_per_req
        and r.tool in ("ab", "wrk")  # closed loops, not paced clients
    ]  # fmt: skip


def _server_ms(run: MeasuredRun, server_ms: ServerMs | None = None) -> float:
    if run.extra.get("php"):
        cpu = nan_text(run.extra.get("server_cpu_ms_per_req"))
        return cpu + float(run.extra.get("script_sleep_ms", 0))
    modelled = server_ms(run) if server_ms is not None else None
    return modelled if modelled is not None else float(run.apache_cpu_ms_per_req or 0.0)

"""What queueing theory says beside the simulation: analytic bounds on a scenario's throughput.

Every figure here comes from formulas on the scenario's mean costs (``mpmsim.queueing``), not
from the simulation; the run's JSON carries them as ``theory`` with ``"analytic": true`` and
names the bound the simulated throughput sits against (``theory.binding``):

- ``cpu``: vCPUs x cpu_speed (x the host's mean speed under ``host_contention``) / the CPU
  one request costs on the reference core, with every
  per-request cost the engine charges (handler, request parsing, the connection's accept and
  hand-off, keep-alive hand-off, close, event's write completion; PHP's own CPU per request in
  mod_php or an FPM child, a proxy's own CPU and Apache's hand-off to a backend) weighted by
  how often it falls on a request. Not included: CFS's time-slice switch losses when more jobs
  run than vCPUs, fork and thread creation, burst throttling (``at_baseline_rps`` gives that
  case).
- ``workers``: MaxRequestWorkers / the time a worker is held per request (CPU without
  contention, backend wait, a blocking write, and for prefork and worker the idle keep-alive
  wait); a worker waits for the backend it hands a request to, so that CPU and wait count.
- ``backend.NAME`` per PHP-FPM pool or proxy: pm.max_children (or the proxy's concurrency) /
  the mean time a request routed there holds one of its processes / the share of requests
  routed there (:mod:`mpmsim.engine.theory_backends`).
- ``connections`` (event): the most connections event's children take, ServerLimit-bound
  processes x ThreadsPerChild x (1 + AsyncRequestWorkerFactor), / a connection's time per
  request.
- an open load: the offered rate and the utilisations it implies; a closed load: the exact MVA
  of the equivalent closed network (N clients, a delay station for think time, network, wait
  and transfer, and the CPU as a load-dependent processor-sharing station of ``vcpus``
  servers); a paced closed load also ``clients x rate``.

How often a request opens or closes a connection, and how long a kept connection idles, come
from the load's own distributions: see :mod:`mpmsim.engine.demand`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mpmsim import queueing
from mpmsim.engine.demand import (
    ClassCosts,
    ConnectionShape,
    Mean,
    class_costs,
    connection_shape,
    session_lengths,
)
from mpmsim.engine.overheads import Overheads
from mpmsim.engine.theory_backends import PoolDemand, pool_demands
from mpmsim.models.mpm.base import MPMModel
from mpmsim.models.mpm.registry import make_mpm
from mpmsim.spec.resolve import Prepared
from mpmsim.spec.scenario import ClosedLoad, OpenLoad, TraceLoad
from mpmsim.workloads.distributions import mean_of


def theory_block(prep: Prepared, mean: Mean) -> dict[str, Any]:
    """The run JSON's ``theory``: the analytic bounds, and the one the simulation sits against."""
    model = make_mpm(prep.mpm, prep.directives)
    ov = Overheads.derive(model, prep.costs, prep.hardware, prep.scenario.server.listeners)
    load = prep.scenario.load
    bw = load.client_bandwidth_kbps * 125.0 if load.client_bandwidth_kbps else None
    costs = class_costs(prep, mean, ov.send_buffer_bytes)
    transfer_s = sum(c.share * c.bytes_mean for c in costs) / bw if bw else 0.0
    shape = connection_shape(prep, mean, transfer_s)
    cpu = _cpu_ms(costs, ov, model, shape, bw is not None)
    # without contention a new connection finds the CPU idle (idle_connection_us); at the CPU
    # bound, saturated, none does
    alone_ms = cpu["total"] + 1000.0 * shape.new * ov.idle_conn_cpu_s
    hold = _holding_ms(prep, model, costs, alone_ms, shape, bw)
    pools = pool_demands(prep, costs)
    bounds = _bounds(prep, model, cpu["total"], hold)
    for pool in pools:
        bounds[pool.key] = _bound(
            pool.rps,
            pool.formula(),
            holding_ms=round(pool.hold_ms, 4),
            share=round(pool.share, 4),
            backend=pool.name,
            kind=pool.kind,
        )
    out: dict[str, Any] = {
        "analytic": True,
        "cpu_ms_per_request": {k: round(v, 6) for k, v in cpu.items()},
        "connections": {
            "new_per_request": round(shape.new, 4),
            "server_closes_per_request": round(shape.closed, 4),
            "idle_ms_per_request": round(1000.0 * shape.idle_s, 3),
            "source": shape.source,
        },
        "bounds": bounds,
    }
    if isinstance(load, ClosedLoad):
        bounds.update(_closed(prep, load, costs, cpu["total"], shape, transfer_s))
    else:
        out["utilization"] = _open(prep, load, mean, bounds, cpu["total"], hold, pools)
    out["binding"] = _binding(bounds, mean("throughput_rps"))
    return out


def _cpu_ms(
    costs: list[ClassCosts], ov: Overheads, model: MPMModel, shape: ConnectionShape, bw: bool
) -> dict[str, float]:
    """Mean CPU per request on the reference core, ms, by what it pays for."""
    off_worker = model.write_completion_off_worker and bw
    parts = {
        "handler": sum(c.share * c.cpu_ms for c in costs),
        "request": 1000.0 * ov.request_cpu_s,
        "connection": 1000.0 * shape.new * ov.new_conn_cpu_s,
        "kernel": 1000.0 * (ov.kernel_request_s + shape.new * ov.kernel_conn_s),
        "keepalive_handoff": 1000.0 * (1.0 - shape.new) * ov.ka_request_cpu_s,
        "close": 1000.0 * shape.closed * ov.close_cpu_s,
        "write_completion": 1000.0
        * ov.write_completion_cpu_s
        * sum(c.share * c.over_buffer for c in costs if off_worker and not c.streams),
    }
    if any(c.backend is not None for c in costs):
        parts["php"] = sum(c.share * c.php_cpu_ms for c in costs)
        parts["backend"] = sum(c.share * c.backend_cpu_ms for c in costs)
        parts["handoff"] = sum(c.share * c.handoff_cpu_ms for c in costs)
    parts["total"] = sum(parts.values())
    return parts


@dataclass(frozen=True)
class Holding:
    """Per request: ms a worker is held, ms a connection is open."""

    worker_ms: float
    connection_ms: float


def _holding_ms(
    prep: Prepared,
    model: MPMModel,
    costs: list[ClassCosts],
    cpu_ref_ms: float,
    shape: ConnectionShape,
    bw: float | None,
) -> Holding:
    """How long a request holds a worker and a connection, without any contention."""
    busy = cpu_ref_ms / prep.hardware.mean_cpu_speed + sum(c.share * c.wait_ms for c in costs)
    blocked = transfer = 0.0
    if bw:
        blocked = sum(
            c.share * c.bytes_over_buffer / bw
            for c in costs
            if c.streams or not model.write_completion_off_worker
        )
        transfer = sum(c.share * c.bytes_mean / bw for c in costs)
    idle_ms = 1000.0 * shape.idle_s
    worker = busy + 1000.0 * blocked + (idle_ms if model.keepalive_holds_worker else 0.0)
    return Holding(worker, busy + 1000.0 * transfer + idle_ms)


def _bound(rps: float, formula: str, *, analytic: bool = True, **extra: Any) -> dict[str, Any]:
    """One bound's JSON entry (``analytic`` False: a figure the load generated, not a formula)."""
    value = round(rps, 3) if math.isfinite(rps) else None
    return {"throughput_rps": value, "analytic": analytic, "formula": formula, **extra}


def _rate(capacity: float, ms: float) -> float:
    """``capacity`` servers each taking ``ms`` per request, in requests per second."""
    return 1000.0 * capacity / ms if ms > 0 else math.inf


def _bounds(
    prep: Prepared, model: MPMModel, cpu_ref_ms: float, hold: Holding
) -> dict[str, dict[str, Any]]:
    """The CPU, workers and (event) connections bounds."""
    hw, d = prep.hardware, prep.directives
    cpu_rps = _rate(hw.vcpus * hw.mean_cpu_speed, cpu_ref_ms)
    extra: dict[str, Any] = {}
    if hw.burst is not None and hw.burst.mode == "standard":
        extra["at_baseline_rps"] = round(cpu_rps * hw.burst.baseline_fraction, 3)
    out = {
        "cpu": _bound(
            cpu_rps,
            f"{hw.vcpus} vCPU x speed {hw.mean_cpu_speed:g} / {cpu_ref_ms:.4g} ms CPU per request",
            includes="handler, request, connection accept and hand-off, keep-alive hand-off, "
            "close, write completion, PHP, a proxy's own CPU, backend hand-off "
            "(cpu_ms_per_request); not CFS switch losses, forks, a new connection's wake-ups "
            "on an idle vCPU (none when saturated)",
            **extra,
        ),
        "workers": _bound(
            _rate(d.MaxRequestWorkers, hold.worker_ms),
            f"MaxRequestWorkers {d.MaxRequestWorkers} / {hold.worker_ms:.4g} ms held per request",
            holding_ms=round(hold.worker_ms, 4),
        ),
    }
    if model.name == "event":
        factor = d.async_factor_effective
        most = d.process_limit * d.ThreadsPerChild * (1 + factor)
        out["connections"] = _bound(
            _rate(most, hold.connection_ms),
            f"{d.process_limit} processes x ThreadsPerChild {d.ThreadsPerChild} x (1 + "
            f"AsyncRequestWorkerFactor {factor}) = {most} connections / "
            f"{hold.connection_ms:.4g} ms open per request",
            holding_ms=round(hold.connection_ms, 4),
        )
    return out


def _closed(
    prep: Prepared,
    load: ClosedLoad,
    costs: list[ClassCosts],
    cpu_ref_ms: float,
    shape: ConnectionShape,
    transfer_s: float,
) -> dict[str, dict[str, Any]]:
    """The exact MVA of the closed network, and a paced load's clients x rate."""
    hw = prep.hardware
    think_s = mean_of(load.think_time_s)
    rtt_s = load.network_rtt_ms / 1000.0
    # The delay station: everything but the CPU, which no other client queues for.
    delay_s = think_s + rtt_s * (1.0 + shape.new) + transfer_s
    delay_s += sum(c.share * c.wait_ms for c in costs) / 1000.0
    service_s = cpu_ref_ms / hw.mean_cpu_speed / 1000.0
    out: dict[str, dict[str, Any]] = {}
    if service_s > 0:
        m = queueing.mva_machine_repairman(load.clients, delay_s, service_s, hw.vcpus)
        response_ms = 1000.0 * (load.clients / m.throughput - think_s)
        out["mva"] = _bound(
            m.throughput,
            f"exact MVA: {load.clients} clients, delay {1000 * delay_s:.4g} ms (think, network, "
            f"wait, transfer), CPU {1000 * service_s:.4g} ms on {hw.vcpus} PS server(s)",
            response_ms=round(response_ms, 4),
            cpu_utilization=round(m.utilization, 4),
        )
    elif delay_s > 0:  # no CPU at all: the clients only cycle through the delay station
        out["mva"] = _bound(
            load.clients / delay_s,
            f"{load.clients} clients / delay {1000 * delay_s:.4g} ms (think, network, wait, "
            "transfer); no CPU per request",
            response_ms=round(1000.0 * (delay_s - think_s), 4),
            cpu_utilization=0.0,
        )
    if load.rate_per_client_rps is not None:
        out["clients"] = _bound(
            load.clients * load.rate_per_client_rps,
            f"{load.clients} clients x {load.rate_per_client_rps:g} req/s each",
        )
    return out


def _open(
    prep: Prepared,
    load: OpenLoad | TraceLoad,
    mean: Mean,
    bounds: dict[str, dict[str, Any]],
    cpu_ref_ms: float,
    hold: Holding,
    pools: list[PoolDemand],
) -> dict[str, float | None]:
    """Add the offered load to ``bounds``; the utilisations it implies."""
    hw, d = prep.hardware, prep.directives
    nominal: float | None = None
    if isinstance(load, OpenLoad) and isinstance(load.sessions_per_s, int | float):
        lengths = session_lengths(load, np.random.default_rng(0))
        nominal = float(load.sessions_per_s) * float(np.mean(lengths))
    generated_key = "trace_offered_rps" if isinstance(load, TraceLoad) else "offered_rps"
    generated = mean(generated_key)
    rate = nominal if math.isnan(generated) else generated
    formula = (
        f"sessions_per_s {load.sessions_per_s:g} x {nominal / load.sessions_per_s:.4g} requests "
        "per session"
        if isinstance(load, OpenLoad)
        and isinstance(load.sessions_per_s, int | float)
        and nominal is not None
        else "the log's requests per second"
    )
    bounds["offered_load"] = _bound(
        math.nan if rate is None else rate,
        f"the requests the load sent into the measured window, per second (nominal: {formula})",
        analytic=math.isnan(generated),
        nominal_rps=None if nominal is None else round(nominal, 3),
    )
    if rate is None:
        return {}
    util: dict[str, float | None] = {
        "cpu": round(rate * cpu_ref_ms / (1000.0 * hw.vcpus * hw.mean_cpu_speed), 4),
        "workers": round(rate * hold.worker_ms / (1000.0 * d.MaxRequestWorkers), 4),
    }
    if "connections" in bounds:
        most = bounds["connections"]["throughput_rps"]
        util["connections"] = round(rate / most, 4) if most else None
    for pool in pools:
        util[pool.key] = round(pool.utilization(rate), 4)
    return util


def _binding(bounds: dict[str, dict[str, Any]], simulated: float) -> dict[str, Any]:
    """The lowest bound: the one the simulated throughput sits against, and how close."""
    finite = {k: b["throughput_rps"] for k, b in bounds.items() if b["throughput_rps"]}
    if not finite:
        return {
            "name": None,
            "analytic": True,
            "throughput_rps": None,
            "simulated_rps": None,
            "ratio": None,
        }
    name = min(finite, key=lambda k: finite[k])
    ok = not math.isnan(simulated)
    return {
        "name": name,
        "analytic": bounds[name]["analytic"],
        "throughput_rps": finite[name],
        "simulated_rps": round(simulated, 3) if ok else None,
        "ratio": round(simulated / finite[name], 4) if ok else None,
    }


__all__ = ["theory_block"]

"""Measured runs as simulation scenarios: what was run, what was seen, what the model predicts.

A row of the measurement CSV (``data/apache-bench/runs.csv``, or ``mpmsim bench`` output) names
the MPM and its directives, the load tool and its concurrency, keep-alive, pacing, warm-up and
duration or request count. This module turns it into a scenario on the given hardware and cost
model, and compares the figures the row measured with the simulated ones. A row whose load the
simulator has no mechanism for is named with the reason (:func:`unrepresentable`), never
simulated as something else.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mpmsim.engine.replication import Replication, World, run_replication
from mpmsim.engine.summary import summarize
from mpmsim.errors import InputError
from mpmsim.models.apache.directives import (
    EffectiveDirectives,
    apply_apache_rules,
    normalize_directives,
)
from mpmsim.models.costs import CostModel
from mpmsim.models.hardware import HardwareSpec
from mpmsim.models.mpm.warnings import KINDS, capacity_warnings
from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.resolve import Prepared, prepare
from mpmsim.workloads.readers import MeasuredRun

#: The server's time per request (ms) that something (the fitted cost model) gives a row.
ServerMs = Callable[[MeasuredRun], "float | None"]
#: CPU per request (ms) the simulator charges a row beside Apache's own.
BesideMs = Callable[[MeasuredRun], float]

#: The figures compared between a measured run and its simulation.
METRICS = ("req_per_s", "lat_p50_ms", "lat_p95_ms", "cpu_ms_per_req", "peak_pss_mb", "peak_procs")

#: Seconds between Apache's start and the load in the calibration set's cold-start runs.
COLD_START_S = 0.5


@dataclass(frozen=True)
class Setup:
    """How the measurements were taken, beyond what each row says."""

    hardware: HardwareSpec
    network_rtt_ms: float


def observed(run: MeasuredRun) -> dict[str, float]:
    """The comparable figures a row measured (NaN where it has none).

    wrk's latency percentiles include synthetic samples (its coordinated-omission correction),
    so only ab's latencies are compared.
    """
    latency_ok = run.tool == "ab"
    cpu, pss = _nan(run.apache_cpu_ms_per_req), _nan(run.peak_pss_mb)
    if run.extra.get("php"):  # measurements/php: Apache's and the FPM pool's CPU and memory
        cpu = nan_text(run.extra.get("server_cpu_ms_per_req"))
        pss += nan_text(run.extra.get("fpm_peak_pss_mb", "0"))
    return {
        "req_per_s": run.req_per_s,
        "lat_p50_ms": _nan(run.lat_p50_ms) if latency_ok else math.nan,
        "lat_p95_ms": _nan(run.lat_p95_ms) if latency_ok else math.nan,
        "cpu_ms_per_req": cpu,
        "peak_pss_mb": pss,
        "peak_procs": _nan(run.peak_procs),
    }


def measured_warnings(run: MeasuredRun) -> tuple[str, ...] | None:
    """The kinds of capacity warning (:data:`~mpmsim.models.mpm.warnings.KINDS`) the run's
    error log held, from its ``err_log_codes`` cell (the codes of its warn-or-worse lines,
    ``AH00484:1;AH10159:1``; empty: none); None for a row without the error-log columns
    (no ``err_log_lines_error``)."""
    if run.extra.get("err_log_lines_error") is None:
        return None
    cell = run.extra.get("err_log_codes") or ""
    return capacity_warnings(part.split(":")[0].strip() for part in cell.split(";"))


def _nan(x: float | int | None) -> float:
    return math.nan if x is None else float(x)


def nan_text(text: str | None) -> float:
    try:
        return float(text) if text else math.nan
    except ValueError:
        return math.nan


#: The ``php`` column of measurements/php/runs.csv: how the row's server ran PHP.
PHP_MODES = ("modphp", "fpm")
#: The FPM pool's name in a PHP row's scenario.
FPM_POOL = "www"


def php_parts(run: MeasuredRun) -> dict[str, Any]:
    """A PHP row's scenario parts: ``server`` keys, ``backends`` and the mix class's keys.

    The class runs the row's script (``script_cpu_ms``, ``script_sleep_ms``) in mod_php or in
    the FPM pool of config_json's ``php.pool``; a row without ``php`` gets no parts.
    """
    mode = run.extra.get("php")
    if not mode:
        return {"server": {}, "backends": {}, "mix": {}}
    script = {"cpu_ms": float(run.extra.get("script_cpu_ms", 0)),
              "wait_ms": float(run.extra.get("script_sleep_ms", 0))}  # fmt: skip
    if mode == "modphp":
        return {
            "server": {"modules": ["php"]},
            "backends": {},
            "mix": {**script, "backend": "mod_php"},
        }
    config = json.loads(run.extra.get("config_json", "{}"))
    pool = dict(config.get("php", {}).get("pool", {}))
    return {
        "server": {},
        "backends": {FPM_POOL: {"kind": "php_fpm", **pool}},
        "mix": {**script, "backend": FPM_POOL},
    }


def requests_per_connection(run: MeasuredRun) -> float:
    """Requests carried by one connection (from the access log's %k share when known)."""
    if not run.keepalive:
        return 1.0
    frac = run.extra.get("srv_ka_reused_frac")
    if frac:
        f = float(frac)
        if 0.0 <= f < 1.0:
            return 1.0 / (1.0 - f)
    mka = run.directives.get("MaxKeepAliveRequests", 100)
    return float(mka) + 1.0 if isinstance(mka, int | float) and mka > 0 else 1e6


#: Load tools whose rows calibrate can simulate; any other ``tool`` is skipped with its name.
TOOLS = ("ab", "wrk", "h2load", "kaclient")

#: ab's ``-n`` when ``-t`` limits the run (ab -t sets -n 50000; the harness passes 500000).
_AB_TIME_LIMITED_N = 500_000


def unrepresentable(run: MeasuredRun) -> str | None:
    """Why ``run``'s load cannot be simulated as it was measured, or None when it can."""
    if run.tool not in TOOLS:
        return f"tool {run.tool!r} is not one of {', '.join(TOOLS)}"
    if run.extra.get("php", PHP_MODES[0]) not in PHP_MODES:
        return f"php {run.extra['php']!r} is not one of {', '.join(PHP_MODES)}"
    cmd = run.extra.get("tool_cmd", "")
    if run.tool in ("h2load", "kaclient") and not run.keepalive:
        return f"keepalive=0, but {run.tool} always keeps its connections alive"
    if run.tool == "kaclient" and not run.rate_per_client:
        return "a kaclient row needs rate_per_client (requests per second per client)"
    if run.tool == "h2load":
        return _h2load_problem(run, cmd)
    if run.tool == "ab" and _ab_requests(run) and run.warmup_s:
        return "ab -n after a warm-up: the simulated request budget would count the warm-up's"
    return None


def _h2load_problem(run: MeasuredRun, cmd: str) -> str | None:
    """What of an h2load row the simulator has no mechanism for (None: nothing)."""
    if cmd and "--h1" not in cmd.split():
        return "h2load without --h1 speaks HTTP/2; the simulator models HTTP/1.x"
    if not _paced(run):
        return "h2load without --rps: set rate_per_client, or measure closed loops with wrk"
    # h2load does not reconnect when the server closes a keep-alive connection (README, S5);
    # the simulated client always does, so only rows where Apache never closes one fit.
    if run.mpm == "event":
        return "h2load does not reconnect, and event closes keep-alive connections when busy"
    per_conn = float(run.rate_per_client or 0.0) * (float(run.warmup_s or 0.0) + run.duration_s)
    mka = run.directives.get("MaxKeepAliveRequests", 100)
    if isinstance(mka, int | float) and 0 < mka < per_conn:
        return (
            f"h2load does not reconnect, and MaxKeepAliveRequests {mka:g} closes its connections "
            f"before the run's {per_conn:g} requests per client"
        )
    return None


def _paced(run: MeasuredRun) -> bool:
    """Whether the clients send at a fixed rate (kaclient, h2load --rps) rather than at once."""
    if run.tool == "kaclient":
        return True
    cmd = run.extra.get("tool_cmd")
    # rate_per_client is "blank/1, unused" on other rows: only h2load's --rps makes it count
    return run.tool == "h2load" and bool(run.rate_per_client) and (cmd is None or "--rps" in cmd)


def _ab_requests(run: MeasuredRun) -> int | None:
    """ab's ``-n`` when it, not ``-t``, ended the run."""
    n = run.n_requested
    return n if run.tool == "ab" and n and n < _AB_TIME_LIMITED_N else None


def load_for(run: MeasuredRun, setup: Setup) -> dict[str, Any]:
    """The scenario's ``load`` for ``run`` (which :func:`unrepresentable` accepted)."""
    warm = float(run.warmup_s or 0.0)
    load: dict[str, Any] = {
        "kind": "closed",
        "clients": int(run.concurrency),
        "keepalive": bool(run.keepalive),
        "network_rtt_ms": setup.network_rtt_ms,
        "start_s": COLD_START_S,
    }
    requests = _ab_requests(run)
    if requests:
        load["requests"] = requests
    else:  # the warm-up runs on the same server just before the measured window
        load["duration_s"] = warm + float(run.duration_s)
    if run.tool in ("wrk", "kaclient"):
        load["timeout_s"] = 30.0  # wrk --timeout 30s; kaclient's per-request timeout
    if _paced(run):
        load["rate_per_client_rps"] = float(run.rate_per_client or 0.0)
        # kaclient spreads its clients' phases over the second; h2load fires them together
        load["rate_phases"] = "spread" if run.tool == "kaclient" else "together"
    return load


def scenario_for(run: MeasuredRun, costs: CostModel, setup: Setup, seed: int = 1) -> dict[str, Any]:
    """A scenario mapping that reproduces ``run`` on ``setup.hardware`` with ``costs``.

    A row :func:`unrepresentable` names raises InputError with the reason.
    """
    reason = unrepresentable(run)
    if reason:
        raise InputError(reason, field=run.run_id)
    cost_dict = costs.model_dump(exclude={"justification", "uncertainty", "calibration"})
    php = php_parts(run)
    return {
        "name": run.run_id,
        "seed": seed,
        "warmup_s": float(run.warmup_s or 0.0),
        "replications": 1,
        "sample_interval_s": 0.5,  # the harness sampled memory every 0.5 s
        "hardware": setup.hardware.model_dump(exclude={"sources"}),
        "costs": cost_dict,
        "server": {"mpm": run.mpm, "directives": started_warm(run), **php["server"]},
        **({"backends": php["backends"]} if php["backends"] else {}),
        "load": load_for(run, setup),
        "mix": [{"name": run.content, **php["mix"]}],
    }


def started_warm(run: MeasuredRun) -> dict[str, Any]:
    """``run``'s directives, with StartServers raised to the children its idle reading counted
    when the load began on a server already running them (``idle_procs`` - 1 above Apache's own
    StartServers).

    ``mpmsim bench`` reads the idle server just before each run, and its runs after the first
    follow the ones before on the same server: a run at 100 clients after one at 50 starts with
    the children the first left, not with StartServers, and a simulation from a cold start
    forked them inside the measured window (spawn ramp, fork CPU, latencies). Rows with a
    warm-up keep their directives: the warm-up is simulated from a cold start, and an idle
    reading may have been taken after it (measurements/php).
    """
    directives = dict(run.directives)
    if run.warmup_s or run.idle_procs is None:
        return directives
    if run.idle_procs - 1 > effective(run).StartServers:
        directives["StartServers"] = run.idle_procs - 1
    return directives


def effective(run: MeasuredRun) -> EffectiveDirectives:
    """The directives Apache ran ``run`` with (its own rules applied to the row's)."""
    values, _ = normalize_directives(run.directives, source=run.run_id)
    return apply_apache_rules(run.mpm, values)[0]


def split_representable(
    runs: Sequence[MeasuredRun], held_out: Sequence[bool]
) -> tuple[list[MeasuredRun], list[bool], list[dict[str, str]]]:
    """The rows calibrate can simulate (with their hold-out flags), and the others with why."""
    kept, hold, skipped = [], [], []
    for run, h in zip(runs, held_out, strict=True):
        reason = unrepresentable(run)
        if reason:
            skipped.append({"run_id": run.run_id, "reason": reason})
        else:
            kept.append(run)
            hold.append(h)
    return kept, hold, skipped


def replicate(
    run: MeasuredRun,
    costs: CostModel,
    setup: Setup,
    seed: int = 1,
    index: int = 0,
    observe: Callable[[World], None] | None = None,
) -> tuple[Prepared, Replication]:
    """Replication ``index`` of the model of ``run`` (random streams from ``seed`` and
    ``index``), with the prepared scenario it ran; ``observe``: as :func:`run_replication`'s."""
    prep = prepare(load_scenario_data(scenario_for(run, costs, setup, seed), source=run.run_id))
    return prep, run_replication(prep, index, observe)


def simulate(
    run: MeasuredRun,
    costs: CostModel,
    setup: Setup,
    seed: int = 1,
    index: int = 0,
    observe: Callable[[World], None] | None = None,
) -> dict[str, float]:
    """The figures (:func:`figures`) that replication ``index`` of the model (its random
    streams drawn from ``seed`` and ``index``) predicts for ``run``. ``observe``: as
    :func:`run_replication`'s."""
    return figures(*replicate(run, costs, setup, seed, index, observe))


def figures(prep: Prepared, rep: Replication) -> dict[str, float]:
    """The figures of :data:`METRICS` of replication ``rep`` of ``prep``, the peak of worker
    threads that have served (``threads_used_peak``, which the memory fit reads), the peak of
    connections event's listeners held with their pools (``listener_kept_peak``), and for each
    kind of capacity warning (:data:`~mpmsim.models.mpm.warnings.KINDS`) 1.0 if the simulated
    parent logged it (``warned_<kind>``), else 0.0."""
    rec = summarize(prep, rep)
    warned = capacity_warnings(line.code for line in rep.error_log)
    return {
        **{f"warned_{kind}": float(kind in warned) for kind in KINDS},
        "req_per_s": rec["throughput_rps"],
        "lat_p50_ms": rec["latency_p50_ms"],
        "lat_p95_ms": rec["latency_p95_ms"],
        "cpu_ms_per_req": rec["cpu_ms_per_request"],
        "peak_pss_mb": rec["memory_apache_peak_mib"],  # PSS: without kernel socket memory
        "peak_procs": float(rec["processes_peak"]),
        "threads_used_peak": float(rec["threads_used_peak"]),
        "listener_kept_peak": float(rep.counters["listener_kept_peak"]),
        # the CPU of the idle wake-ups, which calibrate takes off a light row's (wake_sim)
        "idle_wake_cpu_ms": rec["idle_wake_cpu_ms_per_request"],
    }


def simulate_row(
    args: tuple[MeasuredRun, Mapping[str, Any], Mapping[str, Any], float, int, int],
) -> dict[str, float]:
    """Picklable entry point for worker processes: (run, costs dict, hardware dict, rtt, seed,
    replication index)."""
    run, costs, hardware, rtt, seed, index = args
    setup = Setup(HardwareSpec.model_validate(hardware), rtt)
    return simulate(run, CostModel.model_validate(costs), setup, seed, index)

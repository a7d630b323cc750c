"""The engine against exact queueing results, with the MPM overheads switched off (``ideal``).

Tolerance (stated once, used by every test): the simulated mean over seeded replications must lie
within its own 99 % confidence half-width plus 2 % of the theoretical value (the 2 % absorbs the
warm-up bias that remains after truncation), and the 99 % half-width itself must be below 5 % of
the value so that the check has teeth. This follows JMT's convention (99 % intervals, 3 %
relative half-width) with a little room for a short run on a noisy CI machine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from scipy import stats

from mpmsim import queueing
from mpmsim.engine.replications import run_prepared
from mpmsim.engine.summary import summarize
from tests.helpers import prepared

pytestmark = pytest.mark.slow  # seeded replications long enough for 99 % intervals: ~2 min

REPLICATIONS = 8


def _ci99(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.995, len(arr) - 1) * arr.std(ddof=1) / math.sqrt(len(arr))
    return float(arr.mean()), float(half)


def assert_agrees(values: Sequence[float], theory: float, what: str) -> None:
    """The tolerance described in the module docstring."""
    mean, half = _ci99(values)
    print(f"{what}: simulated {mean:.5g} ± {half:.3g} (99 %), theory {theory:.5g}")
    assert half < 0.05 * abs(theory), f"{what}: 99% CI ±{half:.4g} too wide for {theory:.4g}"
    assert abs(mean - theory) <= half + 0.02 * abs(theory), (
        f"{what}: simulated {mean:.5g} ± {half:.3g} vs theory {theory:.5g}"
    )


def _open_poisson(rate: float, duration: float, **extra: Any) -> dict[str, Any]:
    load = {
        "kind": "open",
        "sessions_per_s": rate,
        "requests_per_session": 1,
        "client_closes": True,
        "client_timeout_s": 1e6,
        "duration_s": duration,
    }
    load.update(extra)
    return load


def _records(prep: Any) -> list[dict[str, Any]]:
    res = run_prepared(prep, REPLICATIONS)
    return [summarize(prep, r) for r in res.replications]


def _mean_latency_s(prep: Any) -> list[float]:
    return [r["latency_mean_ms"] / 1000.0 for r in _records(prep)]


def _prefork_pool(c: int, backlog: int = 4000) -> dict[str, Any]:
    """c prefork children from the start, never killed, never more: c FCFS servers."""
    return {
        "mpm": "prefork",
        "somaxconn": 65535,
        "directives": {
            "StartServers": c,
            "MinSpareServers": 1,
            "MaxSpareServers": c + 1,
            "MaxRequestWorkers": c,
            "ServerLimit": c,
            "KeepAlive": "Off",
            "ListenBacklog": backlog,
        },
    }


def test_mm1_wait_service() -> None:
    """M/M/1: one worker holding each request for an exponential wait_ms; W = 1/(mu - lambda)."""
    lam, mean_s = 8.0, 0.1
    prep = prepared(
        server=_prefork_pool(1),
        load=_open_poisson(lam, 2000.0),
        warmup_s=50.0,
        mix=[{"name": "r", "cpu_ms": 0, "wait_ms": {"dist": "exponential", "mean": 1000 * mean_s}}],
    )
    theory = queueing.mm1(lam, 1 / mean_s).mean_response_s
    assert_agrees(_mean_latency_s(prep), theory, "M/M/1 mean response")


def test_mmc_erlang_c() -> None:
    """M/M/c (Erlang C) with c = MaxRequestWorkers = 5 workers, utilisation 0.8."""
    c, mean_s = 5, 0.05
    lam = 0.8 * c / mean_s
    prep = prepared(
        server=_prefork_pool(c),
        load=_open_poisson(lam, 300.0),
        warmup_s=10.0,
        mix=[{"name": "r", "cpu_ms": 0, "wait_ms": {"dist": "exponential", "mean": 1000 * mean_s}}],
    )
    m = queueing.mmc(lam, 1 / mean_s, c)
    recs = _records(prep)
    mean = [r["latency_mean_ms"] / 1000.0 for r in recs]
    assert_agrees(mean, m.mean_response_s, "M/M/c mean response")
    p90 = [r["latency_p90_ms"] / 1000.0 for r in recs]
    assert_agrees(p90, m.response_quantile_s(0.9), "M/M/c p90 response")


def test_mmck_loss_with_no_syn_retries() -> None:
    """M/M/c/K: c workers, accept queue of K - c, syn_retries 0: blocking probability."""
    c, k, mean_s = 4, 10, 0.05
    lam = 1.0 * c / mean_s  # offered load 1 per server: blocking is substantial
    # The kernel queue holds ListenBacklog + 1 connections (sk_acceptq_is_full uses '>').
    prep = prepared(
        server=_prefork_pool(c, backlog=k - c - 1),
        load=_open_poisson(lam, 300.0, syn_retries=0),
        warmup_s=5.0,
        mix=[{"name": "r", "cpu_ms": 0, "wait_ms": {"dist": "exponential", "mean": 1000 * mean_s}}],
    )
    blocked = []
    for r in _records(prep):
        attempts = r["completed"] + r["refused"]
        blocked.append(r["refused"] / attempts)
    theory = queueing.mmck(lam, 1 / mean_s, c, k).p_block
    assert_agrees(blocked, theory, "M/M/c/K blocking probability")


def test_mg1_processor_sharing_on_one_vcpu() -> None:
    """M/G/1-PS: requests share one vCPU; E[T] = E[S] / (1 - rho) for any service law."""
    lam, mean_ms = 70.0, 10.0  # rho = 0.7
    prep = prepared(
        server={
            "mpm": "event",
            "directives": {
                "StartServers": 2,
                "ThreadsPerChild": 200,
                "ThreadLimit": 200,
                "MaxRequestWorkers": 400,
                "ServerLimit": 2,
                "MinSpareThreads": 1,
                "MaxSpareThreads": 401,
                "KeepAlive": "Off",
            },
        },
        load=_open_poisson(lam, 1500.0),
        warmup_s=20.0,
        mix=[{"name": "r", "cpu_ms": {"dist": "lognormal", "mean": mean_ms, "cv": 2.0}}],
    )
    theory = queueing.mg1_ps_mean_response(lam, mean_ms / 1000.0)
    assert_agrees(_mean_latency_s(prep), theory, "M/G/1-PS mean response")


def test_closed_network_against_mva() -> None:
    """ab-like clients with exponential think time against one vCPU: exact MVA."""
    n, think_s, service_ms = 12, 0.1, 10.0
    prep = prepared(
        server={
            "mpm": "worker",
            "directives": {
                "StartServers": 1,
                "ThreadsPerChild": 64,
                "MaxRequestWorkers": 64,
                "ServerLimit": 1,
                "MinSpareThreads": 1,
                "MaxSpareThreads": 200,
                "KeepAlive": "On",
                "MaxKeepAliveRequests": 0,
                "KeepAliveTimeout": 1000,
            },
        },
        load={
            "kind": "closed",
            "clients": n,
            "keepalive": True,
            "duration_s": 600.0,
            "think_time_s": {"dist": "exponential", "mean": think_s},
        },
        warmup_s=10.0,
        mix=[{"name": "r", "cpu_ms": {"dist": "exponential", "mean": service_ms}}],
    )
    m = queueing.mva_machine_repairman(n, think_s, service_ms / 1000.0)
    recs = _records(prep)
    assert_agrees([r["throughput_rps"] for r in recs], m.throughput, "MVA throughput")
    assert_agrees([r["latency_mean_ms"] / 1000.0 for r in recs], m.mean_response_s, "MVA response")

"""Speed of the simulator: simulated requests per wall-clock second.

Runs the full model (event MPM, t3.medium, open keep-alive sessions) and, in the same process,
a bare SimPy M/M/c (the textbook SimPy program: a source, a ``Resource`` with c servers, one
process per customer) on the same number of requests, and prints both rates and their ratio
(each side's best of ``--repeat`` runs), then each repetition's own ratio: on a shared host
whose speed drifts between runs, their spread is the figure's noise.
Target: the full model at 0.5x bare SimPy or better.

    python benchmarks/bench_speed.py [--requests N] [--repeat K]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Generator
from typing import Any

import simpy

from mpmsim.engine.replications import run_prepared
from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.resolve import prepare

SCENARIO: dict[str, Any] = {
    "name": "bench-event-keepalive",
    "seed": 7,
    "hardware": "t3.medium",
    "server": {"mpm": "event", "directives": {"KeepAliveTimeout": 5}},
    "load": {
        "kind": "open",
        "sessions_per_s": 100,
        "requests_per_session": {"dist": "geometric", "mean": 5},
        "think_time_s": {"dist": "exponential", "mean": 1.0},
        "network_rtt_ms": 20,
    },
    "mix": [
        {"name": "static", "weight": 9, "response_bytes": 4096},
        {"name": "page", "weight": 1, "cpu_ms": {"dist": "gamma", "mean": 2.0, "cv": 1.0}},
    ],
}


def full_model(requests: int, scheduler: str | None = None) -> tuple[int, float]:
    """(requests simulated, wall seconds) for the full model (``scheduler``: ps or cfs)."""
    offered = SCENARIO["load"]["sessions_per_s"] * 5
    sc = dict(SCENARIO, duration_s=requests / offered)
    if scheduler:
        sc["hardware"] = {"base": SCENARIO["hardware"], "cpu_scheduler": scheduler}
    prep = prepare(load_scenario_data(sc))
    t0 = time.perf_counter()
    res = run_prepared(prep, 1)
    wall = time.perf_counter() - t0
    return int(res.records[0]["finished"]), wall


def bare_mmc(requests: int, c: int = 4, lam: float = 2000.0, mu: float = 600.0) -> float:
    """Wall seconds for a bare SimPy M/M/c serving ``requests`` customers."""
    rng = random.Random(7)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=c)

    def customer() -> Generator[simpy.Event, Any, None]:
        with servers.request() as req:
            yield req
            yield env.timeout(rng.expovariate(mu))

    def source() -> Generator[simpy.Event, Any, None]:
        for _ in range(requests):
            yield env.timeout(rng.expovariate(lam))
            env.process(customer())

    env.process(source())
    t0 = time.perf_counter()
    env.run()
    return time.perf_counter() - t0


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--scheduler", choices=("ps", "cfs", "eevdf"), help="override the hardware's cpu_scheduler"
    )
    args = parser.parse_args()
    fulls, bares, n = [], [], 0
    for _ in range(args.repeat):
        n, wall = full_model(args.requests, args.scheduler)
        fulls.append(wall)
        bares.append(bare_mmc(n))
    full_rate, bare_rate = n / min(fulls), n / min(bares)
    # Each repetition's own ratio (the two runs back to back): how much a shared host's
    # changing speed moves the figure between runs.
    pairs = sorted(b / f for f, b in zip(fulls, bares, strict=True))
    print(f"requests simulated          {n:,}")
    print(f"full model (event, t3.medium, open keep-alive sessions): {full_rate:,.0f} req/wall-s")
    print(f"bare SimPy M/M/c, same request count:                   {bare_rate:,.0f} req/wall-s")
    print(f"ratio full / bare           {full_rate / bare_rate:.2f}x (target >= 0.5x)")
    print(f"each repetition's ratio     {', '.join(f'{r:.2f}x' for r in pairs)}")


if __name__ == "__main__":
    main()

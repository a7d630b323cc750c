"""Micro-benchmark: nanoseconds per ``draw()`` for each distribution kind (not a test).

Run: ``python benchmarks/bench_distributions.py [n_draws]``.
"""

from __future__ import annotations

import argparse
import time

from mpmsim.workloads.distributions import DistributionSpec, make_sampler, parse_spec
from mpmsim.workloads.streams import stream

SPECS: dict[str, object] = {
    "deterministic": 2.0,
    "exponential": {"dist": "exponential", "mean": 2.0},
    "lognormal": {"dist": "lognormal", "mean": 2.0, "cv": 1.5},
    "gamma": {"dist": "gamma", "mean": 2.0, "cv": 0.5},
    "weibull": {"dist": "weibull", "mean": 2.0, "shape": 1.5},
    "geometric": {"dist": "geometric", "mean": 5.0},
    "uniform": {"dist": "uniform", "low": 1.0, "high": 3.0},
    "empirical": {"dist": "empirical", "values": [1.0, 2.0, 5.0], "weights": [3.0, 2.0, 1.0]},
    "exponential+clip": {"dist": "exponential", "mean": 2.0, "min": 0.1, "max": 10.0},
}


def bench(spec: DistributionSpec, n: int) -> float:
    """Mean ns per draw over ``n`` draws (including the block refills)."""
    sampler = make_sampler(spec, stream(1, "bench"))
    draw = sampler.draw
    t0 = time.perf_counter_ns()
    for _ in range(n):
        draw()
    return (time.perf_counter_ns() - t0) / n


def baseline(n: int) -> float:
    """Cost of the empty loop, ns per iteration."""
    t0 = time.perf_counter_ns()
    for _ in range(n):
        pass
    return (time.perf_counter_ns() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n_draws", nargs="?", type=int, default=2_000_000, help="draws per kind")
    n = ap.parse_args().n_draws
    if n <= 0:
        ap.error(f"n_draws must be a positive number of draws, not {n}")
    print(f"{'kind':<18} {'ns/draw':>8}  (empty loop {baseline(n):.1f} ns, {n} draws)")
    for name, raw in SPECS.items():
        spec = raw if isinstance(raw, float) else parse_spec(raw)
        print(f"{name:<18} {bench(spec, n):8.1f}")


if __name__ == "__main__":
    main()

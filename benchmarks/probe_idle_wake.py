"""Probe what an idle vCPU costs Apache's next request: paced keep-alive clients at low rates.

``measure`` (root, apache2 + mod_lua, as ``campaigns.py``): a fresh Apache per point, with the
campaigns' set-up (Apache pinned to CPU 1 at nice -20, the load on CPU 0, mod_lua loaded, the
seed blocks), ``mpmsim bench --tool kaclient`` with C keep-alive clients at R requests a second
each (5 s warm-up, then 10 s measured), for every MPM, client count and rate given. The rows go
to ``OUT/runs.csv`` in the campaigns' columns, the tool's output and httpd.conf to ``OUT/raw``.

``fit``: the hardware's ``idle_wake`` from such rows. Each row is simulated with the cost model
and the hardware minus its ``idle_wake`` (what a request costs on a CPU that never rests); the
rest of the measured CPU per request is the wake-up's. A row's idle spell is taken as its mean,
(1 - Apache's CPU share) / its rate, and ``wake_us + cold_us_per_idle_ms x spell`` (at most
``cold_max_us``) is fitted to those rests by least squares on the relative error of the CPU per
request, over a grid (``halt_after_us`` given: the rows' spells are all longer than it).

    python benchmarks/probe_idle_wake.py measure --mpm prefork,event --clients 50 \\
        --rates 2,10,40,100 --out measurements/shared-machine/idle-wake
    python benchmarks/probe_idle_wake.py fit measurements/shared-machine/idle-wake/runs.csv
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import campaigns  # noqa: E402

from mpmsim.bench.measure import write_rows  # noqa: E402
from mpmsim.workloads.readers import read_measurements  # noqa: E402


@dataclass(frozen=True)
class Rest:
    """One row: its rate, its mean idle spell, measured and never-resting CPU per request."""

    run_id: str
    req_per_s: float
    idle_ms: float
    cpu_ms: float
    base_ms: float


def points(
    mpms: Sequence[str], clients: Sequence[int], rates: Sequence[float]
) -> list[campaigns.Point]:
    """The paced points to measure, MPM-major, then clients, then rate."""
    return [
        campaigns.Point(
            "idle-wake",
            mpm,
            i,
            c,
            tool="kaclient",
            keepalive=True,
            rate=rate,
            tag=f"r{rate:g}",
            warmup_s=5,
            duration_s=10,
        )
        for mpm in mpms
        for c in clients
        for i, rate in enumerate(rates)
    ]


def measure(pts: Sequence[campaigns.Point], out: Path) -> None:
    """Each point once on a fresh server; ``out/runs.csv`` rewritten after each."""
    os.sched_setaffinity(0, {campaigns.CLIENT_CPU})
    os.setpriority(os.PRIO_PROCESS, 0, -20)
    group = Path("/proc/self/autogroup")
    before = group.read_text().split()[-1] if group.exists() else None
    campaigns.boost(None)
    setup = replace(campaigns.STRICT, lua_always=True)
    rows: list[dict[str, object]] = []
    try:
        for point in pts:
            # run_point files the raw outputs under out/<campaign>/raw
            row = campaigns.run_point(point, 1, out.parent, campaigns.LUA_ITERATIONS, setup)
            rows.append(row)
            print(f"{point.mpm} c={point.c} rate {point.rate:g}: {row['req_per_s']} req/s, "
                  f"{row['apache_cpu_ms_per_req']} ms of CPU a request", flush=True)  # fmt: skip
            write_rows(rows, out / "runs.csv", overwrite=True)
    finally:  # the shell's session group outlives this process: give it its nice back
        if before is not None:
            group.write_text(before)


def fit(rests: Sequence[Rest], halt_after_us: float) -> tuple[float, float, float, float]:
    """(wake_us, cold_us_per_idle_ms, cold_max_us, RMS relative error) over a grid."""
    idle = np.array([r.idle_ms for r in rests])
    cpu = np.array([r.cpu_ms for r in rests])
    base = np.array([r.base_ms for r in rests])
    polled = idle * 1000.0 <= halt_after_us
    best = (math.inf, 0.0, 0.0, 0.0)
    for wake in np.arange(0.0, 100.5, 2.0):
        for per_ms in np.arange(0.0, 60.5, 1.0):
            extra_us = wake + per_ms * idle
            for cap in np.arange(100.0, 500.5, 10.0):
                pred = base + np.where(polled, 0.0, np.minimum(extra_us, cap)) / 1000.0
                sq = float(np.sum(((pred - cpu) / cpu) ** 2))
                if sq < best[0]:
                    best = (sq, float(wake), float(per_ms), float(cap))
    sq, wake, per_ms, cap = best
    return wake, per_ms, cap, math.sqrt(sq / len(rests))


def rests(runs_csv: Path) -> list[Rest]:
    """The rows of ``runs_csv`` with their CPU per request on a CPU that never rests."""
    from mpmsim.calibration.check import row_seed
    from mpmsim.calibration.measured import Setup, scenario_for
    from mpmsim.engine.replication import run_replication
    from mpmsim.engine.summary import summarize
    from mpmsim.models.costs import load_costs
    from mpmsim.models.hardware import load_hardware
    from mpmsim.spec.reading import load_scenario_data
    from mpmsim.spec.resolve import prepare

    costs = load_costs("bench-1core")
    hardware = load_hardware("bench-1core").without_idle_wake()
    setup = Setup(hardware, float(costs.calibration["network_rtt_ms"]))
    out = []
    for run in read_measurements(runs_csv):
        measured = run.apache_cpu_ms_per_req
        if measured is None or not run.req_per_s:
            continue  # a row without Apache's CPU tells nothing here
        data = scenario_for(run, costs, setup, row_seed(1, run.run_id))
        prep = prepare(load_scenario_data(data, source=run.run_id))
        rec = summarize(prep, run_replication(prep, 0))
        share = run.apache_cpu_util or 0.0
        idle_ms = (1.0 - min(share, 1.0)) / run.req_per_s * 1000.0
        out.append(Rest(run.run_id, run.req_per_s, idle_ms, float(measured),
                        float(rec["cpu_ms_per_request"])))  # fmt: skip
    return out


def _csv(text: str, kind: type) -> list:  # type: ignore[type-arg]
    return [kind(x) for x in text.split(",") if x]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="probe", required=True)
    m = sub.add_parser("measure", help="measure paced rows on a real Apache")
    m.add_argument("--mpm", default="prefork,event")
    m.add_argument("--clients", default="50", help="keep-alive clients, comma-separated")
    m.add_argument("--rates", default="2,10,40,100", help="requests a second per client")
    m.add_argument("--out", type=Path, default=ROOT / "measurements/shared-machine/idle-wake")
    f = sub.add_parser("fit", help="fit the hardware's idle_wake to measured rows")
    f.add_argument("runs", type=Path)
    f.add_argument("--halt-after-us", type=float, default=100.0)
    args = ap.parse_args(argv)
    if args.probe == "measure":
        if os.geteuid() != 0:
            print("probe_idle_wake: error: needs root (nice -n -20)", file=sys.stderr)
            return 2
        measure(points(_csv(args.mpm, str), _csv(args.clients, int), _csv(args.rates, float)),
                args.out)  # fmt: skip
        return 0
    found = rests(args.runs)
    wake, per_ms, cap, rms = fit(found, args.halt_after_us)
    for r in found:
        print(
            f"{r.run_id}: {r.req_per_s:g} req/s, idle spell {r.idle_ms:.3f} ms, CPU "
            f"{r.cpu_ms:.4f} ms a request, {r.base_ms:.4f} on a CPU that never rests"
        )
    print(
        f"idle_wake: halt_after_us {args.halt_after_us:g}, wake_us {wake:g}, "
        f"cold_us_per_idle_ms {per_ms:g}, cold_max_us {cap:g} (RMS {100 * rms:.1f} %)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

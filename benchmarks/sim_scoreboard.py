"""The simulated parent's view at each maintenance pass, for measured rows: the model's side of
``probe_children.py scoreboard``.

Apache's parent forks or stops children once a second from its count of idle workers
(``perform_idle_server_maintenance``): idle children under prefork; under worker and event the
idle threads of the children that are not stopping and, under event, that still accept
(``not_accepting``, event.c l.2954). Whether a saturated server forks to its limit turns on
that count (issue 10's warm steady state). For each row of the measurement CSVs whose run id
contains ``--run``, simulate it as ``bench_fidelity.py --predict-with COSTS`` does and read,
just before each maintenance pass (every whole second of simulated time):

* ``procs``: Apache's processes, the live children and the parent;
* ``disabled``: children that stopped accepting (event's listening sockets off; 0 under prefork
  and worker, whose full children wait for an idle worker and still count);
* ``idle``: the count the parent compares with its spare settings (``MPMModel.parent_idle``);
* ``idle_sb``: idle workers on the scoreboard, every ready child's (what mod_status shows);
* ``busy``: workers held by a connection; ``conns``: open connections; ``lingering``: of them,
  event's in lingering close; ``backlog``: connections waiting in the accept queue.

It prints a line per pass (``--passes``) and, over the passes in the measured window (or over
scans every ``--every`` seconds, e.g. 0.001: what ``probe_children.py listener`` reads of the
children not accepting at an instant), the p10 / median / p90 / max of each and the share whose
idle count is under MinSpareServers (prefork) or MinSpareThreads (worker, event), below which
the parent forks at a pass; beside them the row's measured peak processes and its mid-run
mod_status reading (BusyWorkers / IdleWorkers), where it has one. The real scoreboard sampled
ten times a second: measurements/shared-machine/README.md, "Where a warm prefork server's
processes are". Needs no Apache.

    python benchmarks/sim_scoreboard.py measurements/shared-machine/lua/warm-steady/runs.csv \\
        --run event-ab-c50-ka0-r1 --passes
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Generator

import numpy as np
import sim_rows
import simpy

from mpmsim.calibration.measured import Setup, figures, observed, replicate
from mpmsim.engine.replication import World
from mpmsim.engine.server import Server
from mpmsim.engine.summary import measured_window
from mpmsim.errors import InputError
from mpmsim.models.costs import CostModel
from mpmsim.models.mpm.base import READY
from mpmsim.workloads.readers import MeasuredRun

#: What each pass reads, in print order.
FIELDS = ("procs", "disabled", "idle", "idle_sb", "busy", "conns", "lingering", "backlog")
#: How long before the parent's pass the scan reads (s): after every event of the second before,
#: and before the pass itself (which the server's maintenance loop runs at the whole second).
BEFORE_PASS_S = 1e-9


def scan(server: Server) -> dict[str, int]:
    """What the parent's next maintenance pass will see on ``server`` (see the module doc)."""
    live = [c for c in server.children if c.alive]
    ready = [c for c in live if c.state == READY]
    disables = server.model.listener_disables
    return {
        "procs": len(live) + 1,
        "disabled": sum(1 for c in ready if c.not_accepting) if disables else 0,
        "idle": server.model.parent_idle(live),
        "idle_sb": sum(c.idle_on_scoreboard for c in ready),
        "busy": server.busy,
        "conns": server.conns_open,
        "lingering": sum(c.lingering for c in live),
        "backlog": len(server.accept_queue),
    }


def _scans(
    env: simpy.Environment, server: Server, out: list[dict[str, float]], every_s: float
) -> Generator[simpy.Event, None, None]:
    """Append a :func:`scan` just before each multiple of ``every_s`` (``t_s``: that time;
    ``pass``: 1.0 where it is a whole second, the parent's pass, else 0.0)."""
    k = 1
    while True:
        t = k * every_s
        yield env.timeout(max(t - BEFORE_PASS_S - env.now, 0.0))
        whole = abs(t - round(t)) < 1e-9
        out.append({"t_s": t, "pass": 1.0 if whole else 0.0, **scan(server)})
        k += 1


def row_scans(
    run: MeasuredRun, costs: CostModel, setup: Setup, seed: int, every_s: float = 1.0
) -> tuple[dict[str, float], list[dict[str, float]], tuple[float, float], int]:
    """The simulated figures of ``run`` (:func:`mpmsim.calibration.measured.figures`), the
    scans every ``every_s`` (before each maintenance pass at 1.0), the measured window (start,
    end, s) and the spare setting the parent forks below."""
    passes: list[dict[str, float]] = []
    spare: list[int] = []

    def observe(world: World) -> None:
        server = world.server
        d = server.directives
        spare.append(d.MinSpareThreads if server.model.threaded else d.MinSpareServers)
        world.env.process(_scans(world.env, server, passes, every_s))

    prep, rep = replicate(run, costs, setup, seed, observe=observe)
    window = measured_window(prep, rep)
    return figures(prep, rep), passes, (window.start_s, window.end_s), spare[0]


def summary(
    passes: list[dict[str, float]], window: tuple[float, float], spare: int
) -> dict[str, float]:
    """Over the scans inside ``window``: ``scans``, each field's p10 / p50 / p90 / max
    (``<field>_p10`` ...) and ``under_spare_share``, the share whose idle count is under
    ``spare``. Empty when no scan falls in the window."""
    inside = [p for p in passes if window[0] <= p["t_s"] <= window[1]]
    if not inside:
        return {}
    out: dict[str, float] = {"scans": float(len(inside))}
    for name in FIELDS:
        values = np.asarray([p[name] for p in inside], dtype=float)
        p10, p50, p90 = np.percentile(values, (10, 50, 90))
        out |= {f"{name}_p10": p10, f"{name}_p50": p50, f"{name}_p90": p90}
        out[f"{name}_max"] = float(values.max())
    out["under_spare_share"] = sum(1 for p in inside if p["idle"] < spare) / len(inside)
    return out


def render(
    run: MeasuredRun,
    sim: dict[str, float],
    passes: list[dict[str, float]],
    window: tuple[float, float],
    spare: int,
    *,
    every_pass: bool,
    every_s: float = 1.0,
) -> str:
    """The row's figures, its passes (if ``every_pass``) and the summary of its scans (every
    ``every_s``) over the window."""
    meas = observed(run)
    busy, idle = run.extra.get("status_busy", ""), run.extra.get("status_idle", "")
    status = f"; mid-run mod_status busy {busy} / idle {idle}" if busy and idle else ""
    out = [
        f"{run.run_id}: req/s {meas['req_per_s']:,.0f} measured, {sim['req_per_s']:,.0f} "
        f"simulated; p95 {meas['lat_p95_ms']:.2f} / {sim['lat_p95_ms']:.2f} ms; peak processes "
        f"{meas['peak_procs']:.0f} / {sim['peak_procs']:.0f}{status}"
    ]
    if every_pass:
        out.append("  t_s " + " ".join(f"{name:>9s}" for name in FIELDS))
        for p in (p for p in passes if p["pass"]):
            out.append(f"  {p['t_s']:3.0f} " + " ".join(f"{p[name]:9.0f}" for name in FIELDS))
    stats = summary(passes, window, spare)
    if not stats:
        out.append(f"  no scan in the measured window {window[0]:.1f}-{window[1]:.1f} s")
        return "\n".join(out)
    scans = "passes" if every_s == 1.0 else f"scans (every {every_s:g} s)"
    out.append(
        f"  {stats['scans']:.0f} {scans} in the measured window {window[0]:.1f}-{window[1]:.1f} s"
        f", p10 / median / p90 / max; idle under {spare} (the parent forks) in "
        f"{100 * stats['under_spare_share']:.0f} % of them"
    )
    for name in FIELDS:
        figures = " / ".join(f"{stats[f'{name}_{q}']:.0f}" for q in ("p10", "p50", "p90", "max"))
        out.append(f"  {name:9s} {figures}")
    return "\n".join(out)


def _show(row: sim_rows.Row) -> str:
    every = row.args.every
    if every <= 0.0 or abs(1.0 / every - round(1.0 / every)) > 1e-9:
        raise InputError(f"--every {every:g}: a positive divisor of 1 s (1, 0.5, 0.1, 0.001 ...)")
    sim, passes, window, spare = row_scans(row.run, row.costs, row.setup, row.seed, every)
    return render(row.run, sim, passes, window, spare, every_pass=row.args.passes, every_s=every)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sim_rows.add_arguments(ap)
    ap.add_argument("--passes", action="store_true", help="also print every pass's scan")
    ap.add_argument(
        "--every",
        type=float,
        default=1.0,
        help="scan every this many seconds (a divisor of 1: 0.001 reads the children not "
        "accepting at an instant, as probe_children.py listener does); the summary covers them",
    )
    return sim_rows.main_over_rows("sim_scoreboard", ap, argv, _show)


if __name__ == "__main__":
    sys.exit(main())

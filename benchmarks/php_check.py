"""How well the simulator reproduces measurements/php, with the PHP priors and with the figures
the measurements imply.

The PHP fields of the cost model are not fitted by ``mpmsim calibrate`` yet (its linear fits
know Apache's fields only). This check derives them the way such a fit would, from the rows and
memory.csv, with the simulator accounting for Apache's own share:

* CPU: every row at c >= 10 is simulated with ``php_request_cpu_ms`` and
  ``fastcgi_handoff_cpu_ms`` at 0; the mean of measured minus simulated CPU per request over the
  mod_php rows is ``php_request_cpu_ms``, over the FPM rows less that, ``fastcgi_handoff_cpu_ms``
  (c = 1 rows carry idle wake-ups the model has no mechanism for, as in the shared data);
* memory: the rows' idle and peak PSS readings against their process counts (Apache's for
  mod_php, less Apache's own parent + shared and per-child figures; the FPM pool's), as
  calibrate's memory fit does for Apache; the growth per request from memory.csv's one-process
  series (plain script).

Then every row is simulated with the base model (priors) and with the derived figures, and the
mean absolute percentage errors are printed per set-up and metric. Base: bench-1core.

    python benchmarks/php_check.py measurements/php [--jobs 2] \\
        [--out models/costs/php-8.2-1core.yaml]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from php_tables import markdown

from mpmsim.calibration.measured import METRICS, estimate_rtt_ms, observed, simulate_row
from mpmsim.models.costs import CostModel, load_costs
from mpmsim.models.hardware import load_hardware
from mpmsim.workloads.readers import MeasuredRun, read_measurements

BASE = "bench-1core"
NAME = "php-8.2-1core"
MIB_PER_KB = 1 / 1024


def simulate_all(
    runs: Sequence[MeasuredRun], costs: CostModel, rtt: float, jobs: int
) -> list[dict[str, float]]:
    """Each row simulated with ``costs`` (in ``jobs`` processes)."""
    hardware = load_hardware(BASE).model_dump(exclude={"sources"})
    data = costs.model_dump(exclude={"justification", "uncertainty", "calibration"})
    with ProcessPoolExecutor(jobs) as pool:
        return list(pool.map(simulate_row, [(r, data, hardware, rtt) for r in runs]))


Figures = dict[str, tuple[float, float]]
"""Field -> (value, standard error)."""


def cpu_figures(runs: Sequence[MeasuredRun], base: CostModel, rtt: float, jobs: int) -> Figures:
    """php_request_cpu_ms and fastcgi_handoff_cpu_ms from the rows at c >= 10."""
    used = [r for r in runs if r.concurrency >= 10]
    zero = base.model_copy(update={"php_request_cpu_ms": 0.0, "fastcgi_handoff_cpu_ms": 0.0})
    sims = simulate_all(used, zero, rtt, jobs)
    gap: dict[str, list[float]] = {"modphp": [], "fpm": []}
    for run, sim in zip(used, sims, strict=True):
        gap[run.extra["php"]].append(observed(run)["cpu_ms_per_req"] - sim["cpu_ms_per_req"])
    mean = {php: float(np.mean(g)) for php, g in gap.items()}
    se = {php: float(np.std(g, ddof=1) / np.sqrt(len(g))) for php, g in gap.items()}
    return {
        "php_request_cpu_ms": (mean["modphp"], se["modphp"]),
        "fastcgi_handoff_cpu_ms": (mean["fpm"] - mean["modphp"], math.hypot(*se.values())),
    }


def _line(x: pd.Series, y: pd.Series) -> tuple[tuple[float, float], tuple[float, float]]:
    """Least squares y = a + b x, NaN dropped: ((b, its se), (a, its se))."""
    ok = x.notna() & y.notna()
    (b, a), cov = np.polyfit(x[ok].astype(float), y[ok].astype(float), 1, cov=True)
    return (float(b), float(np.sqrt(cov[0, 0]))), (float(a), float(np.sqrt(cov[1, 1])))


def _readings(runs: pd.DataFrame, prefix: str) -> tuple[pd.Series, pd.Series]:
    """(processes - 1, PSS MiB) of every row's idle and peak readings (``prefix``: "" or "fpm_")."""
    procs = pd.concat([runs[f"{prefix}idle_procs"], runs[f"{prefix}peak_procs"]])
    pss = pd.concat([runs[f"{prefix}idle_pss_mb"], runs[f"{prefix}peak_pss_mb"]])
    return procs - 1.0, pss


def memory_figures(runs: pd.DataFrame, memory: pd.DataFrame, base: CostModel) -> Figures:
    """The PHP memory fields.

    The rows' idle and peak readings as PSS = first + per-child x (processes - 1), like
    calibrate's memory fit: for mod_php, Apache's parent + shared and per-child figures are
    taken off; for FPM the line is the master and its children. Growth per request: the slope
    of memory.csv's one-process series (plain script).
    """
    mod = runs[runs["php"] == "modphp"]
    fpm = runs[runs["php"] == "fpm"]
    (mod_child, mod_child_se), (mod_first, mod_first_se) = _line(*_readings(mod, ""))
    (fpm_child, fpm_child_se), (fpm_first, fpm_first_se) = _line(*_readings(fpm, "fpm_"))
    growth = memory[(memory["series"] == "growth") & (memory["script_mem_kb"] == 0)]
    grow = {
        php: _line(part["php_requests"], part["private_kb"] * MIB_PER_KB)[0]
        for php, part in growth.groupby("php")
    }
    return {
        "modphp_shared_mib": (mod_first - base.parent_mib - base.shared_mib, mod_first_se),
        "modphp_child_mib": (mod_child - base.process_mib, mod_child_se),
        "modphp_child_growth_mib": (max(grow["modphp"][0], 0.0), grow["modphp"][1]),
        "fpm_master_mib": (fpm_first, fpm_first_se),
        "fpm_child_mib": (fpm_child, fpm_child_se),
        "fpm_child_growth_mib": (max(grow["fpm"][0], 0.0), grow["fpm"][1]),
    }


def errors(runs: Sequence[MeasuredRun], sims: Sequence[dict[str, float]]) -> pd.DataFrame:
    """Mean absolute percentage error per set-up and metric."""
    rows: list[dict[str, Any]] = []
    for run, sim in zip(runs, sims, strict=True):
        seen = observed(run)
        for metric in METRICS:
            if np.isfinite(seen[metric]) and seen[metric] > 0:
                err = abs(sim[metric] - seen[metric]) / seen[metric] * 100
                rows.append({"setup": _setup(run), "metric": metric, "error": err})
    frame = pd.DataFrame(rows)
    return frame.pivot_table(index="setup", columns="metric", values="error", aggfunc="mean")


def _setup(run: MeasuredRun) -> str:
    if run.extra["php"] == "modphp":
        return "modphp"
    return f"fpm{run.extra['pm_max_children']}"


def _sig(x: float) -> float:
    """``x`` to 4 significant digits."""
    return float(f"{x:.4g}")


JUSTIFICATION = {
    "php_request_cpu_ms": "measurements/php: mean over the {n_mod} mod_php rows at c >= 10 of the "
    "measured CPU per request (Apache's, exact from schedstat) less the simulated one with this "
    "field and fastcgi_handoff_cpu_ms at 0 (the script's cpu_ms and Apache's own costs are the "
    "model's)",
    "fastcgi_handoff_cpu_ms": "measurements/php: the same gap over the {n_fpm} PHP-FPM rows at "
    "c >= 10 (Apache's and the FPM pool's exact CPU), less php_request_cpu_ms",
    "modphp_shared_mib": "measurements/php: the mod_php rows' idle and peak PSS of Apache against "
    "its processes, least squares; the line's one-process value less {base}'s parent_mib + "
    "shared_mib",
    "modphp_child_mib": "measurements/php: that line's slope less {base}'s process_mib",
    "modphp_child_growth_mib": "measurements/php/memory.csv: one mod_php child's private memory "
    "after 1 ... 3,000 requests of burn.php, slope; it steps up ~0.2 MiB once between the 100th "
    "and 1,000th request and stays (not linear)",
    "fpm_master_mib": "measurements/php: the FPM rows' idle and peak PSS of the master and its "
    "children against their count (pm static 5 and 200), least squares; the one-process value",
    "fpm_child_mib": "measurements/php: that line's slope",
    "fpm_child_growth_mib": "as modphp_child_growth_mib, for one FPM child",
}


def cost_model(base: CostModel, figures: Figures, calibration: dict[str, Any]) -> CostModel:
    """``base`` with the PHP figures, their sources and standard errors."""
    n_mod, n_fpm = calibration["rows_cpu"]["modphp"], calibration["rows_cpu"]["fpm"]
    return base.model_copy(
        update={
            "name": NAME,
            "description": f"{BASE} (Apache's figures) with PHP 8.2's derived from real "
            "prefork + mod_php and event + PHP-FPM runs (measurements/php) by "
            "benchmarks/php_check.py",
            **{k: _sig(v) for k, (v, _) in figures.items()},
            "justification": {
                **base.justification,
                **{
                    k: JUSTIFICATION[k].format(n_mod=n_mod, n_fpm=n_fpm, base=BASE) for k in figures
                },
            },
            "uncertainty": {
                **base.uncertainty,
                **{k: _sig(se) for k, (_, se) in figures.items()},
            },
            "calibration": calibration,
        }
    )


def write_yaml(costs: CostModel, path: Path) -> None:
    header = (
        f"# {costs.name}: {BASE}'s Apache figures with PHP 8.2's from measurements/php,\n"
        "# written by benchmarks/php_check.py (mpmsim calibrate does not fit the PHP fields yet).\n"
        "# `uncertainty` holds standard errors; `calibration` the rows and the errors.\n"
    )
    body = yaml.safe_dump(costs.model_dump(mode="json"), sort_keys=False, width=100)
    path.write_text(header + body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, help="write the cost model YAML here")
    args = parser.parse_args()
    runs = read_measurements(args.folder / "runs.csv")
    base = load_costs(BASE)
    rtt = estimate_rtt_ms(runs)
    frame = pd.read_csv(args.folder / "runs.csv")
    figures = {
        **cpu_figures(runs, base, rtt, args.jobs),
        **memory_figures(frame, pd.read_csv(args.folder / "memory.csv"), base),
    }
    print(f"round trip {rtt:.4f} ms; derived figures +- se ({BASE}'s priors in brackets):")
    for key, (value, se) in figures.items():
        print(f"  {key}: {value:.6g} +- {se:.2g} ({getattr(base, key)})")
    derived = base.model_copy(update={k: v for k, (v, _) in figures.items()})
    mape = {}
    for label, costs in (("priors", base), ("derived", derived)):
        table = errors(runs, simulate_all(runs, costs, rtt, args.jobs))
        mape[label] = {s: {m: round(float(v), 2) for m, v in row.items()}
                       for s, row in table.iterrows()}  # fmt: skip
        print(f"\nMAPE % with the {label}:\n" + markdown(table.round(1).reset_index()))
    if args.out:
        used = [r for r in runs if r.concurrency >= 10]
        calibration = {
            "sources": ["measurements/php/runs.csv", "measurements/php/memory.csv"],
            "hardware": BASE, "base": BASE, "method": "benchmarks/php_check.py",
            "rows": len(runs), "network_rtt_ms": round(rtt, 4),
            "rows_cpu": {p: sum(r.extra["php"] == p for r in used) for p in ("modphp", "fpm")},
            "mape_percent": mape["derived"], "mape_percent_with_priors": mape["priors"],
        }  # fmt: skip
        write_yaml(cost_model(base, figures, calibration), args.out)
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

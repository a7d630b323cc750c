"""The PHP fields of a cost model, fitted to PHP rows (``mpmsim calibrate``, measurements/php).

A PHP row (``php`` column ``modphp`` or ``fpm``) runs a script of known CPU (``script_cpu_ms``)
in mod_php or in a PHP-FPM pool. Three linear fits, by
:func:`~mpmsim.calibration.linear.robust_linear` like Apache's, with Apache's own terms taken as
the cost model has them:

* **CPU**: the server's exact CPU per request (``server_cpu_ms_per_req``: Apache's + FPM's)
  less the script's and less Apache's own (request, connection and switch CPU, as the MPM model
  charges them), against a column of 1 (``php_request_cpu_ms``, every PHP request) and one of
  ``php == fpm`` (``fastcgi_handoff_cpu_ms``). Rows at c > 1 with >= 1000 requests, as for Apache.
* **Memory**: a mod_php row's idle and peak PSS of Apache less Apache's own memory as the model
  charges it (processes, threads and, at the peak, a connection per busy worker), against 1
  (``modphp_shared_mib``) and processes - 1 (``modphp_child_mib``); an FPM row's pool PSS
  (``fpm_idle/peak_pss_mb``) against 1 (``fpm_master_mib``) and its processes - 1
  (``fpm_child_mib``).
* **Growth per request** (``*_child_growth_mib``): the slope of one process's private memory
  over its requests, from memory.csv's ``growth`` series (plain script); without that file the
  base's values are kept (the rows' static pools never recycle a child, so they cannot tell).

A field with no row to fit it keeps the base's value and a NaN standard error.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mpmsim.calibration.linear import robust_linear
from mpmsim.calibration.regressors import CPU_TERMS, cpu_regressors, peak_connections_mib
from mpmsim.calibration.wake_sim import wake_ms
from mpmsim.errors import InputError
from mpmsim.models.costs import CostModel
from mpmsim.workloads.readers import MeasuredRun

CPU_FIELDS = ("php_request_cpu_ms", "fastcgi_handoff_cpu_ms")
MODPHP_FIELDS = ("modphp_shared_mib", "modphp_child_mib")
FPM_FIELDS = ("fpm_master_mib", "fpm_child_mib")
GROWTH_FIELDS = {"modphp": "modphp_child_growth_mib", "fpm": "fpm_child_growth_mib"}
#: memory.csv's columns this module reads.
MEMORY_COLUMNS = ("php", "series", "php_requests", "script_mem_kb", "private_kb")


@dataclass
class PhpFit:
    """The fitted PHP fields, their standard errors, and each equation's rows and error."""

    values: dict[str, float] = field(default_factory=dict)
    stderr: dict[str, float] = field(default_factory=dict)
    rows_used: dict[str, int] = field(default_factory=dict)
    rms_rel_error: dict[str, float] = field(default_factory=dict)
    justification: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what was not fitted, and why


def is_php(run: MeasuredRun) -> bool:
    """Whether ``run`` ran PHP (measurements/php's ``php`` column)."""
    return bool(run.extra.get("php"))


def split_php(runs: Sequence[MeasuredRun]) -> tuple[list[MeasuredRun], list[MeasuredRun]]:
    """(rows without PHP, PHP rows)."""
    return [r for r in runs if not is_php(r)], [r for r in runs if is_php(r)]


def _num(run: MeasuredRun, column: str) -> float:
    try:
        return float(run.extra.get(column) or math.nan)
    except ValueError:
        return math.nan


def apache_own_cpu_ms(run: MeasuredRun, costs: CostModel, context_switch_us: float) -> float:
    """Apache's own CPU per request of ``run`` as the model charges it (not the handler's).

    The terms of :func:`~mpmsim.calibration.cpu_fit.fit_cpu` (its regressors,
    :func:`~mpmsim.calibration.regressors.cpu_regressors`) with ``costs``' values
    (:func:`kept_cpu`), plus the request CPU: accept + close per connection, the MPM's thread
    or process switches, the per-task and per-process terms and the connections that find the
    CPU idle.
    """
    values, _ = kept_cpu(costs, context_switch_us)
    terms = cpu_regressors(run, ())
    return costs.request_cpu_ms + sum(
        values[name] * x for name, x in zip(CPU_TERMS, terms, strict=True)
    )


def _solve(
    fit: PhpFit, names: Sequence[str], rows: list[list[float]], y: list[float],
    obs: list[float], start: Sequence[float],
) -> None:  # fmt: skip
    """Fit ``names`` (columns of ``rows``) to ``y``; unidentified columns are left out."""
    a, b, o = np.asarray(rows).reshape(-1, len(names)), np.asarray(y), np.asarray(obs)
    cols = [j for j in range(len(names)) if a.shape[0] and np.any(a[:, j])]
    if not cols or np.linalg.matrix_rank(a[:, cols]) < len(cols) or len(y) <= len(cols):
        return
    sub = [names[j] for j in cols]
    res = robust_linear(a[:, cols], b, o, np.asarray([start[j] for j in cols]), sub, len(y))
    fit.values.update(res.values)
    fit.stderr.update(res.stderr)
    fit.rows_used[sub[0]] = res.rows_used
    fit.rms_rel_error[sub[0]] = res.rms_rel_error


def fit_php_cpu(
    fit: PhpFit, runs: Sequence[MeasuredRun], costs: CostModel, context_switch_us: float,
    wake: Mapping[str, float] | None = None,
) -> None:  # fmt: skip
    """``php_request_cpu_ms`` and ``fastcgi_handoff_cpu_ms`` from the rows' exact CPU, less
    what ``wake`` says the simulator charges each row's idle wake-ups
    (:mod:`~mpmsim.calibration.wake_sim`: the simulator adds them itself)."""
    rows, y, obs = [], [], []
    for r in runs:
        cpu, script = _num(r, "server_cpu_ms_per_req"), _num(r, "script_cpu_ms")
        if math.isnan(cpu) or math.isnan(script) or r.concurrency <= 1:
            continue
        if r.requests_completed < 1000:
            continue
        rows.append([1.0, 1.0 if r.extra["php"] == "fpm" else 0.0])
        y.append(cpu - script - apache_own_cpu_ms(r, costs, context_switch_us) - wake_ms(wake, r))
        obs.append(cpu)
    start = [max(getattr(costs, n), 1e-3) for n in CPU_FIELDS]
    _solve(fit, CPU_FIELDS, rows, y, obs, start)
    if "php_request_cpu_ms" in fit.values:
        n_mod = sum(1 for row in rows if not row[1])
        fit.justification["php_request_cpu_ms"] = (
            f"mpmsim calibrate: {len(rows)} PHP rows ({n_mod} mod_php) at c > 1, the exact "
            "server CPU per request (server_cpu_ms_per_req) less the script's cpu_ms and "
            "Apache's own CPU as the model charges it"
            + (" and the idle wake-ups' CPU the simulator charges" if wake else "")
            + ", against 1 (every PHP request)"
        )
    if "fastcgi_handoff_cpu_ms" in fit.values:
        fit.justification["fastcgi_handoff_cpu_ms"] = (
            "mpmsim calibrate: as php_request_cpu_ms, the column of the PHP-FPM rows"
        )


def fit_php_memory(fit: PhpFit, runs: Sequence[MeasuredRun], costs: CostModel) -> None:
    """mod_php's shared and per-child memory, and the FPM master's and per-child memory."""
    base = costs.parent_mib + costs.shared_mib
    mod: tuple[list[list[float]], list[float], list[float]] = ([], [], [])
    fpm: tuple[list[list[float]], list[float], list[float]] = ([], [], [])
    for r in runs:
        for when in ("idle", "peak"):
            procs, threads = getattr(r, f"{when}_procs"), getattr(r, f"{when}_threads")
            pss = getattr(r, f"{when}_pss_mb")
            if r.extra["php"] == "modphp" and procs and threads and pss:
                own = base + costs.process_mib * (procs - 1) + costs.thread_mib * (threads - 1)
                if when == "peak":  # the model's connections, one a busy worker (not in PSS)
                    own += peak_connections_mib(r, costs.connection_kib)
                mod[0].append([1.0, procs - 1.0])
                mod[1].append(float(pss) - own)
                mod[2].append(float(pss))
            pool, pool_pss = _num(r, f"fpm_{when}_procs"), _num(r, f"fpm_{when}_pss_mb")
            if r.extra["php"] == "fpm" and pool > 0 and pool_pss > 0:
                fpm[0].append([1.0, pool - 1.0])
                fpm[1].append(pool_pss)
                fpm[2].append(pool_pss)
    _solve(fit, MODPHP_FIELDS, *mod, [max(getattr(costs, n), 1e-3) for n in MODPHP_FIELDS])
    _solve(fit, FPM_FIELDS, *fpm, [max(getattr(costs, n), 1e-3) for n in FPM_FIELDS])
    said = "mpmsim calibrate: the {what} rows' idle and peak PSS {of}, against 1 and {x} - 1"
    if "modphp_shared_mib" in fit.values:
        text = said.format(what="mod_php", of="of Apache less Apache's own memory", x="processes")
        fit.justification.update({n: text for n in MODPHP_FIELDS})
    if "fpm_master_mib" in fit.values:
        text = said.format(what="PHP-FPM", of="of the master and children", x="pool processes")
        fit.justification.update({n: text for n in FPM_FIELDS})


def read_growth(path: Path) -> dict[str, tuple[list[float], list[float]]]:
    """memory.csv's one-process ``growth`` series of the plain script: php -> (requests, MiB)."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in MEMORY_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"no column {missing[0]!r} (needs {', '.join(MEMORY_COLUMNS)})",
                                 file=str(path), field="--memory-csv")  # fmt: skip
            out: dict[str, tuple[list[float], list[float]]] = {}
            for line in reader:
                if line["series"] != "growth" or float(line["script_mem_kb"] or 0) != 0:
                    continue
                xs, ys = out.setdefault(line["php"], ([], []))
                xs.append(float(line["php_requests"]))
                ys.append(float(line["private_kb"]) / 1024.0)
    except OSError as exc:
        raise InputError(
            f"cannot read: {exc.strerror}", file=str(path), field="--memory-csv"
        ) from None
    except ValueError as exc:
        raise InputError(f"not a number: {exc}", file=str(path), field="--memory-csv") from None
    return out


def fit_php_growth(fit: PhpFit, path: Path | None) -> None:
    """``*_child_growth_mib``: least-squares slope of each set-up's series (>= 0)."""
    if path is None:
        fit.notes.append("*_child_growth_mib: the base's (no --memory-csv to fit them from)")
    series = read_growth(path) if path is not None else {}
    for php, name in GROWTH_FIELDS.items():
        xs, ys = series.get(php, ([], []))
        if len(set(xs)) < 3:
            continue
        (slope, _), cov = np.polyfit(np.asarray(xs), np.asarray(ys), 1, cov=True)
        fit.values[name] = max(float(slope), 0.0)
        fit.stderr[name] = float(math.sqrt(max(cov[0, 0], 0.0)))
        fit.rows_used[name] = len(xs)
        fit.justification[name] = (
            f"mpmsim calibrate: {path}: one {php} process's private memory after "
            f"{int(min(xs))} ... {int(max(xs))} requests of the plain script, least-squares slope"
        )


def fit_php(
    runs: Sequence[MeasuredRun], costs: CostModel, context_switch_us: float,
    memory_csv: Path | None = None, wake: Mapping[str, float] | None = None,
) -> PhpFit:  # fmt: skip
    """Fit every PHP field the PHP rows (and memory.csv) identify; ``costs`` gives Apache's,
    ``wake`` the rows' simulated idle wake-ups' CPU per request (wake_sim)."""
    fit = PhpFit()
    fit_php_cpu(fit, runs, costs, context_switch_us, wake)
    fit_php_memory(fit, runs, costs)
    fit_php_growth(fit, memory_csv)
    return fit


def with_php(costs: CostModel, fit: PhpFit) -> CostModel:
    """``costs`` with the fitted PHP fields, their standard errors and how they were fitted."""
    if not fit.values:
        return costs
    return costs.model_copy(
        update={
            **{k: float(f"{v:.4g}") for k, v in fit.values.items()},
            "uncertainty": {
                **costs.uncertainty,
                **{k: float(f"{s:.4g}") for k, s in fit.stderr.items()},
            },
            "justification": {**costs.justification, **fit.justification},
        }
    )


def kept_cpu(
    base: CostModel, context_switch_us: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Apache's CPU fit when no row without PHP is fitted: the base's values, kept
    (values, standard errors: NaN), as :func:`~mpmsim.calibration.cpu_fit.fit_cpu` names them."""
    values = {
        "conn_cpu_ms": base.accept_cpu_ms + base.close_cpu_ms,
        "switch_us": base.thread_switch_us + context_switch_us,
        "process_switch_total_us": base.process_switch_us + context_switch_us,
        "switch_us_per_task": base.switch_us_per_task,
        "switch_us_per_process": base.switch_us_per_process,
        "idle_connection_us": base.idle_connection_us,
        "fork_cpu_ms": base.fork_cpu_ms,
        "thread_create_cpu_ms": base.thread_create_cpu_ms,
    }
    return values, {k: math.nan for k in values}


def mape_by_setup(
    runs: Sequence[MeasuredRun], rows: Sequence[dict[str, Any]], metrics: Sequence[str]
) -> dict[str, dict[str, float | None]]:
    """Mean absolute percentage error per PHP set-up and metric, fitted and held-out rows
    together: ``php modphp``, ``php fpm<pm.max_children>`` (beside calibrate's ``fitted``)."""
    setup = {r.run_id: _setup(r) for r in runs if is_php(r)}
    errs: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        name = setup.get(row["run_id"])
        if name is None:
            continue
        for m in metrics:
            e = row[f"{m}_error"]
            if not math.isnan(e):
                errs.setdefault(name, {}).setdefault(m, []).append(abs(e))
    return {
        f"php {s}": {
            m: round(100.0 * float(np.mean(per[m])), 2) if per.get(m) else None for m in metrics
        }
        for s, per in sorted(errs.items())
    }


def _setup(run: MeasuredRun) -> str:
    if run.extra["php"] == "fpm":
        return f"fpm{run.extra.get('pm_max_children', '')}"
    return str(run.extra["php"])

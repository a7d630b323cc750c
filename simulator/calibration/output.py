"""Presenting a calibration: hold-out selection, the fit table, the YAML and the figure."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mpmsim.calibration.check import warning_agreement
from mpmsim.calibration.measured import METRICS
from mpmsim.calibration.result import Calibration
from mpmsim.calibration.shared_core import shared_core_lines
from mpmsim.errors import InputError
from mpmsim.workloads.readers import MeasuredRun

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "!=": operator.ne,
    "=": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
_HOLDOUT = re.compile(
    r"^\s*(?P<col>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>>=|<=|!=|=|>|<)\s*(?P<val>.+)$"
)


def holdout_mask(runs: Sequence[MeasuredRun], spec: str | None, seed: int = 1) -> list[bool]:
    """Which rows to keep out of the fit: ``COLUMN=VALUE[,VALUE]``, ``COLUMN>X`` ... or ``0.2``."""
    if not spec:
        return [False] * len(runs)
    try:
        frac = float(spec)
    except ValueError:
        frac = math.nan
    if not math.isnan(frac):
        if not 0.0 < frac < 1.0:
            raise InputError(f"a fraction must be between 0 and 1, got {spec}", field="--holdout")
        rng = np.random.default_rng(seed)
        n = max(1, round(frac * len(runs)))
        chosen = set(rng.choice(len(runs), size=n, replace=False).tolist())
        return [i in chosen for i in range(len(runs))]
    m = _HOLDOUT.match(spec)
    if not m:
        raise InputError(
            f"expected COLUMN=VALUE, COLUMN>NUMBER (or <, >=, <=, !=) or a fraction, got {spec!r}",
            field="--holdout",
        )
    col, op, raw = m["col"], m["op"], m["val"].strip()
    mask = []
    for run in runs:
        value = _column(run, col)
        if op in ("=", "!="):
            wanted = {v.strip() for v in raw.split(",")}
            hit = _text(value) in wanted
            mask.append(hit if op == "=" else not hit)
        else:
            try:
                mask.append(value is not None and _OPS[op](float(value), float(raw)))
            except (TypeError, ValueError):
                raise InputError(
                    f"{col} of {run.run_id} ({value!r}) is not a number", field="--holdout"
                ) from None
    if not any(mask) or all(mask):
        values = sorted({_text(_column(r, col)) for r in runs})
        shown = ", ".join(values[:12]) + (", ..." if len(values) > 12 else "")
        raise InputError(
            f"{spec!r} keeps {'no row' if not any(mask) else 'every row'} of {len(runs)} out of "
            f"the fit: {col} takes {shown}",
            field="--holdout",
        )
    return mask


def _column(run: MeasuredRun, col: str) -> Any:
    if hasattr(run, col):
        return getattr(run, col)
    if col in run.extra:
        return run.extra[col]
    raise InputError(f"no column {col!r} in the measurements", field="--holdout")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


UNEXPLAINED_SHOWN = 20
"""Rows the model does not explain listed in the text (the JSON has all)."""


def render(cal: Calibration, *, max_rows: int = 60) -> str:
    """The terminal report: parameters, MAPE per metric, rows, skipped and unexplained rows."""
    c = cal.costs
    unc = c.uncertainty
    lines = [f"cost model {c.name!r} fitted in {cal.seconds:.1f} s"]
    lines += [f"warning: {w}" for w in cal.warnings]
    params = [
        ("accept_cpu_ms + close_cpu_ms", c.accept_cpu_ms + c.close_cpu_ms,
         unc.get("accept_cpu_ms+close_cpu_ms")),
        ("thread_switch_us", c.thread_switch_us, unc.get("thread_switch_us")),
        ("parent_mib + shared_mib", c.parent_mib + c.shared_mib, unc.get("parent_mib+shared_mib")),
        ("process_mib", c.process_mib, unc.get("process_mib")),
        ("thread_mib", c.thread_mib, unc.get("thread_mib")),
        ("thread_used_kib", c.thread_used_kib, unc.get("thread_used_kib")),
        ("connection_kib", c.connection_kib, unc.get("connection_kib")),
        ("listener_connection_kib", c.listener_connection_kib,
         unc.get("listener_connection_kib")),
        ("switch_us_per_task", c.switch_us_per_task, unc.get("switch_us_per_task")),
        ("switch_us_per_process", c.switch_us_per_process, unc.get("switch_us_per_process")),
        ("idle_connection_us", c.idle_connection_us, unc.get("idle_connection_us")),
        ("kernel_us_per_request", c.kernel_us_per_request, unc.get("kernel_us_per_request")),
        ("kernel_us_per_connection", c.kernel_us_per_connection,
         unc.get("kernel_us_per_connection")),
        ("fork_cpu_ms", c.fork_cpu_ms, unc.get("fork_cpu_ms")),
        ("thread_create_cpu_ms", c.thread_create_cpu_ms, unc.get("thread_create_cpu_ms")),
    ]  # fmt: skip
    for name, cls in sorted(c.classes.items()):
        params.append((f"classes.{name}.cpu_ms", cls.cpu_ms, unc.get(f"classes.{name}.cpu_ms")))
    if cal.php_fit:  # the PHP fields the PHP rows (and --memory-csv) fitted
        params += [(n, getattr(c, n), unc.get(n)) for n in cal.php_fit.values]
    class_told: dict[str, str] = {}  # a class's memory: the rows of the class that told it
    for name, cls in sorted(c.classes.items()):
        for k in ("worker_kib", "child_kib"):
            if getattr(cls, k):
                param = f"classes.{name}.{k}"
                # absent: the fit did not choose it (its rows cannot tell it), the base's value
                params.append((param, getattr(cls, k), unc.get(param, math.nan)))
                class_told[param] = _told(cal.class_rows.get(name))
    for name, value, err in params:
        pm = f" ± {err:.4g}" if err is not None else ""
        note = class_told.get(name, "") if err is not None else ""
        if err is not None and math.isnan(err):  # not fitted: --keep, or the rows cannot tell it
            pm, note = " (kept: the base model's value)", ""
        lines.append(f"  {name:<32} {value:.5g}{pm}{note}")
    lines.append(
        f"  {'thread_exit_cpu_ms':<32} {c.thread_exit_cpu_ms:.5g} (not fitted: the base model's "
        "prior; a recycling row's children exit as often as they are forked, so its exits are "
        "taken out of its CPU before the start costs are fitted)"
    )
    rtt = cal.network_rtt_ms
    told = f"{rtt:.4f} ms" if rtt > 0 else "0 ms (no one-client row tells it: none assumed)"
    lines.append(f"  client round trip (from c=1 rows) {told}")
    if cal.idle_wake_ms:
        felt = [ms for ms in cal.idle_wake_ms.values() if ms >= 0.001]
        lines.append(
            f"  idle wake-ups (hardware idle_wake): {len(cal.idle_wake_ms)} rows whose vCPU idled"
            f" simulated, {len(felt)} with 0.001 ms or more per request"
            + (f" (at most {max(felt):.4f})" if felt else "")
            + ", taken off their measured CPU before the fit (the simulator charges them itself)"
        )
    tail = cal.tail_fit
    lines.append(
        f"  after_response_cpu_ms            {c.after_response_cpu_ms:.5g}"
        + (f" (by simulation: {tail.compared()})" if tail else " (kept: the base model's value)")
    )
    lines.extend(f"  {note}" for note in (cal.php_fit.notes if cal.php_fit else []))
    if cal.mape:
        if cal.replications > 1:
            lines.append(f"each row predicted by the mean of {cal.replications} simulations")
        lines.append("MAPE %      " + "  ".join(f"{m:>14}" for m in METRICS))
        for part, vals in cal.mape.items():
            cells = "  ".join(f"{'-' if vals[m] is None else vals[m]:>14}" for m in METRICS)
            lines.append(f"{part:<11} {cells}")
    warned = _warnings_line(cal.rows)
    if warned:
        lines.append(warned)
    if cal.rows:
        lines.append("")
        lines.append(
            f"{'run':<42} {'req/s meas':>11} {'pred':>9} {'err%':>6} {'p95 meas':>9} "
            f"{'pred':>7} {'cpu meas':>9} {'pred':>7} {'PSS meas':>9} {'pred':>7}"
        )
        for r in cal.rows[:max_rows]:
            mark = "*" if r["held_out"] else " "
            lines.append(
                f"{mark}{r['run_id']:<41} {_f(r['req_per_s_measured'])} "
                f"{_f(r['req_per_s_predicted'], 9)} {_pct(r['req_per_s_error'])} "
                f"{_f(r['lat_p95_ms_measured'], 9, 3)} {_f(r['lat_p95_ms_predicted'], 7, 3)} "
                f"{_f(r['cpu_ms_per_req_measured'], 9, 4)} "
                f"{_f(r['cpu_ms_per_req_predicted'], 7, 4)} "
                f"{_f(r['peak_pss_mb_measured'], 9, 1)} {_f(r['peak_pss_mb_predicted'], 7, 1)}"
            )
        if len(cal.rows) > max_rows:
            lines.append(f"... {len(cal.rows) - max_rows} more rows (--json has all; * = held out)")
    if cal.skipped:
        lines.append("")
        lines.append(f"rows not simulated (the simulator cannot reproduce their load): "
                     f"{len(cal.skipped)}")  # fmt: skip
        lines.extend(f"  row {s['run_id']}: {s['reason']}" for s in cal.skipped)
    if cal.shared_core:
        lines.append("")
        lines.extend(shared_core_lines(cal.shared_core))
    if cal.unexplained:
        lines.append("")
        lines.append(f"rows the model does not explain (a metric off by > 25 %): "
                     f"{len(cal.unexplained)}")  # fmt: skip
        for u in cal.unexplained[:UNEXPLAINED_SHOWN]:
            lines.append(f"  {u['run_id']}: {u['metric']} {u['error']:+.0f} %")
        if len(cal.unexplained) > UNEXPLAINED_SHOWN:
            more = len(cal.unexplained) - UNEXPLAINED_SHOWN
            lines.append(f"  ... {more} more (--json has all)")
    return "\n".join(lines)


def _told(rows: tuple[int, int, int] | None) -> str:
    """For a class's memory, the rows of the class it was fitted on (``(rows, fewest clients,
    most clients)``, None for none) and their clients."""
    if rows is None:
        return ""
    n, lo, hi = rows
    clients = f"{lo} client{'s' * (lo != 1)}" if lo == hi else f"{lo}-{hi} clients"
    alone = ": how it grows with requests at once is not told" if lo == hi else ""
    return f" (from {n} row{'s' * (n != 1)} of the class, at {clients}{alone})"


def _warnings_line(rows: Sequence[dict[str, Any]]) -> str | None:
    """How often the simulated parent logged the capacity warnings the runs' error logs hold
    (rows with the error-log columns only), per part; None without such rows."""
    parts = []
    for part, hold in (("fitted", False), ("held out", True)):
        w = warning_agreement([r for r in rows if r["held_out"] == hold])
        if w["rows"]:
            parts.append(f"{part} {w['same_pct']} % of {w['rows']}")
    if not parts:
        return None
    return (
        "capacity warnings (MaxRequestWorkers reached, near it, scoreboard full) logged as in "
        "the runs' error logs: " + ", ".join(parts)
    )


def _f(x: float, width: int = 11, digits: int = 0) -> str:
    return f"{'-':>{width}}" if x is None or math.isnan(x) else f"{x:>{width},.{digits}f}"


def _pct(x: float) -> str:
    return f"{'-':>6}" if math.isnan(x) else f"{100 * x:>+6.1f}"


def write_costs_yaml(
    cal: Calibration, path: Path, *, force: bool, command: str | None = None
) -> None:
    """Write the fitted cost model (usable as ``costs:`` in a scenario)."""
    if path.exists() and not force:
        raise InputError("exists; use --force to overwrite it", file=str(path), field="-o")
    data = cal.costs.model_dump(mode="json")
    header = (
        f"# Cost model fitted by mpmsim calibrate on {len(cal.rows) or '?'} measured runs.\n"
        "# `uncertainty` holds standard errors; `calibration` how well the model reproduced them.\n"
    ) + (f"# Made by: {command}\n" if command else "")
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, width=100), encoding="utf-8")


def write_plot(cal: Calibration, path: Path) -> None:
    """Predicted vs measured, one panel per metric (:func:`mpmsim.plot.calibration`), as a
    self-contained HTML file."""
    from mpmsim.plot import calibration

    calibration(cal).write_html(str(path), include_plotlyjs=True)

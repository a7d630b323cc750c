"""Per-class figures: each request class's throughput, latency and errors, like JMeter's labels.

Computed after the run from the recorder's numpy columns (the class index of every request is
recorded anyway), so the engine does no extra work per request. One replication's figures go
into its flat record under ``class.<name>.<field>`` (the whole-run record's field names), with
the ten batch throughputs (for a confidence interval from one replication) under ``batches``
and the latency's 1st to 99th percentiles under ``class_quantiles_ms``. A run aggregates them
over replications as it does the whole-run figures (:func:`classes_block`).

A request carries its class from the moment a worker reads it: a request that failed before
(refused at connect, timed out in the accept queue, reset on a kept connection the server
closed) has no class, and counts only in the whole run's errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mpmsim.engine.recorder import OK, STATUS_NAMES

PERCENTILES = (50, 90, 95, 99)
CDF_PERCENTS = tuple(range(1, 100))
"""The latency quantiles kept per class (percent), enough to draw its CDF."""
_ERRORS = tuple((name, code) for code, name in enumerate(STATUS_NAMES) if code != OK)
_LATENCY_FIELDS = ("mean", *(f"p{p}" for p in PERCENTILES))


def key(name: str, field: str) -> str:
    """The flat record's key of class ``name``'s ``field`` (``class.static.throughput_rps``)."""
    return f"class.{name}.{field}"


def summarize_classes(
    names: Sequence[str],
    req: dict[str, np.ndarray],
    in_window: np.ndarray,
    window_s: float,
    edges: np.ndarray | None,
) -> dict[str, Any]:
    """One replication's per-class record fields.

    ``in_window`` marks the requests that ended in the measured window (``window_s`` long);
    ``edges`` are the ten batches' boundaries (None for an empty window).
    """
    cls = req["class"][in_window]
    status = req["status"][in_window]
    t_end = req["t_end_s"][in_window]
    latency_ms = (t_end - req["t_start_s"][in_window]) * 1000.0
    ok = status == OK
    total_ok = int(ok.sum())
    rec: dict[str, Any] = {}
    batches: dict[str, list[float]] = {}
    quantiles: dict[str, list[float]] = {}
    for k, name in enumerate(names):
        mine = cls == k
        served = mine & ok
        completed = int(served.sum())
        rec[key(name, "completed")] = completed
        rec[key(name, "share")] = completed / total_ok if total_ok else math.nan
        rec[key(name, "throughput_rps")] = completed / window_s if window_s > 0 else 0.0
        for err, code in _ERRORS:
            rec[key(name, err)] = int((mine & (status == code)).sum())
        lat = latency_ms[served]
        rec.update(_latency(name, lat))
        quantiles[name] = (
            [float(v) for v in np.percentile(lat, CDF_PERCENTS)]
            if len(lat)
            else [math.nan] * len(CDF_PERCENTS)
        )
        if edges is not None:
            counts, _ = np.histogram(t_end[served], bins=edges)
            width = window_s / (len(edges) - 1)
            batches[key(name, "throughput_rps")] = [float(c / width) for c in counts]
    rec["batches"] = batches
    rec["class_quantiles_ms"] = quantiles
    return rec


def _latency(name: str, lat: np.ndarray) -> dict[str, float]:
    """Mean, percentiles and maximum of one class's measured latencies (NaN if none)."""
    if not len(lat):
        fields = ["latency_mean_ms", *(f"latency_p{p}_ms" for p in PERCENTILES), "latency_max_ms"]
        return {key(name, f): math.nan for f in fields}
    out = {key(name, "latency_mean_ms"): float(lat.mean())}
    for p, v in zip(PERCENTILES, np.percentile(lat, PERCENTILES), strict=True):
        out[key(name, f"latency_p{p}_ms")] = float(v)
    out[key(name, "latency_max_ms")] = float(lat.max())
    return out


Stat = Callable[[str], float | None]
Rounder = Callable[[float | None], float | None]


def classes_block(
    names: Sequence[str],
    weights: Sequence[float],
    records: Sequence[dict[str, Any]],
    mean: Callable[[str], float],
    ci: Stat,
    r: Rounder,
) -> dict[str, dict[str, Any]]:
    """The run JSON's ``classes``: per class, the replications' means and 95 % half-widths.

    ``mean`` and ``ci`` aggregate a record field as the whole run's figures are; ``r`` rounds
    for JSON. ``weight_share`` is the class's share of the mix by weight, ``share`` its share
    of the responses completed in the measured window.
    """
    total = float(sum(weights))
    out: dict[str, dict[str, Any]] = {}
    for name, weight in zip(names, weights, strict=True):
        latency: dict[str, Any] = {f: r(mean(key(name, _field(f)))) for f in _LATENCY_FIELDS}
        maxes = [x for rec in records if not math.isnan(x := rec[key(name, "latency_max_ms")])]
        latency["max"] = r(max(maxes)) if maxes else None
        latency["quantiles"] = _mean_quantiles(name, records, r)
        out[name] = {
            "weight_share": r(weight / total),
            "share": r(mean(key(name, "share"))),
            "completed": round(mean(key(name, "completed"))),
            "throughput_rps": r(mean(key(name, "throughput_rps"))),
            "throughput_rps_ci95": r(ci(key(name, "throughput_rps"))),
            "errors": {err: r(mean(key(name, err))) for err, _ in _ERRORS},
            "latency_ms": latency,
            "latency_ms_ci95": {f: r(ci(key(name, _field(f)))) for f in _LATENCY_FIELDS},
        }
    return out


def _field(stat: str) -> str:
    """``mean`` -> ``latency_mean_ms``, ``p95`` -> ``latency_p95_ms``."""
    return f"latency_{stat}_ms"


def _mean_quantiles(name: str, records: Sequence[dict[str, Any]], r: Rounder) -> list[float | None]:
    """The 1st to 99th latency percentiles, each averaged over the replications that have it.

    Averaging quantiles level by level (Vincentizing) keeps the shape of each replication's
    distribution, which pooling would blur when replications differ.
    """
    rows = np.array([rec["class_quantiles_ms"][name] for rec in records], dtype=float)
    out: list[float | None] = []
    for column in rows.T:
        finite = column[~np.isnan(column)]
        out.append(r(float(finite.mean())) if len(finite) else None)
    return out


def classes_rows(block: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per class from :func:`classes_block` (without the CDF quantiles)."""
    rows = []
    for name, c in block.items():
        row: dict[str, Any] = {"class": name}
        for field in ("weight_share", "share", "completed", "throughput_rps"):
            row[field] = c[field]
        row["throughput_rps_ci95"] = c["throughput_rps_ci95"]
        for stat in (*_LATENCY_FIELDS, "max"):
            row[f"latency_{stat}_ms"] = c["latency_ms"][stat]
        for stat in _LATENCY_FIELDS:
            row[f"latency_{stat}_ms_ci95"] = c["latency_ms_ci95"][stat]
        for err, _ in _ERRORS:
            row[err] = c["errors"][err]
        rows.append(row)
    return rows


def cdf_rows(block: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per class and percent: ``class``, ``percent`` (1-99), ``latency_ms``."""
    return [
        {"class": name, "percent": p, "latency_ms": v}
        for name, c in block.items()
        for p, v in zip(CDF_PERCENTS, c["latency_ms"]["quantiles"], strict=True)
    ]


__all__ = [
    "CDF_PERCENTS",
    "cdf_rows",
    "classes_block",
    "classes_rows",
    "key",
    "summarize_classes",
]

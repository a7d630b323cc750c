"""Run a scenario's replications and aggregate them into the result users read."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpmsim.engine.accept_queue import accept_queue_limit
from mpmsim.engine.backend_summary import backend_bottleneck, backends_block
from mpmsim.engine.bottleneck import Bottleneck, find_bottleneck
from mpmsim.engine.classes import cdf_rows, classes_block, classes_rows
from mpmsim.engine.recorder import SERIES_COLUMNS, STATUS_NAMES
from mpmsim.engine.replication import Replication, run_replication
from mpmsim.engine.summary import (
    PERCENTILES,
    ci95,
    empty_window_warnings,
    nan_mean,
    ramp_warnings,
    summarize,
)
from mpmsim.engine.theory import theory_block
from mpmsim.engine.trace_summary import trace_block
from mpmsim.spec.reading import load_scenario
from mpmsim.spec.resolve import Prepared, prepare
from mpmsim.spec.scenario import Scenario

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class RunResult:
    """A finished run: per-replication records, the aggregate, and the raw rows."""

    prepared: Prepared
    records: tuple[dict[str, Any], ...]
    replications: tuple[Replication, ...]

    # -- aggregate ----------------------------------------------------------------------------
    def mean(self, key: str) -> float:
        """Mean of a record field over replications (NaN-aware)."""
        return nan_mean([r[key] for r in self.records])

    def ci(self, key: str) -> float | None:
        """95 % confidence half-width of a field (batch means for one replication)."""
        if len(self.records) >= 2:
            return ci95([float(r[key]) for r in self.records])
        if key == "throughput_rps":
            return ci95(self.records[0]["batch_throughput"])
        batches = self.records[0].get("batches", {}).get(key)  # a class's throughput
        return ci95(batches) if batches is not None else None

    @property
    def bottleneck(self) -> Bottleneck:
        """The resource that limits throughput."""
        p = self.prepared
        d = p.directives
        agg = {k: self.mean(k) for k in _MEANS}
        agg["ram_exceeded"] = any(r["ram_exceeded"] for r in self.records)
        agg["memory_peak_mib"] = max(r["memory_peak_mib"] for r in self.records)
        for k in ("refused", "syn_drops", "oom_kills"):
            agg[k] = sum(r[k] for r in self.records)
        found = find_bottleneck(
            agg,
            mpm=p.mpm,
            max_request_workers=d.MaxRequestWorkers,
            backlog_limit=accept_queue_limit(d.ListenBacklog, p.scenario.server.somaxconn),
            vcpus=p.hardware.vcpus,
            baseline_fraction=_throttle_baseline(p),
        )
        return backend_bottleneck(p, self.records, found) if p.php.used else found

    def to_dict(self) -> dict[str, Any]:
        """The JSON result of ``mpmsim run --json`` (DESIGN.md section 5)."""
        p = self.prepared
        n = len(self.records)
        recs = self.records
        latency, latency_ci = self._latency()
        out: dict[str, Any] = {
            "scenario": p.scenario.name,
            "mpm": p.mpm,
            "hardware": p.hardware.name,
            "costs": p.costs.name,
            "seed": p.scenario.seed,
            "replications": n,
            "effective_directives": p.directives.as_dict(),
            "warnings": [*p.warnings, *empty_window_warnings(p, recs), *ramp_warnings(p, recs)],
            "throughput_rps": _r(self.mean("throughput_rps")),
            "throughput_rps_ci95": _r(self.ci("throughput_rps")),
            **self._offered(),
            "ci_method": "replications" if n >= 2 else "batch means (10 batches)",
            "completed": round(self.mean("completed")),
            "errors": {k: _r(self.mean(k)) for k in _errors(p)},
            "latency_ms": latency,
            "latency_ms_ci95": latency_ci,
            "memory_mib": {
                "peak": _r(max(r["memory_peak_mib"] for r in recs)),
                "mean": _r(self.mean("memory_mean_mib")),
                "limit": _r(recs[0]["memory_limit_mib"]),
            },
            "ram_exceeded": any(r["ram_exceeded"] for r in recs),
            "cpu_utilization": _r(self.mean("cpu_utilization")),
            "cpu_ms_per_request": _r(self.mean("cpu_ms_per_request")),
            "workers": {
                k.removesuffix("_peak") + "_peak": max(int(r[k]) for r in recs)
                for k in ("processes_peak", "threads_peak", "busy_peak", "keepalive_peak")
            },
            "bottleneck": self.bottleneck.as_dict(),
            "requests": {k: round(self.mean(k)) for k in _REQUEST_COUNTS},
            "warmup_s": _r(self.mean("warmup_s")),
            "error_log": self._error_log(),
            "sim": {
                "events": int(sum(r["events"] for r in recs)),
                "wall_s": _r(sum(r["wall_s"] for r in recs)),
                "simulated_s": _r(sum(r["simulated_s"] for r in recs)),
            },
        }
        out["classes"] = self.classes()
        out["theory"] = theory_block(p, self.mean)
        out.update(self._reference())
        if p.trace is not None:
            out["trace"] = trace_block(p, self.mean)
        if p.php.used:
            out["backends"] = backends_block(p, self.records)
        if p.hardware.burst is not None:
            out["cpu_credits"] = {
                "end": _r(self.mean("cpu_credits_end")),
                "surplus_used": _r(self.mean("cpu_surplus_credits")),
                "throttled_fraction": _r(self.mean("throttled_fraction")),
            }
        host = p.hardware.host_contention
        if host is not None:  # the assumption that widens the tails: say it beside them
            out["host_contention"] = {**host.model_dump(), "mean_speed": _r(host.mean_speed)}
        if p.hardware.idle_wake is not None:  # what a lightly loaded server's CPU rests on
            out["idle_wake"] = {
                **p.hardware.idle_wake.model_dump(),
                "cpu_ms_per_request": _r(self.mean("idle_wake_cpu_ms_per_request")),
            }
        return out

    def classes(self) -> dict[str, dict[str, Any]]:
        """Per request class: throughput, latency (with the 1st to 99th percentiles), errors.

        The JSON's ``classes`` (see :func:`mpmsim.engine.classes.classes_block`).
        """
        names = [c.name for c in self.prepared.classes]
        weights = [c.weight for c in self.prepared.classes]
        return classes_block(names, weights, self.records, self.mean, self.ci, _r)

    def _offered(self) -> dict[str, float | None]:
        """``{"offered_rps": ...}`` for an open load (requests of the sessions that arrived in
        the measured window, per second), else nothing."""
        if not all("offered_rps" in r for r in self.records):
            return {}
        return {"offered_rps": _r(self.mean("offered_rps"))}

    def _latency(self) -> tuple[dict[str, float | None], dict[str, float | None]]:
        """Latency figures (ms) averaged over replications, and their 95 % half-widths."""
        latency = {"mean": _r(self.mean("latency_mean_ms"))}
        latency_ci = {"mean": _r(self.ci("latency_mean_ms"))}
        for q in PERCENTILES:
            latency[f"p{q}"] = _r(self.mean(f"latency_p{q}_ms"))
            latency_ci[f"p{q}"] = _r(self.ci(f"latency_p{q}_ms"))
        maxes = [r["latency_max_ms"] for r in self.records if not math.isnan(r["latency_max_ms"])]
        latency["max"] = _r(max(maxes)) if maxes else None
        return latency, latency_ci

    def _error_log(self) -> list[dict[str, Any]]:
        """The first replication's error_log lines (the others repeat them with other times)."""
        return [
            {"t_s": _r(line.t_s), "code": line.code, "message": line.message, "count": line.count}
            for line in self.replications[0].error_log
        ]

    def _reference(self) -> dict[str, Any]:
        """``{"reference": ...}``: simulated throughput against the scenario's figure, if any."""
        ref = self.prepared.scenario.reference
        if ref is None:
            return {}
        err = 100.0 * (self.mean("throughput_rps") / ref.throughput_rps - 1.0)
        return {
            "reference": {
                "source": ref.source,
                "throughput_rps": ref.throughput_rps,
                "error_pct": round(err, 2),
                "tolerance_pct": ref.tolerance_pct,
                "within": abs(err) <= ref.tolerance_pct,
            }
        }

    # -- tables for notebooks -------------------------------------------------------------------
    def records_frame(self) -> pd.DataFrame:
        """One row per replication."""
        import pandas as pd

        rows = [{k: v for k, v in r.items() if k not in _NOT_FLAT} for r in self.records]
        return pd.DataFrame(rows)

    def classes_frame(self) -> pd.DataFrame:
        """One row per request class: the JSON's ``classes`` figures (means over replications,
        95 % half-widths in ``*_ci95`` columns), without the CDF quantiles."""
        import pandas as pd

        return pd.DataFrame(classes_rows(self.classes()))

    def latency_cdf_frame(self) -> pd.DataFrame:
        """Each class's latency CDF: one row per class and percent (1-99), ``latency_ms``."""
        import pandas as pd

        return pd.DataFrame(cdf_rows(self.classes()))

    def requests_frame(self) -> pd.DataFrame:
        """One row per request of every replication (times in s, latency in ms)."""
        import pandas as pd

        frames = []
        names = [c.name for c in self.prepared.classes]
        for rep in self.replications:
            req = rep.requests
            df = pd.DataFrame(
                {
                    "replication": rep.index,
                    "t_start_s": req["t_start_s"],
                    "t_end_s": req["t_end_s"],
                    "latency_ms": (req["t_end_s"] - req["t_start_s"]) * 1000.0,
                    "class": [names[k] if k >= 0 else "" for k in req["class"]],
                    "status": [STATUS_NAMES[s] for s in req["status"]],
                    "new_connection": req["new_connection"],
                }
            )
            frames.append(df)
        return pd.concat(frames, ignore_index=True)

    def series_frame(self) -> pd.DataFrame:
        """The sampled time series of every replication."""
        import pandas as pd

        frames = []
        for rep in self.replications:
            df = pd.DataFrame(rep.series, columns=list(SERIES_COLUMNS))
            df.insert(0, "replication", rep.index)
            frames.append(df)
        return pd.concat(frames, ignore_index=True)


_NOT_FLAT = ("batch_throughput", "batches", "class_quantiles_ms")
"""Record fields that hold lists (batch means, CDF quantiles), left out of records_frame."""
_REQUEST_COUNTS = ("sent", "in_flight", "reconnects", "syn_drops")
_MEANS = (
    "cpu_utilization",
    "keepalive_held_mean",
    "keepalive_async_mean",
    "workers_busy_mean",
    "workers_at_cap_fraction",
    "workers_none_idle_fraction",
    "accept_queue_mean",
    "throttled_fraction",
    "memory_limit_mib",
)


def _throttle_baseline(p: Prepared) -> float | None:
    """The burst baseline a standard-mode burstable CPU is held at without credits, else None."""
    burst = p.hardware.burst
    return burst.baseline_fraction if burst is not None and burst.mode == "standard" else None


def _r(x: float | None, digits: int = 4) -> float | None:
    """Round for JSON; NaN becomes null."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return float(round(x, digits))


def _errors(prep: Prepared) -> tuple[str, ...]:
    """The JSON's error kinds: DESIGN's three, and the 503/504 of backends when it has some."""
    return STATUS_NAMES[1:] if prep.php.backends else STATUS_NAMES[1:4]


def run_prepared(prep: Prepared, replications: int | None = None) -> RunResult:
    """Simulate every replication of a prepared scenario."""
    n = replications or prep.scenario.replications
    reps = tuple(run_replication(prep, i) for i in range(n))
    records = tuple(summarize(prep, r) for r in reps)
    return RunResult(prepared=prep, records=records, replications=reps)


def run(
    scenario: Scenario | str | Path,
    *,
    overrides: tuple[str, ...] = (),
    seed: int | None = None,
    replications: int | None = None,
) -> RunResult:
    """Load (if a path), prepare and simulate a scenario. The notebook entry point."""
    if isinstance(scenario, Scenario):
        sc, source, base = scenario, "<scenario>", None
    else:
        sc = load_scenario(scenario, overrides)
        source, base = str(scenario), Path(scenario).resolve().parent
    if seed is not None:
        sc = sc.model_copy(update={"seed": seed})
    prep = prepare(sc, source=source, base_dir=base)
    return run_prepared(prep, replications)

"""The figures of benchmarks/bench_fidelity.py: per part (held out, fitted) and per campaign,
from the rows :func:`mpmsim.calibration.check.compare` returns, the measurements' own
repeatability, and the text bench_fidelity prints of them.

Throughput MAPE per campaign (and per MPM), the share of ab runs whose p95 is within 20 % and of
runs whose peak PSS is within 10 %, and how often the error log's capacity warnings match the
simulated parent's (:func:`mpmsim.calibration.check.warning_agreement`); the same shares for
each run predicted by another repetition of its configuration (:func:`repeatability`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mpmsim.calibration.check import mape_by_metric, warning_agreement
from mpmsim.workloads.readers import MeasuredRun


def _within(rows: list[dict[str, Any]], metric: str, tol: float) -> tuple[int, int]:
    """(rows whose ``metric`` is within ``tol``, rows that measured it)."""
    errs = [r[f"{metric}_error"] for r in rows if not math.isnan(r[f"{metric}_error"])]
    return sum(1 for e in errs if abs(e) <= tol), len(errs)


def figures(all_rows: list[dict[str, Any]], campaign_of: dict[str, str]) -> dict[str, Any]:
    """Per part (held_out, fitted): throughput MAPE per campaign, p95 and PSS shares."""
    out: dict[str, Any] = {}
    mape = mape_by_metric(all_rows)
    for part, hold in (("held_out", True), ("fitted", False)):
        rows = [r for r in all_rows if r["held_out"] == hold]
        per: dict[str, list[dict[str, Any]]] = {}
        by_mpm: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            per.setdefault(campaign_of[r["run_id"]], []).append(r)
            if r.get("mpm"):
                by_mpm.setdefault(r["mpm"], []).append(r)
        whole = _campaign(rows)
        (p95_ok, p95_n), (pss_ok, pss_n) = (
            whole["ab_p95_within_20pct"],
            whole["peak_pss_within_10pct"],
        )
        ours = [r for c, v in per.items() if not c.startswith("shared/") for r in v]
        out[part] = {
            "rows": len(rows),
            "req_per_s_mape_pct": whole["mape_pct"],
            "req_per_s_mape_pct_by_campaign": {c: _campaign(v) for c, v in sorted(per.items())},
            # the campaigns' rows together (the shared set's third apart): runs of kinds the
            # shared set does not hold
            "campaigns": _campaign(ours),
            # the same rows by MPM: a mechanism that fits one MPM and not another shows here
            "by_mpm": {m: _campaign(v) for m, v in sorted(by_mpm.items())},
            "ab_p95_within_20pct": {"share_pct": _pct(p95_ok, p95_n), "of": p95_n},
            "peak_pss_within_10pct": {"share_pct": _pct(pss_ok, pss_n), "of": pss_n},
            "mape_pct": mape.get(part, {}),
            "capacity_warnings": warning_agreement(rows),
        }
    return out


def _campaign(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One campaign's part: its rows, throughput MAPE, and its ab p95 and PSS hits of the
    rows that measured them."""
    tput = [abs(r["req_per_s_error"]) for r in rows if not math.isnan(r["req_per_s_error"])]
    p95 = _within(rows, "lat_p95_ms", 0.20)
    pss = _within(rows, "peak_pss_mb", 0.10)
    return {"rows": len(rows), "mape_pct": _pct(sum(tput), len(tput)),
            "ab_p95_within_20pct": list(p95), "peak_pss_within_10pct": list(pss)}  # fmt: skip


def _campaign_line(label: str, v: dict[str, Any]) -> str:
    """One :func:`_campaign` part as a line of :func:`render`."""
    (p_ok, p_n), (m_ok, m_n) = v["ab_p95_within_20pct"], v["peak_pss_within_10pct"]
    return (
        f"    {label:<28} {v['mape_pct']:>7} %  ({v['rows']} rows; ab p95 {p_ok}/{p_n}, "
        f"PSS {m_ok}/{m_n})"
    )


def configuration(run: MeasuredRun, campaign: str) -> tuple[Any, ...]:
    """What a repetition of ``run`` shares with it: campaign, server config and load."""
    directives = tuple(sorted((k, str(v)) for k, v in run.directives.items()))
    return (campaign, run.mpm, directives, run.lua_scope, run.url, run.tool, run.concurrency,
            run.keepalive, run.rate_per_client, run.warmup_s, run.n_requested)  # fmt: skip


def repeatability(runs: Sequence[MeasuredRun], campaign: Sequence[str]) -> dict[str, Any]:
    """Each run predicted by every other repetition of its configuration: the shares of
    throughput within 10 %, ab p95 within 20 % and peak PSS within 10 % (ordered pairs)."""
    groups: dict[tuple[Any, ...], list[MeasuredRun]] = {}
    for run, c in zip(runs, campaign, strict=True):
        groups.setdefault(configuration(run, c), []).append(run)
    out: dict[str, Any] = {}
    for metric, tol, ab_only in (("req_per_s", 0.10, False), ("lat_p95_ms", 0.20, True),
                                 ("peak_pss_mb", 0.10, False)):  # fmt: skip
        ok = n = 0
        err = 0.0
        for group in groups.values():
            vals = [getattr(r, metric) for r in group if not ab_only or r.tool == "ab"]
            vals = [v for v in vals if v]
            for i, truth in enumerate(vals):
                for j, guess in enumerate(vals):
                    if i != j:
                        ok += abs(guess - truth) <= tol * truth
                        err += abs(guess - truth) / truth
                        n += 1
        out[f"{metric}_within_{round(tol * 100)}pct"] = {
            "share_pct": _pct(ok, n), "mape_pct": _pct(err, n), "pairs": n,
        }  # fmt: skip
    out["configurations_repeated"] = sum(1 for g in groups.values() if len(g) > 1)
    return out


def _pct(part: float, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def render(
    figs: dict[str, Any], skipped: int, seconds: float, repeat: dict[str, Any] | None = None
) -> str:
    """The figures as text."""
    lines = []
    for part in ("held_out", "fitted"):
        f = figs[part]
        lines.append(f"== {part.replace('_', '-')}: {f['rows']} rows")
        lines.append(f"  throughput MAPE {f['req_per_s_mape_pct']} %")
        lines += [_campaign_line(c, v) for c, v in f["req_per_s_mape_pct_by_campaign"].items()]
        if 0 < f["campaigns"]["rows"] < f["rows"]:
            lines.append(_campaign_line("the campaigns together", f["campaigns"]))
        if len(f.get("by_mpm", {})) > 1:
            lines += [_campaign_line(f"MPM {m}", v) for m, v in f["by_mpm"].items()]
        p95, pss = f["ab_p95_within_20pct"], f["peak_pss_within_10pct"]
        lines.append(f"  ab p95 within 20 %:    {p95['share_pct']} % of {p95['of']}")
        lines.append(f"  peak PSS within 10 %:  {pss['share_pct']} % of {pss['of']}")
        mape = ", ".join(f"{k} {v}" for k, v in f["mape_pct"].items())
        lines.append(f"  MAPE % by metric: {mape}")
        w = f.get("capacity_warnings")
        if w and w["rows"]:
            kinds = "; ".join(
                f"{k} {v['measured']}/{v['predicted']}/{v['both']}" for k, v in w["by_kind"].items()
            )
            lines.append(
                f"  Apache's capacity warnings logged alike: {w['same_pct']} % of {w['rows']} "
                f"(rows real/model/both: {kinds})"
            )
    if repeat:
        t, p, m = (repeat[k] for k in ("req_per_s_within_10pct", "lat_p95_ms_within_20pct",
                                       "peak_pss_mb_within_10pct"))  # fmt: skip
        lines.append(
            f"== repeatability ({repeat['configurations_repeated']} configurations measured "
            "more than once; each run predicted by another repetition: the rows' noise)"
        )
        lines.append(
            f"  throughput within 10 %: {t['share_pct']} % of {t['pairs']} pairs "
            f"(MAPE {t['mape_pct']} %)"
        )
        lines.append(f"  ab p95 within 20 %:     {p['share_pct']} % of {p['pairs']} pairs")
        lines.append(f"  peak PSS within 10 %:   {m['share_pct']} % of {m['pairs']} pairs")
    lines.append(f"({skipped} rows skipped as not representable; {seconds:.0f} s)")
    return "\n".join(lines)

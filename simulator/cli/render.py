"""Plain-text rendering of a run's result for the terminal."""

from __future__ import annotations

from typing import Any


def _fmt(x: Any, unit: str = "", digits: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}{unit}"
    return f"{x}{unit}"


def _pm(value: Any, ci: Any, unit: str = "", digits: int = 1) -> str:
    text = _fmt(value, unit, digits)
    return f"{text} ± {_fmt(ci, '', digits)}" if ci is not None and value is not None else text


Row = tuple[str, str]


def render_table(res: dict[str, Any]) -> str:
    """The human-readable summary of ``mpmsim run`` (the JSON holds everything)."""
    rows = [*_traffic_rows(res), *_resource_rows(res), *_theory_rows(res), *_optional_rows(res)]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    if len(res.get("classes", {})) > 1:
        lines.extend(_class_table(res["classes"]))
    for warning in res["warnings"]:
        lines.append(f"warning: {warning}")
    for line in res["error_log"]:
        times = f" (x{line['count']})" if line["count"] > 1 else ""
        lines.append(f"error_log [{line['t_s']:.1f} s] {line['code']}: {line['message']}{times}")
    return "\n".join(lines)


def _traffic_rows(res: dict[str, Any]) -> list[Row]:
    """What was simulated and what it served: configuration, throughput, errors, latency."""
    lat = res["latency_ms"]
    err = res["errors"]
    d = res["effective_directives"]
    sizes = ", ".join(
        f"{k} {d[k]}"
        for k in ("MaxRequestWorkers", "ThreadsPerChild", "ServerLimit", "KeepAlive")
        if k in d
    )
    return [
        (
            "scenario",
            f"{res['scenario']}  ({res['mpm']} on {res['hardware']}, costs "
            f"{res['costs']}, seed {res['seed']}, {res['replications']} replication(s))",
        ),
        ("config", sizes),
        (
            "throughput",
            _pm(res["throughput_rps"], res["throughput_rps_ci95"], " req/s")
            + "  (95 % CI)"
            + _offered_flag(res),
        ),
        (
            "completed",
            f"{res['completed']:,}  errors: refused {_fmt(err['refused'], '', 0)}, "
            f"timeout {_fmt(err['timeout'], '', 0)}, reset {_fmt(err['reset'], '', 0)}"
            + "".join(  # a backend's answers (PHP-FPM, proxy), only when there were some
                f", HTTP {k[5:]} {_fmt(err[k], '', 0)}"
                for k in ("http_503", "http_504")
                if err.get(k)
            ),
        ),
        (
            "latency ms",
            "  ".join(
                f"{k} {_fmt(lat[k], '', 2)}" for k in ("mean", "p50", "p90", "p95", "p99", "max")
            ),
        ),
        ("p95 CI", _p95_ci(res)),
    ]


def _offered_flag(res: dict[str, Any]) -> str:
    """For an open load, the rate it offered beside the one served, and a flag when the server
    did not carry it as optimize and report judge it (``search.goals.CARRY_TOLERANCE``): a
    throughput alone reads as the server's answer to the load even when it is a part of it."""
    from mpmsim.search.goals import CARRY_TOLERANCE

    offered, served = res.get("offered_rps"), res["throughput_rps"]
    if not offered or served is None:
        return ""
    text = f"  of {_fmt(offered, ' req/s')} offered"
    if served < (1.0 - CARRY_TOLERANCE) * offered:
        text += f"  NOT CARRIED: {_fmt(100.0 * served / offered, ' %', 0)} of it served"
    return text


def _ram_flag(res: dict[str, Any]) -> str:
    """RAM EXCEEDED, or the peak's share of the limit when it leaves less free than the
    headroom optimize and report keep by default; else nothing."""
    from mpmsim.search.goals import DEFAULT_HEADROOM

    if res["ram_exceeded"]:
        return "  RAM EXCEEDED"
    peak, limit = res["memory_mib"]["peak"], res["memory_mib"]["limit"]
    if peak is None or not limit or peak < (1.0 - DEFAULT_HEADROOM) * limit:
        return ""
    return (
        f"  ({_fmt(100.0 * peak / limit, ' %', 0)} of it: less than the "
        f"{_fmt(100.0 * DEFAULT_HEADROOM, ' %', 0)} headroom `mpmsim report` keeps)"
    )


def _p95_ci(res: dict[str, Any]) -> str:
    """The p95 with its 95 % half-width over replications; one replication has none, and the
    line says so rather than show a bare figure as an interval."""
    p95 = res["latency_ms"]["p95"]
    ci = res.get("latency_ms_ci95", {}).get("p95")
    if ci is None and p95 is not None and res["replications"] < 2:
        return f"{_fmt(p95, ' ms', 2)}  (no interval from one replication: --replications 3)"
    return _pm(p95, ci, " ms", 2)


def _resource_rows(res: dict[str, Any]) -> list[Row]:
    """What the server used: memory, CPU, workers, and the resource that limits it."""
    mem = res["memory_mib"]
    w = res["workers"]
    b = res["bottleneck"]
    return [
        (
            "memory MiB",
            f"peak {_fmt(mem['peak'])}  mean {_fmt(mem['mean'])}  "
            f"limit {_fmt(mem['limit'], '', 0)}" + _ram_flag(res),
        ),
        (
            "cpu",
            f"{_fmt(100 * res['cpu_utilization'], ' %')} used, "
            f"{_fmt(res['cpu_ms_per_request'], ' ms', 3)} per request",
        ),
        (
            "workers",
            f"processes {w['processes_peak']}, threads {w['threads_peak']}, busy peak "
            f"{w['busy_peak']}, keep-alive peak {w['keepalive_peak']}",
        ),
        ("bottleneck", f"{b['resource']}: {b['why']}"),
    ]


def _optional_rows(res: dict[str, Any]) -> list[Row]:
    """The reference check and CPU credits when the run has them, then the simulation's cost."""
    rows: list[Row] = []
    if "reference" in res:
        r = res["reference"]
        verdict = "within" if r["within"] else "OUTSIDE"
        rows.append(
            (
                "reference",
                f"{r['throughput_rps']:,.0f} req/s ({r['source']}): simulated "
                f"{r['error_pct']:+.1f} %, {verdict} {r['tolerance_pct']:g} %",
            )
        )
    if "cpu_credits" in res:
        c = res["cpu_credits"]
        rows.append(
            (
                "cpu credits",
                f"end {_fmt(c['end'])}, surplus used "
                f"{_fmt(c['surplus_used'], '', 3)}, throttled "
                f"{_fmt(100 * (c['throttled_fraction'] or 0.0), ' %')}",
            )
        )
    if "host_contention" in res:
        h = res["host_contention"]
        rows.append(
            (
                "shared host",
                f"vCPUs at {h['slow_speed']:g} of their speed {100 * h['slow_fraction']:.1f} % "
                f"of the time (phases of {h['slow_phase_ms']:g} ms; mean speed "
                f"{h['mean_speed']:g}): the hardware's host_contention",
            )
        )
    if "idle_wake" in res:
        w = res["idle_wake"]
        rows.append(
            (
                "idle wake-up",
                f"a job after more than {w['halt_after_us']:g} us idle costs {w['wake_us']:g} us "
                f"+ {w['cold_us_per_idle_ms']:g} us per ms idle (at most {w['cold_max_us']:g} "
                f"us): the hardware's idle_wake; {_fmt(w.get('cpu_ms_per_request'), ' ms', 4)}"
                " of the CPU per request here",
            )
        )
    if "trace" in res:
        rows.append(("trace", _trace_text(res["trace"])))
    sim = res["sim"]
    rows.append(
        (
            "simulation",
            f"{sim['events']:,} events, {_fmt(sim['simulated_s'], ' s', 2)} "
            f"simulated in {_fmt(sim['wall_s'], ' s', 2)}",
        )
    )
    return rows


def _trace_text(t: dict[str, Any]) -> str:
    """A trace load's replay in one line: what was sent, and the service times compared."""
    text = (
        f"{t['requests_replayed']:,} of {t['requests_logged']:,} logged requests replayed on "
        f"{t['connections']:,} connections ({t['connection_rule']}), speedup {t['speedup']:g}"
    )
    service = t.get("service_ms")
    if service:
        logged, simulated = service["logged"], service["simulated"]
        text += (
            f"; service ms p50/p95 logged {_fmt(logged['p50'], '', 2)}/"
            f"{_fmt(logged['p95'], '', 2)}, simulated {_fmt(simulated['p50'], '', 2)}/"
            f"{_fmt(simulated['p95'], '', 2)}"
        )
    return text


def _theory_rows(res: dict[str, Any]) -> list[Row]:
    """The analytic bounds beside the simulation (``theory``), one line each, and the binding."""
    theory = res.get("theory")
    if not theory:
        return []
    cpu = theory["cpu_ms_per_request"]
    parts = ", ".join(f"{k} {v:.3g}" for k, v in cpu.items() if k != "total" and v > 0)
    rows: list[Row] = [
        (
            "theory cpu/req",
            f"{cpu['total']:.4g} ms (analytic: {parts}); simulated "
            f"{_fmt(res['cpu_ms_per_request'], ' ms', 4)} with context-switch losses",
        )
    ]
    for name, bound in theory["bounds"].items():
        extra = f", response {bound['response_ms']:,.2f} ms" if "response_ms" in bound else ""
        if "at_baseline_rps" in bound:
            extra += f" ({_fmt(bound['at_baseline_rps'])} at the burst baseline)"
        how = "(analytic)" if bound["analytic"] else "(generated by the load)"
        rows.append(
            (
                f"theory {_bound_name(name, bound)}",
                f"{_fmt(bound['throughput_rps'], ' req/s')}{extra} {how}: {bound['formula']}",
            )
        )
    util = theory.get("utilization")
    if util:
        text = ", ".join(f"{k} {_fmt(100 * v, ' %')}" for k, v in util.items() if v is not None)
        rows.append(("theory utilization", f"{text} at the offered load (analytic)"))
    b = theory["binding"]
    if b["name"] is not None and b["ratio"] is not None:
        rows.append(
            (
                "theory binding",
                f"{_bound_name(b['name'], theory['bounds'][b['name']])}: simulated "
                f"{_fmt(b['simulated_rps'], ' req/s')} is "
                f"{b['ratio']:.2f} x the bound of {_fmt(b['throughput_rps'], ' req/s')} "
                + ("(analytic)" if b["analytic"] else "(generated by the load)"),
            )
        )
    return rows


def _bound_name(name: str, bound: dict[str, Any]) -> str:
    """A bound's name as read: a backend's by its kind and name (``php_fpm www``)."""
    if "backend" in bound:
        return f"{bound['kind']} {bound['backend']}"
    return name.replace("_", " ")


_CLASS_HEAD = ("class", "share", "req/s", "± 95 %", "mean", "p50", "p90", "p95", "p99", "max")


def _class_table(classes: dict[str, dict[str, Any]]) -> list[str]:
    """Per-class figures as a table (like JMeter's summary per label); latency in ms."""
    rows: list[tuple[str, ...]] = [(*_CLASS_HEAD, "errors")]
    for name, c in classes.items():
        lat, err = c["latency_ms"], c["errors"]
        share = None if c["share"] is None else 100.0 * c["share"]
        rows.append(
            (
                name,
                _fmt(share, " %"),
                _fmt(c["throughput_rps"]),
                _fmt(c["throughput_rps_ci95"]),
                *(_fmt(lat[k], "", 2) for k in ("mean", "p50", "p90", "p95", "p99", "max")),
                ", ".join(f"{k} {_fmt(v, '', 0)}" for k, v in err.items() if v) or "0",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "per class (latency in ms; a request that failed before a worker read it has no class):"
    ]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            v.rjust(w) for v, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  " + "  ".join(cells))
    return lines

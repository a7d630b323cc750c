"""The scenario file a fit writes: a runnable ``workload.yaml`` whose comments say where each
number came from and which parts are assumptions or placeholders."""

from __future__ import annotations

import math
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from mpmsim.models.costs import load_costs
from mpmsim.spec.mix import resolve_mix
from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.scenario import OpenLoad
from mpmsim.spec.session_ramp import RAMP_TOLERANCE, ramp_fix
from mpmsim.traces.fit import ClassFit, TraceFit
from mpmsim.workloads.distributions import AnySpec, Empirical
from mpmsim.workloads.fitting import COUNT_CRITERION, CRITERION, Fit, scaled

PLACEHOLDER_CPU_MS = 1.0
"""CPU per request written for a class the log gives no time for and the cost model lacks."""

HARDWARE = "t3.medium"
MPM = "event"


def iso(epoch_s: float, offset_s: int = 0) -> str:
    """ISO 8601 of an epoch time in the log's clock (seconds unless it has a fraction)."""
    zone = UTC if offset_s == 0 else timezone(timedelta(seconds=offset_s))
    when = datetime.fromtimestamp(epoch_s, zone)
    return when.isoformat(timespec="seconds" if epoch_s == math.floor(epoch_s) else "milliseconds")


def _seconds(value: float) -> str:
    """A time in seconds to the millisecond (a schedule's breakpoints must not drift)."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _requests(count: int) -> str:
    """``1 request``, ``1,642 requests``."""
    return f"{count:,} request" + ("" if count == 1 else "s")


def _plain(value: Any) -> Any:
    """Floats that are whole numbers as ints, so counts read as counts."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def spec_data(spec: AnySpec) -> Any:
    """What the scenario holds for ``spec``: a number, or a mapping with ``dist`` first."""
    data = spec.model_dump(exclude_none=True)
    if data.get("dist") == "deterministic":
        return _plain(data["value"])
    return _plain({"dist": data.pop("dist"), **data})


def _spec_lines(key: str, spec: AnySpec, indent: str) -> list[str]:
    """``key: spec`` as YAML lines: one flow line, or a block whose lists wrap (empirical)."""
    data = {key: spec_data(spec)}
    style: bool | None = None if isinstance(spec, Empirical) else True
    text = yaml.safe_dump(data, default_flow_style=style, sort_keys=False, width=92)
    if style:  # the whole mapping in flow style: drop the outer braces
        text = f"{key}: " + yaml.safe_dump(
            data[key], default_flow_style=True, sort_keys=False, width=10**6
        )
    return [indent + line for line in text.rstrip("\n").splitlines()]


def _fit_comment(what: str, fit: Fit, indent: str) -> str:
    """A comment line: what was fitted, on how many values, the choice and its goodness."""
    chosen = fit.chosen
    aic = "" if chosen.aic is None else f", AIC {chosen.aic:,.0f}"
    return (
        f"{indent}# {what}: {fit.n:,} values, mean {fit.sample_mean:.4g}; {chosen.family} "
        f"(KS D {chosen.ks:.3f}{aic}): {fit.reason}"
    )


def _header(fit: TraceFit, command: str) -> list[str]:
    """The opening comment: source, command, what is placeholder, the rule and the criterion."""
    cols, check = fit.columns, fit.check
    offset = fit.options.utc_offset_s
    lines = [
        f"# Fitted by `{command}`",
        f"# LogFormat: {cols.log_format}",
        f"# to {Path(cols.source).name}: {cols.requests:,} requests from "
        f"{iso(float(cols.start_s.min()), offset)} to {iso(float(cols.start_s.max()), offset)}.",
        "# hardware and server are PLACEHOLDERS (an event MPM with Apache 2.4's defaults on a",
        "# t3.medium): edit them to the machine and configuration you plan for.",
        f"# Connections rebuilt by {cols.rule.text}; KeepAliveTimeout "
        f"{fit.options.keepalive_timeout_s:g} s.",
    ]
    lines += [f"# Check against the log: {sentence}." for sentence in check.sentences()]
    if cols.whole_seconds:
        lines.append(
            "# Times are whole seconds: each got a uniform fraction before gaps were taken."
        )
    lines += [
        f"# Times, sizes: {CRITERION}.",
        f"# Requests per session: {COUNT_CRITERION}.",
    ]
    # Long sentences wrapped; the command and the format stay whole (they are copied from).
    return lines[:2] + [
        wrapped for line in lines[2:] for wrapped in textwrap.wrap(line, 98, subsequent_indent="# ")
    ]


def _load_lines(fit: TraceFit) -> list[str]:
    """The open load: the schedule (or the peak's rate), requests per session, think time."""
    schedule, offset = fit.schedule, fit.options.utc_offset_s
    mean = schedule.mean_requests
    lines = ["load:", "  kind: open"]
    if fit.options.peak:
        peak = schedule.peak()
        lines.append(
            f"  sessions_per_s: {schedule.rate(peak):.6g}  # the busiest window, from "
            f"{iso(max(peak.start_s, schedule.first_s), offset)}: {_requests(peak.requests)} / "
            f"{peak.covered_s:g} s / {mean:.4g} requests per session"
        )
    else:
        lines += [
            f"  # [t_s, sessions per second] from t = 0 at the log's first request "
            f"({iso(schedule.first_s, offset)});",
            f"  # each rate is the window's requests per second / {mean:.6g} requests per session,",
            "  # so the request rate follows the log window by window.",
            "  sessions_per_s:",
        ]
        for window in schedule.windows:
            when = iso(max(window.start_s, schedule.first_s), offset)
            lines.append(
                f"    - [{_seconds(window.t_s)}, {schedule.rate(window):.6g}]  # {when}: "
                f"{_requests(window.requests)}"
            )
    lines.append(_fit_comment("requests per connection", fit.requests_per_connection, "  "))
    lines += _spec_lines("requests_per_session", fit.requests_per_connection.spec, "  ")
    if fit.think_time_s is None:
        lines.append("  think_time_s: 0  # no connection carried a second request")
    else:
        lines.append(_fit_comment("idle gaps within connections, s", fit.think_time_s, "  "))
        lines += _spec_lines("think_time_s", fit.think_time_s.spec, "  ")
    lines.append("  client_closes: false  # like a browser: the server's KeepAliveTimeout ends it")
    return lines


def _class_lines(fit: TraceFit, cls: ClassFit, cost_classes: set[str]) -> list[str]:
    """One mix entry: weight, response sizes and the %D split (or where CPU comes from)."""
    total = fit.columns.requests
    lines = [
        f"  - name: {cls.name}  # {cls.requests:,} requests ({cls.requests / total:.1%})",
        f"    weight: {cls.requests}",
        _fit_comment(f"response bytes ({fit.columns.bytes_field})", cls.response_bytes, "    "),
        *_spec_lines("response_bytes", cls.response_bytes.spec, "    "),
    ]
    share = fit.options.cpu_share
    if cls.service_ms is not None:
        lines += [
            _fit_comment("%D, ms", cls.service_ms, "    "),
            f"    # ASSUMPTION: %D is wall time (CPU and waiting); {share:.0%} of it is taken as "
            f"CPU, the rest as wait (--cpu-share {share:g}).",
            *_spec_lines("cpu_ms", scaled(cls.service_ms.spec, share), "    "),
            *_spec_lines("wait_ms", scaled(cls.service_ms.spec, 1.0 - share), "    "),
        ]
    elif cls.name in cost_classes:
        lines.append(
            f"    # the log has no %D: cpu_ms comes from the cost model's {cls.name} class"
        )
    else:
        lines.append(
            f"    cpu_ms: {PLACEHOLDER_CPU_MS:g}  # PLACEHOLDER: the log has no %D; log it "
            "(LogFormat mpmsim) or calibrate"
        )
    return lines


def workload_yaml(fit: TraceFit, *, name: str, command: str) -> str:
    """The scenario text, checked to load and resolve as ``mpmsim run`` will.

    The fitted load starts from no session, and its offered rate climbs to the steady one over
    about a session's length (:mod:`mpmsim.spec.session_ramp`): where a window as long as the
    log's would miss more than ``RAMP_TOLERANCE`` of it, the scenario warms up first for as long
    as it takes, and measures a window of the log's length after."""
    span = fit.schedule.window_s if fit.options.peak else fit.schedule.duration_s
    text = _workload_text(fit, name, command, span, 0.0)
    scenario = load_scenario_data(yaml.safe_load(text), source="<written scenario>")
    load = scenario.load
    # the ramp depends on the sessions' lengths and think times, not on their rate
    short = ramp_fix(load, 0.0, span) if isinstance(load, OpenLoad) else None
    if short is not None and math.isfinite(short[1]):
        text = _workload_text(fit, name, command, span, short[1])
        scenario = load_scenario_data(yaml.safe_load(text), source="<written scenario>")
    resolve_mix(scenario.mix, load_costs(scenario.costs), source="<written scenario>")
    return text


def _workload_text(fit: TraceFit, name: str, command: str, span: float, warmup: float) -> str:
    """The scenario text measuring ``span`` seconds after ``warmup``."""
    ramp = (
        f"warmup_s: {warmup:g}  # the fitted sessions start from none: their requests reach the "
        "steady rate only after about this"
        if warmup
        else "warmup_s: 0  # the fitted sessions reach their steady rate within the window's "
        f"first moments (under {RAMP_TOLERANCE:.0%} of it missed)"
    )
    lines = [
        *_header(fit, command),
        f"name: {yaml.safe_dump(name, default_style=None).splitlines()[0]}",
        "seed: 1",
        f"duration_s: {_seconds(warmup + span)}  # "
        + (f"the {warmup:g} s warm-up, then " if warmup else "")
        + ("one window" if fit.options.peak else "the log's span; shorten it to simulate less"),
        ramp,
        f"hardware: {HARDWARE}  # PLACEHOLDER",
        "server:  # PLACEHOLDER: Apache 2.4's defaults for the MPM",
        f"  mpm: {MPM}",
        "  directives:",
        "    KeepAlive: On",
        f"    KeepAliveTimeout: {fit.options.keepalive_timeout_s:g}  # the one connections "
        "were rebuilt with",
        *_load_lines(fit),
        f"mix:  # by URL: {'; '.join(fit.options.classes.describe())}; weights are requests",
    ]
    cost_classes = set(load_costs(None).classes)
    for cls in fit.classes:
        lines += _class_lines(fit, cls, cost_classes)
    return "\n".join(lines) + "\n"


__all__ = ["HARDWARE", "MPM", "PLACEHOLDER_CPU_MS", "iso", "spec_data", "workload_yaml"]

"""A workload fitted to an access log (``mpmsim trace fit``): connections, rates, distributions."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from mpmsim.errors import InputError
from mpmsim.traces.columns import LogColumns, read_columns
from mpmsim.traces.schedule import Schedule, build_schedule
from mpmsim.workloads.access_log.connections import (
    APACHE_KEEPALIVE_TIMEOUT_S,
    Connections,
    RuleCheck,
    check_rule,
    rebuild,
)
from mpmsim.workloads.access_log.url_classes import UrlClasses
from mpmsim.workloads.fitting import Fit, drawn_count_mean, fit_continuous, fit_counts
from mpmsim.workloads.streams import stream

DEFAULT_CPU_SHARE = 0.2
"""Share of ``%D`` taken as CPU when nothing better is known (the rest is ``wait_ms``)."""


@dataclass(frozen=True)
class FitOptions:
    """What the user chose for a fit (the command line's options)."""

    log_format: str = "combined"
    keepalive_timeout_s: float = APACHE_KEEPALIVE_TIMEOUT_S
    classes: UrlClasses = field(default_factory=UrlClasses)
    cpu_share: float = DEFAULT_CPU_SHARE
    """``%D`` x this is ``cpu_ms``, the rest ``wait_ms`` (%D is wall time: CPU and waiting)."""
    window_s: float = 3600.0
    peak: bool = False
    """Write the busiest window's rate as a constant load instead of the whole schedule."""
    utc_offset_s: int = 0
    """The log's clock, seconds east of UTC: for times logged without a zone, clock hours
    and the times shown."""
    seed: int = 1
    """Seeds the dither of whole-second times and the subsets fitted."""


@dataclass(frozen=True)
class ClassFit:
    """One URL class: its share of requests, response sizes and (with ``%D``) service time."""

    name: str
    requests: int
    response_bytes: Fit
    service_ms: Fit | None


@dataclass(frozen=True)
class TraceFit:
    """Everything fitted to one log."""

    options: FitOptions
    columns: LogColumns
    connections: Connections
    check: RuleCheck
    schedule: Schedule
    requests_per_connection: Fit
    think_time_s: Fit | None
    """``None`` when no connection carried two requests."""
    classes: tuple[ClassFit, ...]
    think_s: npt.NDArray[np.float64]
    """The think times fitted: the connections' gaps, scaled when times are whole seconds."""
    think_scale: float = 1.0
    """What the gaps were scaled by (see :func:`_think_times`)."""


def _times(
    columns: LogColumns, rng: np.random.Generator
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Starts and ends for gaps: whole-second times get a uniform fraction of a second, as
    the request came in somewhere within its logged second (so gaps are not all integers)."""
    if not columns.whole_seconds:
        return columns.start_s, columns.end_s
    jitter = rng.random(columns.requests)
    return columns.start_s + jitter, columns.end_s + jitter


def _think_times(
    columns: LogColumns, connections: Connections
) -> tuple[npt.NDArray[np.float64], float]:
    """The connections' idle gaps, and the factor they were scaled by.

    With whole-second times the gaps come from dithered times; two requests within one second
    then get a gap of |U1 - U2| (mean 1/3 s), more than such gaps really are, so the gaps are
    scaled to the mean of the gaps between the logged times themselves, which is unbiased
    (the fractions dropped from two times cancel on average).
    """
    think = connections.think_s
    if not columns.whole_seconds or not len(think) or float(think.mean()) <= 0.0:
        return think, 1.0
    order = np.lexsort((connections.position, connections.connection))
    same = connections.connection[order][1:] == connections.connection[order][:-1]
    logged = columns.start_s[order][1:] - columns.end_s[order][:-1]
    scale = float(np.maximum(logged[same], 0.0).mean()) / float(think.mean())
    return think * scale, scale


def _class_fits(columns: LogColumns, rng: np.random.Generator) -> tuple[ClassFit, ...]:
    """Response sizes and service times per URL class (classes with no request left out)."""
    out: list[ClassFit] = []
    for index, name in enumerate(columns.class_names):
        mine = columns.url_class == index
        count = int(np.count_nonzero(mine))
        if not count:
            continue
        durations = columns.duration_ms[mine]
        durations = durations[np.isfinite(durations)]
        service = fit_continuous(durations, rng) if len(durations) else None
        out.append(
            ClassFit(name, count, fit_continuous(columns.response_bytes[mine], rng), service)
        )
    return tuple(out)


def fit_trace(path: str | os.PathLike[str], options: FitOptions) -> TraceFit:
    """Read the log, rebuild its connections and fit the workload's pieces."""
    if not 0.0 <= options.cpu_share <= 1.0:
        raise InputError(f"must be within 0 and 1 (got {options.cpu_share:g})", field="--cpu-share")
    if options.keepalive_timeout_s <= 0:
        raise InputError("must be > 0", field="--keepalive-timeout")
    columns = read_columns(
        path, options.log_format, options.classes, local_offset_s=options.utc_offset_s
    )
    start, end = _times(columns, stream(options.seed, "trace", "jitter"))
    connections = rebuild(columns.key, start, end, columns.rule, options.keepalive_timeout_s)
    rng = stream(options.seed, "trace", "fit")
    per_connection = fit_counts(connections.requests)
    think_s, scale = _think_times(columns, connections)
    think = fit_continuous(think_s, rng) if len(think_s) else None
    last = float(columns.start_s.max()) + (1.0 if columns.whole_seconds else 0.0)
    schedule = build_schedule(
        columns.start_s,
        drawn_count_mean(per_connection.spec),
        end_s=last,
        window_s=options.window_s,
        offset_s=options.utc_offset_s,
    )
    return TraceFit(
        options=options,
        columns=columns,
        connections=connections,
        check=check_rule(connections, columns.x_code, columns.keepalive),
        schedule=schedule,
        requests_per_connection=per_connection,
        think_time_s=think,
        classes=_class_fits(columns, rng),
        think_s=think_s,
        think_scale=scale,
    )


__all__ = ["DEFAULT_CPU_SHARE", "ClassFit", "FitOptions", "TraceFit", "fit_trace"]

"""How long an open load's sessions take to build up, and whether a measured window waits for it.

An open load starts from no session at all. A session arriving at ``t`` sends its ``i``-th
request about ``i`` think times later, so ``t`` after the load starts the requests of sessions
that would have arrived earlier are missing: the offered rate climbs to its steady value
(``sessions_per_s`` x the mean requests per session) over about a session's length, and far
longer when session lengths have a tail (a geometric count of pages). A window that opens during
the climb judges the server on a lighter load than the steady one (fewer requests, fewer
connections pinning workers), and every response's time delays the climb further, so a server
that keeps up even reads as serving less than was offered: dynamic-site with ``warmup_s`` 3 and
12 s in all served 93 % of its offered load on a machine at 19 % CPU, and a fleet sized on such
windows came out at 51 instances where 2 carry the steady load.

The share of the steady rate still missing at ``t`` is ``sum_i P(n > i) P(S_i > t) / E[n]``
(``n`` the session's requests, ``S_i`` the sum of ``i`` think times, a gamma with their mean and
variance, as :mod:`mpmsim.engine.summary` takes the offered rate); responses are taken as
instant, so it is the least the ramp costs, whatever the server.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache

import numpy as np
from scipy import stats

from mpmsim.spec.scenario import OpenLoad, Scenario
from mpmsim.workloads.distributions import describe, make_sampler, mean_of, parse_spec

RAMP_TOLERANCE = 0.03
"""A measured window may offer at most 3 % less than the steady load on average: the tolerance
by which optimize and report judge a load carried (``search.goals.CARRY_TOLERANCE``), so that a
window still in the ramp cannot pass a server on a load lighter than that by more than the
verdict itself allows."""

_DRAWS = 8192
_POINTS = 64  # the window's average deficit: a trapezoid over this many instants


def ramp_deficit(load: OpenLoad, after_s: float) -> float:
    """The share of an open load's steady offered rate not yet sent ``after_s`` after it starts."""
    return _deficit(*_moments(_key(load)), after_s)


def window_deficit(load: OpenLoad, start_s: float, end_s: float) -> float:
    """The share of the steady offered rate a window from ``start_s`` to ``end_s`` after the
    load starts misses on average."""
    moments = _moments(_key(load))
    if end_s <= start_s:
        return _deficit(*moments, start_s)
    d = np.array([_deficit(*moments, t) for t in np.linspace(start_s, end_s, _POINTS)])
    return float((d[:-1] + d[1:]).mean() / 2.0)  # the trapezoid rule on evenly spaced instants


def short_warmup(scenario: Scenario, start_s: float, end_s: float) -> str | None:
    """Why a measured window from ``start_s`` to ``end_s`` (simulated time) sees an open load's
    sessions still building up, and the warm-up that measures as long a window at the steady
    load; None when it does not (closed and replayed loads, a schedule of rates, which is meant
    to change, and a window within ``RAMP_TOLERANCE`` of the steady load)."""
    load = scenario.load
    if not isinstance(load, OpenLoad) or isinstance(load.sessions_per_s, list):
        return None
    a, b = start_s - load.start_s, end_s - load.start_s
    short = ramp_fix(load, a, b)
    if short is None:
        return None
    missing, need = short
    length = max(b - a, 0.0)
    fix = (
        f"warmup_s {need:g} with duration_s {need + length:g} measures as long a window at the "
        "steady load"
        if math.isfinite(need)
        else "no warm-up reaches the steady load"
    )
    return (
        f"the measured window ({start_s:g}-{end_s:g} s) opens while the open load's sessions "
        f"({describe(load.requests_per_session)} requests each, think time "
        f"{describe(load.think_time_s)} s) are still building up: it offers "
        f"{100 * missing:.0f} % less than the steady load on average, so the server is judged on "
        f"a lighter load than it will carry; {fix}"
    )


def ramp_fix(load: OpenLoad, start_s: float, end_s: float) -> tuple[float, float] | None:
    """The share of the steady offered rate a window from ``start_s`` to ``end_s`` after the
    load starts misses, and the least warm-up after which as long a window misses at most
    ``RAMP_TOLERANCE`` (:func:`steady_warmup_s`); None when this window already does."""
    missing = window_deficit(load, start_s, end_s)
    if missing <= RAMP_TOLERANCE:
        return None
    return missing, steady_warmup_s(load, max(end_s - start_s, 0.0))


def fixed_window_note(scenario: Scenario) -> str | None:
    """``short_warmup`` for the window a fixed ``warmup_s`` gives before anything runs (None
    for ``auto``, which each run chooses, and for a load without a set duration)."""
    load = scenario.load
    duration = load.duration_s or scenario.duration_s
    if scenario.warmup_s == "auto" or duration is None:
        return None
    return short_warmup(scenario, load.start_s + scenario.warmup_s, load.start_s + duration)


def _key(load: OpenLoad) -> tuple[str, str]:
    """The parts of a load the ramp depends on (its session lengths and think times), as
    hashable cache keys."""
    dumped = load.model_dump(mode="json", include={"requests_per_session", "think_time_s"})
    return json.dumps(dumped["requests_per_session"]), json.dumps(dumped["think_time_s"])


def think_moments(load: OpenLoad) -> tuple[float, float]:
    """Mean and variance of a load's think time (the variance from 8192 seeded draws), which
    the ramp here and the offered-rate tally (``engine.summary``) both take."""
    return _think_moments(_key(load)[1])


@lru_cache(maxsize=64)
def _think_moments(spec_json: str) -> tuple[float, float]:
    spec = json.loads(spec_json)
    draws = make_sampler(spec, np.random.default_rng(0), block=_DRAWS)
    sample = np.array([draws.draw() for _ in range(_DRAWS)])
    return float(mean_of(parse_spec(spec))), float(sample.var())


@lru_cache(maxsize=64)
def _moments(key: tuple[str, str]) -> tuple[np.ndarray, float, float, float]:
    """P(n > i) for i = 0, 1, ...; E[n]; the think time's mean and variance (seeded draws)."""
    sizes = make_sampler(json.loads(key[0]), np.random.default_rng(0), block=_DRAWS)
    n = np.array([max(1, sizes.draw_int()) for _ in range(_DRAWS)])
    longer = np.array([(n > i).mean() for i in range(int(n.max()))])
    return longer, float(n.mean()), *_think_moments(key[1])


def _deficit(longer: np.ndarray, mean_n: float, mean: float, var: float, t: float) -> float:
    if mean <= 0.0 or len(longer) < 2:
        return 0.0
    i = np.arange(1, len(longer), dtype=float)
    if var <= 0.0:  # requests at fixed steps
        late = (i * mean > t).astype(float)
    else:
        late = stats.gamma.sf(t, i * mean * mean / var, scale=var / mean)
    return float((longer[1:] * late).sum()) / mean_n


def steady_warmup_s(load: OpenLoad, length_s: float) -> float:
    """The least warm-up (whole seconds) after which a window of ``length_s`` misses at most
    ``RAMP_TOLERANCE`` of the steady load (inf when none does within 10^7 s)."""

    def short(w: float) -> bool:
        return window_deficit(load, w, w + length_s) > RAMP_TOLERANCE

    hi = 1.0
    while short(hi):
        hi *= 2.0
        if hi > 1e7:  # a think time of months
            return math.inf
    lo = hi / 2.0 if hi > 1.0 else 0.0
    while hi - lo > 0.5:
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if short(mid) else (lo, mid)
    return float(math.ceil(hi))


__all__ = [
    "RAMP_TOLERANCE",
    "fixed_window_note",
    "ramp_deficit",
    "ramp_fix",
    "short_warmup",
    "steady_warmup_s",
    "think_moments",
    "window_deficit",
]

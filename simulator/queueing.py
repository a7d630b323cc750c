"""Exact queueing-theory formulas for validating the simulator and bounding the optimizer.

Rates are per second, times in seconds, loads (``a = lambda / mu``) in Erlangs. Every function
is pure and raises ``ValueError`` for negative, non-finite or unstable inputs. Everything is
computed recursively or in log-space, so server counts in the thousands neither overflow nor
underflow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import gammaln, logsumexp

__all__ = [
    "ClosedMetrics",
    "LossMetrics",
    "QueueMetrics",
    "closed_bounds",
    "erlang_b",
    "erlang_c",
    "mg1_ps_conditional_response",
    "mg1_ps_mean_response",
    "mm1",
    "mmc",
    "mmck",
    "mva_closed",
    "mva_machine_repairman",
]


def _finite(name: str, value: float, *, positive: bool = False) -> float:
    """Return ``value`` as a float; reject NaN, infinities, negatives (and zero if positive)."""
    x = float(value)
    if not math.isfinite(x) or x < 0 or (positive and x == 0):
        kind = "positive" if positive else "non-negative"
        raise ValueError(f"{name} must be a finite {kind} number, got {value!r}")
    return x


def _count(name: str, value: int, minimum: int) -> int:
    """Return ``value`` if it is an int (not bool) at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of M/M/c/c (Erlang B) for offered load ``a`` Erlangs.

    Recursion B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1)) (Gross & Harris, sec. 2.6); every step
    stays in [0, 1], so it is stable for any ``c``.
    """
    c = _count("c", c, 0)
    a = _finite("a", a)
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Probability that an M/M/c arrival must wait (Erlang C); requires ``a < c``.

    C = c B / (c - a (1 - B)) with B = Erlang B (Kleinrock vol. 1, sec. 3.5).
    """
    c = _count("c", c, 1)
    a = _finite("a", a)
    if a >= c:
        raise ValueError(f"unstable: offered load a={a} must be below c={c} servers")
    b = erlang_b(c, a)
    return c * b / (c - a * (1.0 - b))


def _hypoexp_survival(t: float, g: float, mu: float) -> float:
    """P(Exp(g) + Exp(mu) > t), stable also when g is close to or equal to mu."""
    d = mu - g
    if abs(d) * t < 1.0:  # e^{-mu t} (1 + mu (e^{d t} - 1) / d); d -> 0 gives Erlang-2
        ratio = t if d == 0 else math.expm1(d * t) / d
        return math.exp(-mu * t) * (1.0 + mu * ratio)
    return (mu * math.exp(-g * t) - g * math.exp(-mu * t)) / d


@dataclass(frozen=True)
class QueueMetrics:
    """Steady state of an M/M/c FCFS queue (M/M/1 when ``servers == 1``).

    ``utilization`` is per server, ``p_wait`` is P(wait > 0), times are seconds, ``mean_in_*``
    are mean numbers of requests.
    """

    arrival_rate: float
    service_rate: float
    servers: int
    utilization: float
    p_wait: float
    mean_wait_s: float
    mean_response_s: float
    mean_in_system: float
    mean_in_queue: float

    def response_survival(self, t: float) -> float:
        """P(response time > t) for FCFS: wait is 0 w.p. 1-C, else Exp(c mu - lambda); + Exp(mu).

        Gross & Harris, sec. 2.3 (M/M/c waiting time) convolved with the service time.
        """
        mu = self.service_rate
        g = self.servers * mu - self.arrival_rate
        t = _finite("t", t)
        return (1.0 - self.p_wait) * math.exp(-mu * t) + self.p_wait * _hypoexp_survival(t, g, mu)

    def response_quantile_s(self, p: float) -> float:
        """The ``p``-quantile of the response time in seconds, 0 <= p < 1.

        M/M/1: exact, response ~ Exp(mu - lambda) (Kleinrock vol. 1, sec. 3.2). M/M/c: the root
        of the exact CDF, found by ``brentq``.
        """
        p = float(p)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"quantile p must be in [0, 1), got {p!r}")
        if p == 0.0:
            return 0.0
        mu = self.service_rate
        g = self.servers * mu - self.arrival_rate
        if self.servers == 1:
            return -math.log1p(-p) / g
        tail = 1.0 - p
        # P(T > t) <= P(W > t/2) + P(S > t/2) <= 2 exp(-min(g, mu) t / 2) gives a bracket.
        hi = 2.0 * math.log(2.0 / tail) / min(g, mu)
        root = brentq(lambda t: self.response_survival(t) - tail, 0.0, hi, xtol=1e-15 * hi)
        return float(root)


def mm1(lam: float, mu: float) -> QueueMetrics:
    """M/M/1: rho = lambda/mu < 1, W = 1/(mu - lambda), L = rho/(1 - rho) (Kleinrock vol. 1)."""
    return mmc(lam, mu, 1)


def mmc(lam: float, mu: float, c: int) -> QueueMetrics:
    """M/M/c FCFS: Wq = C(c, a) / (c mu - lambda), W = Wq + 1/mu, Little for L, Lq.

    Gross & Harris, sec. 2.3. Requires lambda < c mu.
    """
    lam = _finite("lam", lam)
    mu = _finite("mu", mu, positive=True)
    c = _count("c", c, 1)
    a = lam / mu
    if a >= c:
        raise ValueError(f"unstable: lam={lam} must be below c*mu={c * mu}")
    p_wait = erlang_c(c, a)
    wq = p_wait / (c * mu - lam)
    w = wq + 1.0 / mu
    return QueueMetrics(
        arrival_rate=lam,
        service_rate=mu,
        servers=c,
        utilization=a / c,
        p_wait=p_wait,
        mean_wait_s=wq,
        mean_response_s=w,
        mean_in_system=lam * w,
        mean_in_queue=lam * wq,
    )


@dataclass(frozen=True)
class LossMetrics:
    """Steady state of an M/M/c/K queue (K = capacity including the requests in service).

    ``p_block`` is the probability an arrival is refused (PASTA: P(N = K)), ``throughput`` the
    accepted rate per second, ``utilization`` the per-server busy fraction; response and wait
    times are for accepted requests.
    """

    p_block: float
    throughput: float
    mean_in_system: float
    mean_in_queue: float
    mean_response_s: float
    mean_wait_s: float
    utilization: float


def mmck(lam: float, mu: float, c: int, k: int) -> LossMetrics:
    """M/M/c/K birth-death solution, state probabilities normalised in log-space.

    p_n ∝ a^n / n! for n <= c, a^c / c! (a/c)^(n-c) for c < n <= K (Gross & Harris, sec. 2.5).
    Stable for any lambda (no lambda < c mu condition).
    """
    lam = _finite("lam", lam)
    mu = _finite("mu", mu, positive=True)
    c = _count("c", c, 1)
    k = _count("k", k, 1)
    if k < c:
        raise ValueError(f"capacity k={k} must be at least the number of servers c={c}")
    if lam == 0.0:
        return LossMetrics(0.0, 0.0, 0.0, 0.0, 1.0 / mu, 0.0, 0.0)
    log_a = math.log(lam / mu)
    n = np.arange(k + 1, dtype=np.float64)
    head = n * log_a - gammaln(n + 1.0)
    tail = c * log_a - math.lgamma(c + 1.0) + (n - c) * (log_a - math.log(c))
    log_p = np.where(n <= c, head, tail)
    probs = np.exp(log_p - logsumexp(log_p))
    p_block = float(probs[-1])
    throughput = lam * (1.0 - p_block)
    mean_in_system = float(np.dot(n, probs))
    mean_in_queue = float(np.dot(np.maximum(n - c, 0.0), probs))
    return LossMetrics(
        p_block=p_block,
        throughput=throughput,
        mean_in_system=mean_in_system,
        mean_in_queue=mean_in_queue,
        mean_response_s=mean_in_system / throughput,
        mean_wait_s=mean_in_queue / throughput,
        utilization=throughput / (c * mu),
    )


def _ps_load(lam: float, mean_service_s: float) -> float:
    """rho = lambda E[S] for M/G/1-PS, checked to be below 1."""
    lam = _finite("lam", lam)
    mean_service_s = _finite("mean_service_s", mean_service_s, positive=True)
    rho = lam * mean_service_s
    if rho >= 1.0:
        raise ValueError(f"unstable: utilization lam*mean_service_s={rho} must be below 1")
    return rho


def mg1_ps_mean_response(lam: float, mean_service_s: float) -> float:
    """M/G/1 processor sharing mean response E[T] = E[S] / (1 - rho), seconds.

    Insensitive to the service distribution beyond its mean (Kleinrock vol. 2, sec. 4.4).
    """
    return mean_service_s / (1.0 - _ps_load(lam, mean_service_s))


def mg1_ps_conditional_response(lam: float, mean_service_s: float, x: float) -> float:
    """M/G/1-PS mean response of a job needing ``x`` seconds of service: x / (1 - rho).

    Kleinrock vol. 2, sec. 4.4.
    """
    rho = _ps_load(lam, mean_service_s)
    return _finite("x", x) / (1.0 - rho)


@dataclass(frozen=True)
class ClosedMetrics:
    """Exact MVA result for a closed (terminal) network with a think (delay) station.

    ``throughput`` in requests/s; ``mean_response_s`` the time at the queueing station(s),
    think time excluded; ``utilization`` per server at the busiest station; ``mean_in_station``
    the mean number of requests at the queueing station(s), all of them summed. The per-station
    tuples follow the order of the stations.
    """

    throughput: float
    mean_response_s: float
    utilization: float
    mean_in_station: float
    station_response_s: tuple[float, ...]
    station_utilization: tuple[float, ...]


def mva_machine_repairman(
    n_clients: int, think_s: float, service_s: float, servers: int = 1
) -> ClosedMetrics:
    """Exact load-dependent MVA: ``n_clients`` thinking ``think_s`` then served at a station of
    ``servers`` identical exponential servers, ``service_s`` seconds each.

    Reiser & Lavenberg (1980); Lazowska et al., "Quantitative System Performance", ch. 20, with
    alpha(j) = min(j, m):
      R(n) = S/m (1 + Q(n-1) + sum_{j=1}^{m-1} (m-j) p(j-1|n-1)),  X(n) = n / (Z + R(n)),
      p(j|n) = X(n) S/j p(j-1|n-1) for 1 <= j < m.
    The empty-station probability uses the delay-station identity p(0|n) = X(n) Z/n p(0|n-1)
    (both follow from the product form) instead of 1 - sum_j p(j|n), whose cancellation makes
    the textbook recursion unstable for many servers. Only p(0..m-2|n) are needed.
    """
    n_total = _count("n_clients", n_clients, 1)
    z = _finite("think_s", think_s)
    s = _finite("service_s", service_s, positive=True)
    m = _count("servers", servers, 1)
    size = min(m - 1, n_total)
    # log p(j|n-1), j = 0..size-1: log-space, since p(0|n) underflows long before p(j|n) does.
    log_p = np.full(size, -np.inf)
    if size:
        log_p[0] = 0.0  # p(0|0) = 1
    log_j = np.log(np.arange(1, size, dtype=np.float64))  # log j for j = 1..size-1
    weights = (m - np.arange(1, size + 1, dtype=np.float64)) / m  # (m-j)/m, j = 1..size
    q = 0.0
    x = 0.0
    r = s
    for n in range(1, n_total + 1):
        r = s * ((1.0 + q) / m + float(np.dot(weights, np.exp(log_p))))
        x = n / (z + r)
        q = x * r
        if size:
            # logs taken separately: x * z underflows to 0 for subnormal think times
            log_p0 = math.log(x) + math.log(z) - math.log(n) + log_p[0] if z > 0 else -math.inf
            log_p[1:] = math.log(x * s) - log_j + log_p[:-1]
            log_p[0] = log_p0
    util = x * s / m
    return ClosedMetrics(x, r, util, q, (r,), (util,))


def mva_closed(n_clients: int, think_s: float, demands_s: Sequence[float]) -> ClosedMetrics:
    """Exact single-class MVA for single-server queueing stations plus a think station.

    R_k(n) = D_k (1 + Q_k(n-1)),  X(n) = n / (Z + sum_k R_k(n)),  Q_k(n) = X(n) R_k(n)
    (Lazowska et al., ch. 6). ``demands_s`` are the service demands per visit-weighted request.
    """
    n_total = _count("n_clients", n_clients, 1)
    z = _finite("think_s", think_s)
    if len(demands_s) == 0:
        raise ValueError("demands_s must name at least one station")
    d = np.array([_finite(f"demands_s[{i}]", v) for i, v in enumerate(demands_s)])
    if z == 0.0 and not d.any():
        raise ValueError("think_s and all demands_s are zero: throughput is unbounded")
    q = np.zeros_like(d)
    r = d.copy()
    x = 0.0
    for n in range(1, n_total + 1):
        r = d * (1.0 + q)
        x = n / (z + float(r.sum()))
        q = x * r
    util = x * d
    return ClosedMetrics(
        throughput=x,
        mean_response_s=float(r.sum()),
        utilization=float(util.max()),
        mean_in_station=float(q.sum()),
        station_response_s=tuple(float(v) for v in r),
        station_utilization=tuple(float(v) for v in util),
    )


def closed_bounds(
    n_clients: int, think_s: float, total_demand_s: float, max_demand_s: float
) -> tuple[float, float]:
    """(lower, upper) throughput bounds in requests/s for a closed terminal system.

    Lazowska et al., ch. 5, single-server stations, D = total demand, Dmax = largest demand:
      lower: balanced job bound  N / (D + Z + (N-1) Dmax / (1 + Z / (N D)))  (sec. 5.3),
             which is never below the asymptotic N / (N D + Z);
      upper: asymptotic bound    min(N / (D + Z), 1 / Dmax)                  (sec. 5.2).
    The balanced upper bound needs the number of stations, which is not given here.
    """
    n = _count("n_clients", n_clients, 1)
    z = _finite("think_s", think_s)
    d = _finite("total_demand_s", total_demand_s, positive=True)
    d_max = _finite("max_demand_s", max_demand_s, positive=True)
    if d_max > d * (1.0 + 1e-12):
        raise ValueError(f"max_demand_s={d_max} cannot exceed total_demand_s={d}")
    lower = n / (d + z + (n - 1) * d_max / (1.0 + z / (n * d)))
    upper = min(n / (d + z), 1.0 / d_max)
    return lower, upper

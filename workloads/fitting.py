"""Distributions fitted to samples (times, sizes, counts), chosen by a stated criterion.

:func:`fit_continuous` fits exponential, lognormal, gamma, Weibull and Pareto (type II, Lomax)
by maximum likelihood (scipy.stats) and keeps the lowest AIC when it also passes a
Kolmogorov-Smirnov and a mean check (:data:`CRITERION`), else the sample's own binned empirical
distribution. :func:`fit_counts` chooses between geometric and the empirical frequencies by AIC
(:data:`COUNT_CRITERION`). Every result is a scenario distribution spec, so a fit can be written
into a ``workload.yaml``; Pareto, which the scenario has no kind for, is written as an empirical
distribution of its own quantile bins (its tail up to the sample's largest value kept).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mpmsim.workloads.distributions import (
    AnySpec,
    Deterministic,
    Empirical,
    Exponential,
    Gamma,
    Geometric,
    Lognormal,
    Weibull,
    describe,
    mean_of,
)

_Array = npt.NDArray[np.float64]

MASS_EDGES = np.concatenate([np.arange(0.0, 0.98, 0.02), [0.98, 0.99, 0.995, 0.999, 0.9999, 1.0]])
"""Cumulative probabilities bounding an empirical distribution's bins: 49 bins of 2 %, then
narrower ones into the tail, so the largest values keep their own bins (heavy tails kept)."""

MEAN_TOLERANCE = 0.05
"""A parametric fit's mean may differ from the sample's by this share at most."""

FIT_SAMPLE = 10_000
"""At most this many values (a seeded random subset) are fitted and tested: enough for a KS
distance to 0.02, and it keeps a month-long log's fit to seconds."""

CRITERION = (
    "lowest AIC among exponential, lognormal, gamma, Weibull and Pareto (Lomax) maximum-"
    "likelihood fits, kept if its Kolmogorov-Smirnov distance D is at most max(0.05, 1.36/sqrt(n)) "
    f"and its mean within {MEAN_TOLERANCE:.0%} of the sample's; otherwise the empirical "
    "distribution (means of quantile bins, tail to the largest value kept)"
)
COUNT_CRITERION = (
    "lower AIC of geometric (1 parameter) and the empirical frequencies (one parameter per "
    "distinct value, less one)"
)


@dataclass(frozen=True)
class Candidate:
    """One distribution tried on a sample, and how well it does."""

    family: str
    spec: AnySpec
    ks: float
    """Kolmogorov-Smirnov distance between the sample and the candidate's CDF."""
    mean: float
    """The mean the simulator draws from ``spec``."""
    aic: float | None = None
    """Akaike's criterion on the sample (``None``: no likelihood, as for binned empirical)."""

    def to_dict(self) -> dict[str, Any]:
        """A flat dict for JSON."""
        return {
            "family": self.family,
            "spec": describe(self.spec),
            "ks": round(self.ks, 4),
            "aic": None if self.aic is None else round(self.aic, 1),
            "mean": _sig(self.mean),
        }


@dataclass(frozen=True)
class Fit:
    """The distribution chosen for a sample, with every candidate and the reason."""

    n: int
    sample_mean: float
    chosen: Candidate
    reason: str
    candidates: tuple[Candidate, ...] = field(default=())

    @property
    def spec(self) -> AnySpec:
        """The chosen scenario spec."""
        return self.chosen.spec

    def shown(self) -> str:
        """The choice as text: ``pareto as empirical(...)`` where the family is written as
        another kind."""
        text = describe(self.spec)
        family = self.chosen.family
        return text if text.startswith(family) or family == "constant" else f"{family} as {text}"

    def to_dict(self) -> dict[str, Any]:
        """A flat dict for JSON."""
        return {
            "n": self.n,
            "sample_mean": _sig(self.sample_mean),
            "chosen": self.chosen.to_dict(),
            "reason": self.reason,
            "candidates": [c.to_dict() for c in self.candidates],
        }


def _sig(value: float, digits: int = 6) -> float:
    """``value`` rounded to ``digits`` significant digits (what the YAML holds)."""
    return float(f"{value:.{digits}g}")


def ks_distance(
    sorted_sample: _Array,
    cdf: Callable[[_Array], _Array],
    cdf_before: Callable[[_Array], _Array] | None = None,
) -> float:
    """Largest gap between the sample's empirical CDF and a model's (sample sorted ascending).

    Both are compared at each value and just before it, so a model with steps (counts, an
    empirical spec) is measured fairly: ``cdf_before(x)`` is P(X < x), by default ``cdf``.
    """
    n = len(sorted_sample)
    after = np.asarray(cdf(sorted_sample), dtype=np.float64)
    before = after if cdf_before is None else np.asarray(cdf_before(sorted_sample))
    # Ties: the empirical CDF jumps once at a repeated value, past the last of its copies.
    sample_before = np.searchsorted(sorted_sample, sorted_sample, side="left") / n
    sample_after = np.searchsorted(sorted_sample, sorted_sample, side="right") / n
    return float(max(np.max(np.abs(sample_after - after)), np.max(np.abs(before - sample_before))))


def _step_cdfs(spec: Empirical) -> tuple[Callable[[_Array], _Array], Callable[[_Array], _Array]]:
    """P(X <= x) and P(X < x) of an empirical spec."""
    order = np.argsort(spec.values)
    values = np.asarray(spec.values, dtype=np.float64)[order]
    cum = np.concatenate([[0.0], np.cumsum(spec.probabilities()[order])])
    return (
        lambda x: cum[np.searchsorted(values, x, side="right")],
        lambda x: cum[np.searchsorted(values, x, side="left")],
    )


def empirical_bins(sample: npt.ArrayLike) -> Empirical:
    """The sample as bins of :data:`MASS_EDGES`: each bin's mean, weighted by its size.

    The mean is kept exactly (up to rounding to 6 digits) and the tail down to the top 0.01 %;
    adjacent bins of equal value are merged.
    """
    x = np.sort(np.asarray(sample, dtype=np.float64))
    n = len(x)
    cuts = np.unique(np.round(MASS_EDGES * n).astype(np.int64))
    sums = np.add.reduceat(x, cuts[:-1])
    sizes = np.diff(cuts)
    values: list[float] = []
    weights: list[float] = []
    for total, size in zip(sums.tolist(), sizes.tolist(), strict=True):
        value = _sig(total / size)
        if values and values[-1] == value:
            weights[-1] += size
        else:
            values.append(value)
            weights.append(float(size))
    return Empirical(values=values, weights=weights)


def _quantile_bins(dist: Any, upper: float) -> Empirical:
    """A continuous scipy distribution, truncated at ``upper``, as bins of
    :data:`MASS_EDGES`: each bin's conditional mean (Gauss-Legendre on the quantile function)."""
    top = float(dist.cdf(upper))
    edges = MASS_EDGES * top
    nodes, node_weights = np.polynomial.legendre.leggauss(16)
    low, high = edges[:-1, None], edges[1:, None]
    points = low + (high - low) * (nodes[None, :] + 1.0) / 2.0
    means = (dist.ppf(points) * node_weights[None, :]).sum(axis=1) / 2.0
    return Empirical(values=[_sig(v) for v in means.tolist()], weights=np.diff(edges).tolist())


def _parametric(positive: _Array, upper: float) -> list[tuple[str, AnySpec, Any, int]]:
    """(family, spec, frozen scipy distribution, parameter count) fitted to positive values."""
    from scipy import stats

    mean = float(positive.mean())
    logs = np.log(positive)
    mu, sigma = float(logs.mean()), float(logs.std())
    out: list[tuple[str, AnySpec, Any, int]] = [
        ("exponential", Exponential(mean=_sig(mean)), stats.expon(scale=mean), 1)
    ]
    if sigma > 0:
        spec = Lognormal(
            mean=_sig(math.exp(mu + sigma**2 / 2)), cv=_sig(math.sqrt(math.expm1(sigma**2)))
        )
        out.append(("lognormal", spec, stats.lognorm(s=sigma, scale=math.exp(mu)), 2))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        a, _, scale = stats.gamma.fit(positive, floc=0)
        out.append(
            (
                "gamma",
                Gamma(mean=_sig(a * scale), cv=_sig(1 / math.sqrt(a))),
                stats.gamma(a, scale=scale),
                2,
            )
        )
        c, _, scale = stats.weibull_min.fit(positive, floc=0)
        weibull = Weibull(mean=_sig(scale * math.gamma(1 + 1 / c)), shape=_sig(c))
        out.append(("weibull", weibull, stats.weibull_min(c, scale=scale), 2))
        alpha, _, scale = stats.lomax.fit(positive, floc=0)
        lomax = stats.lomax(alpha, scale=scale)
        out.append(("pareto", _quantile_bins(lomax, upper), lomax, 2))
    return out


def _candidates(sub: _Array) -> list[Candidate]:
    """Every parametric family fitted to the positive values of the (sorted) subsample."""
    positive = sub[sub > 0]
    if len(positive) < 10 or float(np.ptp(positive)) == 0.0:
        return []
    out: list[Candidate] = []
    for family, spec, dist, k in _parametric(positive, float(sub[-1])):
        with np.errstate(all="ignore"):
            loglik = float(np.sum(dist.logpdf(positive)))
        if not math.isfinite(loglik):
            continue
        out.append(
            Candidate(family, spec, ks_distance(sub, dist.cdf), mean_of(spec), 2 * k - 2 * loglik)
        )
    return out


def fit_continuous(sample: npt.ArrayLike, rng: np.random.Generator) -> Fit:
    """The distribution of a non-negative quantity (a time, a size) by :data:`CRITERION`.

    ``rng`` draws the subset fitted when the sample has more than :data:`FIT_SAMPLE` values.
    Zeros (a 304 has no body) count in the KS distance, not in the likelihood.
    """
    x = np.asarray(sample, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        raise ValueError("no values to fit")
    mean = float(x.mean())
    if float(np.ptp(x)) == 0.0:
        constant = Candidate("constant", Deterministic(value=_sig(mean)), 0.0, _sig(mean))
        return Fit(len(x), mean, constant, "every value is the same", (constant,))
    sub = np.sort(x if len(x) <= FIT_SAMPLE else rng.choice(x, FIT_SAMPLE, replace=False))
    emp_spec = empirical_bins(x)
    empirical = Candidate(
        "empirical", emp_spec, ks_distance(sub, *_step_cdfs(emp_spec)), mean_of(emp_spec)
    )
    fitted = _candidates(sub)
    limit = max(0.05, 1.36 / math.sqrt(len(sub)))
    if fitted:
        best = min(fitted, key=lambda c: c.aic if c.aic is not None else math.inf)
        off = abs(best.mean - mean) / mean if mean > 0 else math.inf
        if best.ks <= limit and off <= MEAN_TOLERANCE:
            reason = f"lowest AIC, D <= {limit:.3f}, mean off by {off:.1%}"
            return Fit(len(x), mean, best, reason, (*fitted, empirical))
        reason = (
            f"best parametric ({best.family}) has D {best.ks:.3f} (limit {limit:.3f}) and "
            f"mean off by {off:.1%} (limit {MEAN_TOLERANCE:.0%})"
        )
    else:
        reason = "too few distinct positive values for a parametric fit"
    return Fit(len(x), mean, empirical, reason, (*fitted, empirical))


def drawn_count_mean(spec: AnySpec | float) -> float:
    """The mean count an open load draws from ``spec`` (``max(1, round(x))`` per session)."""
    if isinstance(spec, float | int):
        return float(max(1, math.floor(spec + 0.5)))
    if isinstance(spec, Deterministic):
        return float(max(1, math.floor(spec.value + 0.5)))
    if isinstance(spec, Empirical):
        drawn = np.maximum(1.0, np.floor(np.asarray(spec.values) + 0.5))
        return float(np.dot(drawn, spec.probabilities()))
    if isinstance(spec, Geometric):
        return spec.mean  # numpy's geometric already draws 1, 2, ...
    raise TypeError(f"no exact drawn mean for {describe(spec)}")


def _count_spec(values: npt.NDArray[np.int64], counts: npt.NDArray[np.int64]) -> Empirical:
    """Frequencies as an empirical spec. Past 100 distinct values, the values beyond the first
    100 (and beyond the 99th percentile) are merged into 20 bins of about equal mass (their
    rounded means), so the YAML stays short and the tail stays."""
    if len(values) <= 100:
        return Empirical(
            values=values.astype(float).tolist(), weights=counts.astype(float).tolist()
        )
    cum = np.cumsum(counts) / counts.sum()
    keep = min(100, int(np.searchsorted(cum, 0.99, side="right")) + 1)
    head_v, head_c = values[:keep].astype(float).tolist(), counts[:keep].astype(float).tolist()
    tail = np.repeat(values[keep:], counts[keep:]).astype(np.float64)
    bins = np.array_split(tail, min(20, len(tail)))
    tail_v = [float(round(b.mean())) for b in bins]
    return Empirical(values=head_v + tail_v, weights=head_c + [float(len(b)) for b in bins])


def fit_counts(sample: npt.ArrayLike) -> Fit:
    """The distribution of a count of at least 1 (requests per connection) by
    :data:`COUNT_CRITERION`."""
    x = np.asarray(sample, dtype=np.int64)
    if len(x) == 0 or int(x.min()) < 1:
        raise ValueError("counts must be at least 1")
    n, mean = len(x), float(x.mean())
    values, counts = np.unique(x, return_counts=True)
    sorted_x = np.sort(x).astype(np.float64)
    p = 1.0 / mean
    geo_loglik = n * math.log(p) + (float(x.sum()) - n) * math.log1p(-p) if p < 1 else 0.0
    geo_spec = Geometric(mean=_sig(mean))
    geometric = Candidate(
        "geometric",
        geo_spec,
        ks_distance(
            sorted_x,
            lambda k: 1.0 - (1.0 - p) ** np.floor(k),
            lambda k: 1.0 - (1.0 - p) ** (np.ceil(k) - 1.0),
        ),
        geo_spec.mean,
        2.0 - 2.0 * geo_loglik,
    )
    emp_loglik = float(np.sum(counts * np.log(counts / n)))
    emp_spec = _count_spec(values, counts)
    empirical = Candidate(
        "empirical",
        emp_spec,
        ks_distance(sorted_x, *_step_cdfs(emp_spec)),
        drawn_count_mean(emp_spec),
        2.0 * (len(values) - 1) - 2.0 * emp_loglik,
    )
    assert geometric.aic is not None and empirical.aic is not None
    best = geometric if geometric.aic <= empirical.aic else empirical
    return Fit(n, mean, best, "lower AIC", (geometric, empirical))


def scaled(spec: AnySpec, factor: float) -> AnySpec:
    """``spec`` with every draw multiplied by ``factor`` (same shape, mean x factor)."""
    if isinstance(spec, Deterministic):
        return Deterministic(value=_sig(spec.value * factor))
    if isinstance(spec, Empirical):
        return spec.model_copy(update={"values": [_sig(v * factor) for v in spec.values]})
    if isinstance(spec, Exponential | Lognormal | Gamma | Weibull):
        return spec.model_copy(update={"mean": _sig(spec.mean * factor)})
    raise TypeError(f"cannot scale {describe(spec)}")


__all__ = [
    "COUNT_CRITERION",
    "CRITERION",
    "FIT_SAMPLE",
    "MASS_EDGES",
    "MEAN_TOLERANCE",
    "Candidate",
    "Fit",
    "drawn_count_mean",
    "empirical_bins",
    "fit_continuous",
    "fit_counts",
    "ks_distance",
    "scaled",
]

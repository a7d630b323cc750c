"""Distributions fitted to samples: the right family, its parameters, the criterion's fallbacks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mpmsim.workloads.distributions import (
    Deterministic,
    Empirical,
    Exponential,
    Gamma,
    Lognormal,
    Weibull,
    make_sampler,
    mean_of,
)
from mpmsim.workloads.fitting import (
    drawn_count_mean,
    empirical_bins,
    fit_continuous,
    fit_counts,
    ks_distance,
    scaled,
)


def rng(seed: int = 7) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_ks_distance_is_scipys_for_a_continuous_model() -> None:
    sample = np.sort(rng().exponential(2.0, 5_000))
    ours = ks_distance(sample, stats.expon(scale=2.1).cdf)
    assert ours == pytest.approx(
        stats.kstest(sample, stats.expon(scale=2.1).cdf).statistic, abs=1e-12
    )


def test_exponential_sample() -> None:
    # 20,000 draws: the sample mean's sd is 0.7 %; 3 % is over 4 sd.
    fit = fit_continuous(rng().exponential(2.0, 20_000), rng(1))
    # Gamma and Weibull of shape 1 are the exponential: AIC's penalty usually, not always, picks it.
    assert fit.chosen.family in ("exponential", "gamma", "weibull")
    assert fit.chosen.mean == pytest.approx(2.0, rel=0.03)
    assert fit.chosen.ks <= 0.05


def test_lognormal_sample_gives_its_mean_and_cv() -> None:
    truth = Lognormal(mean=5.0, cv=2.0)
    mu, sigma = truth.mu_sigma()
    fit = fit_continuous(rng().lognormal(mu, sigma, 20_000), rng(1))
    assert isinstance(fit.spec, Lognormal)
    assert fit.spec.mean == pytest.approx(5.0, rel=0.05)
    assert fit.spec.cv == pytest.approx(2.0, rel=0.1)


@pytest.mark.parametrize(
    ("spec", "draw"),
    [
        (Gamma(mean=3.0, cv=0.5), lambda g: g.gamma(4.0, 0.75, 20_000)),
        (
            Weibull(mean=1.0, shape=3.0),
            lambda g: Weibull(mean=1.0, shape=3.0).scale() * g.weibull(3.0, 20_000),
        ),
    ],
)
def test_two_parameter_families(spec: Gamma | Weibull, draw: object) -> None:
    fit = fit_continuous(draw(rng()), rng(1))  # type: ignore[operator]
    assert type(fit.spec) is type(spec)
    assert fit.spec.mean == pytest.approx(spec.mean, rel=0.03)


def test_a_heavy_tail_is_pareto_written_as_bins_that_keep_the_tail() -> None:
    sample = stats.lomax(2.5, scale=1000.0).rvs(20_000, random_state=rng())
    fit = fit_continuous(sample, rng(1))
    assert fit.chosen.family == "pareto"
    spec = fit.spec
    assert isinstance(spec, Empirical)
    # The tail bins reach the sample's top 0.1 %: the largest written value is above it.
    assert max(spec.values) > np.percentile(sample, 99.9)
    assert mean_of(spec) == pytest.approx(sample.mean(), rel=0.05)


def test_a_bimodal_sample_falls_back_to_empirical_with_its_exact_mean() -> None:
    g = rng()
    sample = np.concatenate([g.normal(10, 1, 10_000), g.normal(100, 5, 10_000)]).clip(0.1)
    fit = fit_continuous(sample, rng(1))
    assert fit.chosen.family == "empirical"
    assert "best parametric" in fit.reason
    assert mean_of(fit.spec) == pytest.approx(sample.mean(), rel=1e-5)


def test_zeros_count_against_parametric_fits() -> None:
    g = rng()
    sample = np.where(g.random(10_000) < 0.3, 0.0, g.exponential(5000.0, 10_000))  # 304s: no body
    fit = fit_continuous(sample, rng(1))
    assert fit.chosen.family == "empirical"
    assert min(fit.spec.values) == 0.0  # type: ignore[union-attr]


def test_a_constant_is_deterministic() -> None:
    fit = fit_continuous([4.0] * 50, rng())
    assert fit.spec == Deterministic(value=4.0)


def test_the_fit_is_reproducible_with_the_same_generator() -> None:
    sample = rng().lognormal(0.0, 1.0, 30_000)  # more than FIT_SAMPLE: a random subset is fitted
    assert fit_continuous(sample, rng(3)) == fit_continuous(sample, rng(3))


def test_empirical_bins_keep_the_mean_and_the_top() -> None:
    sample = stats.lomax(1.5, scale=100.0).rvs(100_000, random_state=rng())
    spec = empirical_bins(sample)
    assert sum(spec.weights or []) == 100_000
    assert mean_of(spec) == pytest.approx(sample.mean(), rel=1e-5)
    top = np.sort(sample)[-10:]  # the top 0.01 % is its own bin
    assert max(spec.values) == pytest.approx(top.mean(), rel=1e-5)


def test_geometric_counts() -> None:
    counts = rng().geometric(0.25, 20_000)
    fit = fit_counts(counts)
    assert fit.chosen.family == "geometric"
    assert fit.chosen.mean == pytest.approx(4.0, rel=0.03)


def test_counts_with_two_modes_are_empirical_and_exact() -> None:
    counts = np.r_[np.ones(6000, dtype=np.int64), np.full(4000, 10)]
    fit = fit_counts(counts)
    assert fit.chosen.family == "empirical"
    assert fit.chosen.ks == pytest.approx(0.0, abs=1e-12)
    assert drawn_count_mean(fit.spec) == pytest.approx(4.6)


def test_many_distinct_counts_are_compacted_with_the_mean_kept() -> None:
    counts = np.r_[rng().geometric(0.02, 50_000)]
    assert len(np.unique(counts)) > 100
    fit = fit_counts(counts)
    empirical = fit.candidates[1]
    assert isinstance(empirical.spec, Empirical) and len(empirical.spec.values) <= 120
    assert empirical.mean == pytest.approx(counts.mean(), rel=0.01)


def test_drawn_count_mean_is_what_an_open_load_draws() -> None:
    # The open load draws max(1, round half up): 0.4 -> 1, 1.6 -> 2, 2.5 -> 3.
    spec = Empirical(values=[0.4, 1.6, 2.5], weights=[1, 1, 2])
    assert drawn_count_mean(spec) == pytest.approx((1 + 2 + 3 * 2) / 4)
    sampler = make_sampler(spec, rng())
    draws = [max(1, sampler.draw_int()) for _ in range(100_000)]
    assert np.mean(draws) == pytest.approx(drawn_count_mean(spec), rel=0.01)


@pytest.mark.parametrize(
    "spec",
    [
        Exponential(mean=2.0),
        Lognormal(mean=5.0, cv=1.5),
        Gamma(mean=3.0, cv=0.7),
        Weibull(mean=1.0, shape=2.0),
        Empirical(values=[1.0, 10.0], weights=[3.0, 1.0]),
        Deterministic(value=4.0),
    ],
)
def test_scaled_multiplies_the_mean(spec: object) -> None:
    assert mean_of(scaled(spec, 0.2)) == pytest.approx(0.2 * mean_of(spec), rel=1e-5)  # type: ignore[arg-type]

"""Checks of mpmsim.queueing against textbook values and structural properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpmsim.queueing import (
    closed_bounds,
    erlang_b,
    erlang_c,
    mg1_ps_conditional_response,
    mg1_ps_mean_response,
    mm1,
    mmc,
    mmck,
    mva_closed,
    mva_machine_repairman,
)


def _finite_source(n: int, z: float, s: float, m: int) -> tuple[float, float]:
    """Independent M/M/m//N birth-death solution: (throughput, mean number at the station)."""
    log_w = [0.0]
    for j in range(1, n + 1):  # birth (n-j+1)/z, death min(j, m)/s
        log_w.append(log_w[-1] + math.log((n - j + 1) / z) - math.log(min(j, m) / s))
    w = np.exp(np.array(log_w) - max(log_w))
    p = w / w.sum()
    busy = float(np.dot(np.minimum(np.arange(n + 1), m), p))
    return busy / s, float(np.dot(np.arange(n + 1), p))


def test_erlang_textbook_values() -> None:
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)
    assert erlang_b(0, 3.0) == 1.0
    assert erlang_b(5, 0.0) == 0.0
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0)
    assert erlang_c(1, 0.7) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="unstable"):
        erlang_c(2, 2.0)
    with pytest.raises(ValueError):
        erlang_b(-1, 1.0)
    with pytest.raises(ValueError):
        erlang_b(3, -0.5)
    with pytest.raises(ValueError):
        erlang_b(3, math.nan)


def test_large_c_stable() -> None:
    for c, a in ((1000, 950.0), (2000, 1990.0), (2000, 1.0), (2000, 5000.0)):
        b = erlang_b(c, a)
        assert 0.0 <= b <= 1.0 and math.isfinite(b)
    cc = erlang_c(1000, 950.0)
    assert math.isfinite(cc) and erlang_b(1000, 950.0) <= cc <= 1.0
    q = mmc(950.0, 1.0, 1000)
    assert math.isfinite(q.mean_response_s) and q.mean_response_s >= 1.0
    assert math.isfinite(q.response_quantile_s(0.99))
    loss = mmck(1990.0, 1.0, 2000, 2500)
    assert 0.0 <= loss.p_block <= 1.0 and math.isfinite(loss.mean_in_system)


def test_mm1() -> None:
    q = mm1(0.5, 1.0)
    assert q.mean_response_s == pytest.approx(2.0)
    assert q.mean_wait_s == pytest.approx(1.0)
    assert q.mean_in_system == pytest.approx(1.0)
    assert q.mean_in_queue == pytest.approx(0.5)
    assert q.utilization == pytest.approx(0.5) and q.p_wait == pytest.approx(0.5)
    assert q.response_quantile_s(0.5) == pytest.approx(2.0 * math.log(2.0))
    assert q.response_quantile_s(0.0) == 0.0
    with pytest.raises(ValueError, match="unstable"):
        mm1(1.0, 1.0)
    with pytest.raises(ValueError):
        mm1(0.5, 0.0)
    with pytest.raises(ValueError):
        q.response_quantile_s(1.0)


def test_mmc_matches_mm1_and_textbook() -> None:
    one = mmc(0.5, 1.0, 1)
    assert one == mm1(0.5, 1.0)
    q = mmc(1.0, 1.0, 2)  # a = 1, C = 1/3, Wq = C / (2 - 1)
    assert q.mean_wait_s == pytest.approx(1.0 / 3.0)
    assert q.mean_response_s == pytest.approx(4.0 / 3.0)
    assert q.mean_in_system == pytest.approx(4.0 / 3.0)
    assert q.utilization == pytest.approx(0.5)


@pytest.mark.parametrize(("lam", "mu", "c"), [(1.0, 1.0, 2), (3.0, 1.0, 4), (1.0, 0.5, 3)])
def test_mmc_quantile_inverts_cdf(lam: float, mu: float, c: int) -> None:
    q = mmc(lam, mu, c)
    for p in (0.1, 0.5, 0.9, 0.99, 0.999999):
        t = q.response_quantile_s(p)
        assert q.response_survival(t) == pytest.approx(1.0 - p, rel=1e-9)
    # Mean from integrating the survival function equals the closed-form mean.
    ts = np.linspace(0.0, q.response_quantile_s(1 - 1e-12), 200_001)
    surv = np.array([q.response_survival(float(t)) for t in ts])
    assert float(np.trapezoid(surv, ts)) == pytest.approx(q.mean_response_s, rel=1e-6)


def test_mmc_quantile_equal_rates_branch() -> None:
    q = mmc(1.0, 1.0, 2)  # c mu - lambda == mu: wait + service is Erlang-2 when waiting
    t = 3.0
    c = q.p_wait
    expected = (1 - c) * math.exp(-t) + c * math.exp(-t) * (1 + t)
    assert q.response_survival(t) == pytest.approx(expected, rel=1e-14)
    near = mmc(1.0 + 1e-10, 1.0, 2)
    assert near.response_survival(t) == pytest.approx(expected, rel=1e-8)
    assert q.response_quantile_s(0.9) == pytest.approx(near.response_quantile_s(0.9), rel=1e-8)


def test_mmck_k_equals_c_is_erlang_b() -> None:
    for c, a in ((1, 0.5), (5, 3.0), (50, 60.0), (1000, 950.0)):
        loss = mmck(a * 2.0, 2.0, c, c)
        assert loss.p_block == pytest.approx(erlang_b(c, a), rel=1e-9)
        assert loss.mean_wait_s == pytest.approx(0.0, abs=1e-12)
        assert loss.mean_response_s == pytest.approx(0.5)


@pytest.mark.parametrize(("rho", "k"), [(0.5, 1), (0.5, 10), (0.9, 5), (1.5, 7), (1.0 + 1e-3, 4)])
def test_mm1k_closed_form(rho: float, k: int) -> None:
    loss = mmck(rho * 3.0, 3.0, 1, k)
    assert loss.p_block == pytest.approx(rho**k * (1 - rho) / (1 - rho ** (k + 1)), rel=1e-9)
    assert loss.throughput == pytest.approx(rho * 3.0 * (1 - loss.p_block))
    assert loss.utilization == pytest.approx(loss.throughput / 3.0)


def test_mmck_large_k_approaches_mmc() -> None:
    loss, q = mmck(3.0, 1.0, 4, 500), mmc(3.0, 1.0, 4)
    assert loss.p_block < 1e-50
    assert loss.mean_response_s == pytest.approx(q.mean_response_s, rel=1e-9)
    assert mmck(0.0, 1.0, 2, 3).p_block == 0.0
    with pytest.raises(ValueError, match="capacity"):
        mmck(1.0, 1.0, 3, 2)


def test_mg1_ps() -> None:
    assert mg1_ps_mean_response(0.5, 1.0) == pytest.approx(2.0)
    assert mg1_ps_conditional_response(0.5, 1.0, 0.25) == pytest.approx(0.5)
    assert mg1_ps_mean_response(0.5, 1.0) == pytest.approx(mm1(0.5, 1.0).mean_response_s)
    with pytest.raises(ValueError, match="unstable"):
        mg1_ps_mean_response(2.0, 0.5)


def test_mva_single_server_agrees() -> None:
    for n in (1, 2, 7, 40):
        a = mva_machine_repairman(n, 2.0, 0.3)
        b = mva_closed(n, 2.0, [0.3])
        assert a.throughput == pytest.approx(b.throughput, rel=1e-12)
        assert a.mean_response_s == pytest.approx(b.mean_response_s, rel=1e-12)
        assert a.mean_in_station == pytest.approx(b.mean_in_station, rel=1e-12)


def test_mva_one_client_and_no_queueing() -> None:
    assert mva_machine_repairman(1, 4.0, 1.0, 3).throughput == pytest.approx(1 / 5)
    assert mva_closed(1, 4.0, [0.5, 0.25]).throughput == pytest.approx(1 / 4.75)
    r = mva_machine_repairman(8, 1.0, 0.5, servers=8)
    assert r.mean_response_s == pytest.approx(0.5, rel=1e-12)
    assert r.throughput == pytest.approx(8 / 1.5)
    assert mva_machine_repairman(5, 0.0, 1.0, 2).throughput == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("n", "z", "s", "m"),
    [(10, 1.0, 0.5, 3), (200, 0.5, 0.01, 4), (3000, 1.0, 1.0, 2000), (6000, 1.0, 1.0, 1000)],
)
def test_mva_multiserver_matches_birth_death(n: int, z: float, s: float, m: int) -> None:
    r = mva_machine_repairman(n, z, s, m)
    x, q = _finite_source(n, z, s, m)
    assert r.throughput == pytest.approx(x, rel=1e-9)
    assert r.mean_in_station == pytest.approx(q, rel=1e-9)
    assert r.mean_in_station == pytest.approx(r.throughput * r.mean_response_s, rel=1e-12)


def test_mva_argument_errors() -> None:
    with pytest.raises(ValueError):
        mva_machine_repairman(0, 1.0, 1.0)
    with pytest.raises(ValueError):
        mva_machine_repairman(3, 1.0, 1.0, servers=0)
    with pytest.raises(ValueError):
        mva_closed(3, 1.0, [])
    with pytest.raises(ValueError, match="unbounded"):
        mva_closed(3, 0.0, [0.0])
    with pytest.raises(ValueError, match="cannot exceed"):
        closed_bounds(3, 1.0, 0.5, 0.6)


def test_closed_bounds_textbook() -> None:
    lower, upper = closed_bounds(1, 4.0, 1.0, 0.5)
    assert lower == pytest.approx(0.2) and upper == pytest.approx(0.2)
    lower, upper = closed_bounds(100, 1.0, 1.0, 0.5)
    assert upper == pytest.approx(2.0) and lower >= 100 / (100 * 1.0 + 1.0)


@settings(max_examples=200, deadline=None)
@given(c=st.integers(1, 300), frac=st.floats(0.0, 0.999))
def test_erlang_c_at_least_b(c: int, frac: float) -> None:
    a = frac * c
    assert erlang_b(c, a) <= erlang_c(c, a) * (1 + 1e-12) <= 1.0 + 1e-12


@settings(max_examples=100, deadline=None)
@given(c=st.integers(1, 50), k_extra=st.integers(0, 50), a=st.floats(0.01, 100.0))
def test_p_block_decreases_with_k(c: int, k_extra: int, a: float) -> None:
    small = mmck(a, 1.0, c, c + k_extra)
    big = mmck(a, 1.0, c, c + k_extra + 1)
    assert big.p_block <= small.p_block * (1 + 1e-12)
    assert big.throughput >= small.throughput * (1 - 1e-12)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 60),
    z=st.floats(0.0, 10.0),
    s=st.floats(0.001, 2.0),
    m=st.integers(1, 16),
)
def test_mva_throughput_monotone_and_bounded(n: int, z: float, s: float, m: int) -> None:
    prev = 0.0
    for k in range(1, n + 1):
        x = mva_machine_repairman(k, z, s, m).throughput
        assert x >= prev * (1 - 1e-12)
        assert x <= min(k / (z + s), m / s) * (1 + 1e-12)
        prev = x


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(1, 80),
    z=st.floats(0.0, 10.0),
    demands=st.lists(st.floats(0.001, 2.0), min_size=1, max_size=6),
)
def test_mva_closed_within_bounds(n: int, z: float, demands: list[float]) -> None:
    x = mva_closed(n, z, demands).throughput
    lower, upper = closed_bounds(n, z, sum(demands), max(demands))
    assert lower * (1 - 1e-9) <= x <= upper * (1 + 1e-9)
    if n > 1:
        assert x >= mva_closed(n - 1, z, demands).throughput * (1 - 1e-12)

"""Tests for the Universal Scalability Law fit, with parity cases from the R package ``usl``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpmsim.calibration.usl import USLFit, fit_usl, usl_throughput

# R usl tests/coef.R and tests/usl-nls.R: coef(u) -> alpha 0.02, beta 0.02, gamma 1.00
R_LOAD = [1, 2, 4, 6, 8, 10]
R_TPUT = [1, 1.8868, 3.0769, 3.5294, 3.5398, 3.3557]

# R usl data(specsdm91), expected values from tests/summary.Rout.save etc.
SDM_LOAD = [1, 18, 36, 72, 108, 144, 216]
SDM_TPUT = [64.9, 995.9, 1652.4, 1853.2, 1828.9, 1775.0, 1702.2]


def _signif(x: float, digits: int) -> float:
    return float(f"{x:.{digits - 1}e}")


def test_r_usl_coef_parity() -> None:
    fit = fit_usl(R_LOAD, R_TPUT)
    assert _signif(fit.alpha, 3) == 0.02
    assert _signif(fit.beta, 3) == 0.02
    assert _signif(fit.gamma, 3) == 1.00
    assert fit.n_points == 6
    assert fit.peak_concurrency == 7  # floor(sqrt(0.98 / 0.02)) = floor(7.0000...)


def test_r_usl_specsdm91_summary_parity() -> None:
    fit = fit_usl(SDM_LOAD, SDM_TPUT)
    # summary(u): estimates, standard errors, residual standard error, R-squared
    assert _signif(fit.alpha, 4) == 2.773e-02
    assert _signif(fit.beta, 4) == 1.044e-04
    assert _signif(fit.gamma, 4) == 9.000e01
    assert _signif(fit.alpha_stderr, 4) == 9.122e-03
    assert _signif(fit.beta_stderr, 4) == 1.988e-05
    assert _signif(fit.gamma_stderr, 4) == 1.421e01
    assert round(fit.residual_std_error, 2) == 82.85
    assert round(fit.r_squared, 4) == 0.9896
    # peak.scalability(u) -> signif 97; limit.scalability(u) = gamma / alpha -> 3245.589
    assert _signif(fit.peak_load, 2) == 97
    assert fit.gamma / fit.alpha == pytest.approx(3245.589, rel=1e-4)


def test_exact_synthetic_round_trip() -> None:
    loads = [1, 2, 4, 8, 16, 32, 64]
    tput = usl_throughput(np.array(loads), 0.05, 0.001, 250.0)
    fit = fit_usl(loads, list(tput))
    assert fit.alpha == pytest.approx(0.05, rel=1e-9)
    assert fit.beta == pytest.approx(0.001, rel=1e-9)
    assert fit.gamma == pytest.approx(250.0, rel=1e-9)
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.rmse < 1e-8


def test_peak_concurrency_formula() -> None:
    fit = USLFit(0.1, 0.002, 10.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 5)
    assert fit.peak_load == pytest.approx(math.sqrt(0.9 / 0.002))
    assert fit.peak_concurrency == math.floor(math.sqrt(0.9 / 0.002)) == 21
    assert fit.peak_throughput == pytest.approx(10.0 * 21 / (1 + 0.1 * 20 + 0.002 * 21 * 20))
    # the integer peak is within one step of the curve's true maximum
    grid = np.arange(1, 200)
    assert int(grid[np.argmax(fit.predict(grid))]) in (21, 22)
    no_coherency = USLFit(0.25, 0.0, 8.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 5)
    assert math.isinf(no_coherency.peak_concurrency)
    assert no_coherency.peak_throughput == pytest.approx(32.0)  # gamma / alpha asymptote
    d = fit.as_dict()
    assert d["peak_concurrency"] == 21 and d["alpha"] == 0.1


def test_predict_scalar_and_array() -> None:
    fit = fit_usl(R_LOAD, R_TPUT)
    assert isinstance(fit.predict(4.0), float)
    arr = fit.predict(np.array([1.0, 2.0, 4.0]))
    assert isinstance(arr, np.ndarray) and arr.shape == (3,)
    assert arr[2] == pytest.approx(fit.predict(4.0))


def test_three_points_gives_nan_stderr() -> None:
    fit = fit_usl([1, 4, 16], list(usl_throughput([1.0, 4.0, 16.0], 0.1, 0.01, 5.0)))
    assert fit.alpha == pytest.approx(0.1, rel=1e-6)
    assert math.isnan(fit.alpha_stderr) and math.isnan(fit.residual_std_error)


@pytest.mark.parametrize(
    ("load", "tput", "match"),
    [
        ([1, 2], [1, 2], "at least 3"),
        ([1, 2, 3], [1, 2], "differ in length"),
        ([0, 1, 2], [0, 1, 2], "load must be > 0"),
        ([1, 2, 3], [1, -2, 3], "throughput"),
        ([1, 1, 2], [1, 1, 2], "distinct"),
        ([1, 2, math.nan], [1, 2, 3], "finite"),
    ],
)
def test_invalid_input(load: list[float], tput: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit_usl(load, tput)


@settings(max_examples=200, deadline=None)
@given(
    # (0, 0.2) open interval; below ~1e-9 the parameter no longer moves double-precision data
    alpha=st.floats(1e-9, 0.2, exclude_max=True),
    beta=st.floats(1e-9, 0.2, exclude_max=True),
    gamma=st.floats(0.5, 100.0, exclude_min=True, exclude_max=True),
)
def test_noise_free_recovery(alpha: float, beta: float, gamma: float) -> None:
    loads = np.arange(1, 33, dtype=np.float64)
    fit = fit_usl(list(loads), list(usl_throughput(loads, alpha, beta, gamma)))
    assert fit.alpha == pytest.approx(alpha, rel=1e-4)
    assert fit.beta == pytest.approx(beta, rel=1e-4)
    assert fit.gamma == pytest.approx(gamma, rel=1e-4)


def test_groups_fit_per_mpm_and_skip_short_groups() -> None:
    """Measured runs are fitted per (MPM, tool, keep-alive, content); two levels are too few."""
    from dataclasses import replace

    from mpmsim.calibration.usl import fit_usl_groups
    from mpmsim.workloads.readers import MeasuredRun

    def run(mpm: str, c: int, x: float) -> MeasuredRun:
        return MeasuredRun(
            run_id=f"{mpm}-{c}", scenario="S", mpm=mpm, directives={}, lua_scope=None,
            mrw_effective=400, threads_per_child=25, server_limit=16, content="static",
            url="/", tool="ab", concurrency=c, keepalive=False, duration_s=10.0,
            requests_completed=int(x * 10), req_per_s=x,
        )  # fmt: skip

    curve = [run("event", int(n), float(usl_throughput(n, 0.02, 0.02, 1.0))) for n in R_LOAD]
    # two repeats at N = 1 on either side of the curve: the median per level is the curve's value
    low, high = (replace(curve[0], req_per_s=curve[0].req_per_s * k) for k in (0.7, 1.3))
    short = [run("prefork", 1, 1.0), run("prefork", 2, 1.9)]
    fits = fit_usl_groups([*curve, low, high, *short])
    assert [f["group"] for f in fits] == ["event/ab/ka0/static"]
    (f,) = fits
    assert f["points"] == len(R_LOAD)
    assert f["sigma"] == pytest.approx(0.02, rel=1e-3)
    assert f["kappa"] == pytest.approx(0.02, rel=1e-3)
    assert f["gamma"] == pytest.approx(1.0, rel=1e-3)


def test_the_command_line_says_when_the_curve_has_no_peak() -> None:
    """kappa 3.9e-31 put the 'peak' at 7.6e14 clients: said as no peak within ten times the
    clients tested; a real peak as whole clients."""
    from mpmsim.cli.calibrate import _usl_peak

    flat = {"peak_concurrency": 756180410492397.0, "max_concurrency": 400, "peak_throughput": 1.0}
    assert _usl_peak(flat) == "no peak within 10x the 400 clients tested (levels off)"
    assert _usl_peak(flat | {"peak_concurrency": float("inf")}).startswith("no peak")
    real = {"peak_concurrency": 89.0, "max_concurrency": 400, "peak_throughput": 12345.6}
    assert _usl_peak(real) == "peak at 89 clients (12346 req/s)"

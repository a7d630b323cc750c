"""Fit Gunther's Universal Scalability Law (USL) to measured (load, throughput) points.

Follows the R package ``usl`` (Stefan Möding, version >= 2.0) exactly::

    X(N) = gamma * N / (1 + alpha * (N - 1) + beta * N * (N - 1))

``alpha`` (Gunther's sigma) models contention, ``beta`` (kappa) coherency delay, and ``gamma``
is the throughput at N = 1. As in R ``usl`` >= 2.0, ``gamma`` is a *free* parameter estimated
jointly with ``alpha`` and ``beta`` on the raw, un-normalised data (the older 1.x releases
instead divided the data by a "scale factor" taken from the N = 1 point and fitted only sigma
and kappa). R minimises the plain sum of squared residuals with ``nlsr::nlxb`` (default) or
``nls(algorithm = "port")`` under the bounds 0 <= alpha, beta <= 1 and gamma >= 0, starting at
``gamma = max(X / N)``, ``alpha = 0.01``, ``beta = 0.0001``; we do the same with
``scipy.optimize.least_squares`` (plus a second, linearised start, keeping the better optimum).
Standard errors are R's: ``s^2 = SSE / (n - 3)`` and ``cov = s^2 (J^T J)^-1``, with J the
Jacobian of the model at the optimum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, overload

import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares

from mpmsim.workloads.readers import MeasuredRun

__all__ = ["USLFit", "fit_usl", "fit_usl_groups", "usl_throughput"]

FloatArray = npt.NDArray[np.float64]
Loads = Sequence[float] | npt.NDArray[Any]

_MIN_POINTS = 3


@overload
def usl_throughput(n: float, alpha: float, beta: float, gamma: float) -> float: ...
@overload
def usl_throughput(n: Loads, alpha: float, beta: float, gamma: float) -> FloatArray: ...
def usl_throughput(n: float | Loads, alpha: float, beta: float, gamma: float) -> float | FloatArray:
    """Evaluate the USL ``gamma N / (1 + alpha (N-1) + beta N (N-1))`` at load(s) ``n``."""
    arr = np.asarray(n, dtype=np.float64)
    x = gamma * arr / (1.0 + alpha * (arr - 1.0) + beta * arr * (arr - 1.0))
    return float(x) if x.ndim == 0 else x


@dataclass(frozen=True)
class USLFit:
    """Fitted USL coefficients with goodness-of-fit and peak-scalability figures.

    ``alpha`` is Gunther's sigma (contention), ``beta`` his kappa (coherency), ``gamma`` the
    single-user throughput. ``rmse`` is ``sqrt(SSE / n)``; ``residual_std_error`` is R's
    ``sigma()``, ``sqrt(SSE / (n - 3))`` (NaN for 3 points, as are the standard errors).
    """

    alpha: float
    beta: float
    gamma: float
    alpha_stderr: float
    beta_stderr: float
    gamma_stderr: float
    r_squared: float
    rmse: float
    residual_std_error: float
    n_points: int

    @overload
    def predict(self, n: float) -> float: ...
    @overload
    def predict(self, n: Loads) -> FloatArray: ...
    def predict(self, n: float | Loads) -> float | FloatArray:
        """Predicted throughput at load(s) ``n`` (R's ``predict`` / ``scalability``)."""
        return usl_throughput(n, self.alpha, self.beta, self.gamma)

    @property
    def peak_load(self) -> float:
        """R's ``peak.scalability``: ``sqrt((1 - alpha) / beta)``, unrounded (inf if beta = 0)."""
        if self.beta <= 0.0:
            return math.inf
        return math.sqrt(max(0.0, 1.0 - self.alpha) / self.beta)

    @property
    def peak_concurrency(self) -> float:
        """Integer load of peak throughput: ``floor(peak_load)``, at least 1 (inf if beta = 0)."""
        peak = self.peak_load
        return peak if math.isinf(peak) else float(max(1, math.floor(peak)))

    @property
    def peak_throughput(self) -> float:
        """Throughput at ``peak_concurrency``; the asymptote ``gamma / alpha`` if beta = 0."""
        n = self.peak_concurrency
        if math.isinf(n):
            return self.gamma / self.alpha if self.alpha > 0.0 else math.inf
        return self.predict(n)

    def as_dict(self) -> dict[str, float | int]:
        """Plain dict of all fields plus the derived peak figures."""
        out: dict[str, float | int] = asdict(self)
        out["peak_load"] = self.peak_load
        out["peak_concurrency"] = self.peak_concurrency
        out["peak_throughput"] = self.peak_throughput
        return out


def _validate(load: Sequence[float], throughput: Sequence[float]) -> tuple[FloatArray, FloatArray]:
    """Return ``(N, X)`` as float arrays or raise ``ValueError`` on unusable input."""
    n = np.asarray(load, dtype=np.float64).ravel()
    x = np.asarray(throughput, dtype=np.float64).ravel()
    if n.size != x.size:
        raise ValueError(f"load and throughput differ in length ({n.size} != {x.size})")
    if n.size < _MIN_POINTS:
        raise ValueError(
            f"fitting the USL (alpha, beta, gamma) needs at least {_MIN_POINTS} points, "
            f"got {n.size}"
        )
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(x))):
        raise ValueError("load and throughput must be finite")
    if np.any(n <= 0.0):
        raise ValueError("every load must be > 0")
    if np.any(x < 0.0) or not np.any(x > 0.0):
        raise ValueError("throughput must be >= 0 with at least one positive value")
    if np.unique(n).size < _MIN_POINTS:
        raise ValueError(f"need at least {_MIN_POINTS} distinct load levels to fit the USL")
    return n, x


def _residuals(p: FloatArray, n: FloatArray, x: FloatArray) -> FloatArray:
    return usl_throughput(n, float(p[0]), float(p[1]), float(p[2])) - x


def _jacobian(p: FloatArray, n: FloatArray, x: FloatArray) -> FloatArray:
    """d model / d(alpha, beta, gamma), as in R ``usl``'s ``gradient.usl``."""
    alpha, beta, gamma = p
    d = 1.0 + alpha * (n - 1.0) + beta * n * (n - 1.0)
    g = -gamma * n / (d * d)
    return np.column_stack([g * (n - 1.0), g * n * (n - 1.0), n / d])


def _linear_start(n: FloatArray, x: FloatArray) -> FloatArray | None:
    """Start from the exact linearisation ``N/X = (1 + alpha (N-1) + beta N (N-1)) / gamma``."""
    keep = x > 0.0
    nk = n[keep]
    design = np.column_stack([np.ones_like(nk), nk - 1.0, nk * (nk - 1.0)])
    coef, *_ = np.linalg.lstsq(design, nk / x[keep], rcond=None)
    if not np.all(np.isfinite(coef)) or coef[0] <= 0.0:
        return None
    return np.array([coef[1] / coef[0], coef[2] / coef[0], 1.0 / coef[0]])


def fit_usl(load: Sequence[float], throughput: Sequence[float]) -> USLFit:
    """Least-squares USL fit of ``throughput`` against ``load`` (R ``usl`` semantics).

    Raises ``ValueError`` for fewer than 3 points (or 3 distinct loads), non-positive loads,
    negative or non-finite values.
    """
    n, x = _validate(load, throughput)
    lower = np.array([0.0, 0.0, 0.0])
    upper = np.array([1.0, 1.0, np.inf])
    starts = [np.array([0.01, 0.0001, float(np.max(x / n))])]  # R usl's start values
    lin = _linear_start(n, x)
    if lin is not None:
        starts.append(lin)
    best = None
    for x0 in starts:
        # keep the start strictly inside the box, as least_squares(method="trf") requires
        x0 = np.clip(x0, [1e-12, 1e-12, 1e-12], [1.0 - 1e-12, 1.0 - 1e-12, np.inf])
        res = least_squares(
            _residuals,
            x0,
            jac=_jacobian,
            bounds=(lower, upper),
            args=(n, x),
            method="trf",
            x_scale="jac",
            xtol=1e-15,
            ftol=1e-15,
            gtol=1e-15,
            max_nfev=10_000,
        )
        if best is None or res.cost < best.cost:
            best = res
    assert best is not None
    p = np.asarray(best.x, dtype=np.float64)
    resid = _residuals(p, n, x)
    sse = float(resid @ resid)
    sst = float(np.sum((x - np.mean(x)) ** 2))
    dof = n.size - 3
    rv = sse / dof if dof > 0 else math.nan
    jac = _jacobian(p, n, x)
    try:
        cov = np.linalg.inv(jac.T @ jac) * rv
        stderr = np.sqrt(np.abs(np.diag(cov)))
    except np.linalg.LinAlgError:
        stderr = np.full(3, math.nan)
    return USLFit(
        alpha=float(p[0]),
        beta=float(p[1]),
        gamma=float(p[2]),
        alpha_stderr=float(stderr[0]),
        beta_stderr=float(stderr[1]),
        gamma_stderr=float(stderr[2]),
        r_squared=1.0 - sse / sst if sst > 0.0 else math.nan,
        rmse=math.sqrt(sse / n.size),
        residual_std_error=math.sqrt(rv),
        n_points=int(n.size),
    )


def fit_usl_groups(runs: Sequence[MeasuredRun]) -> list[dict[str, Any]]:
    """USL per (MPM, tool, keep-alive, content) over concurrency (median throughput per level).

    Groups with fewer than three concurrency levels, or where the fit fails, are left out.
    """
    groups: dict[tuple[str, str, bool, str], dict[int, list[float]]] = {}
    for r in runs:
        key = (r.mpm, r.tool, r.keepalive, r.content)
        groups.setdefault(key, {}).setdefault(int(r.concurrency), []).append(r.req_per_s)
    out = []
    for key, levels in sorted(groups.items()):
        if len(levels) < 3:
            continue
        n = sorted(levels)
        x = [float(np.median(levels[c])) for c in n]
        try:
            f = fit_usl([float(c) for c in n], x)
        except ValueError:
            continue
        out.append(
            {
                "group": f"{key[0]}/{key[1]}/ka{int(key[2])}/{key[3]}",
                "sigma": f.alpha, "kappa": f.beta, "gamma": f.gamma,
                "peak_concurrency": f.peak_concurrency, "peak_throughput": f.peak_throughput,
                "r_squared": f.r_squared, "points": len(n), "max_concurrency": n[-1],
            }
        )  # fmt: skip
    return out

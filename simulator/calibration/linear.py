"""The linear fits of calibrate's first stage: bounded, robust least squares on relative errors.

Both the Apache fit (``fit``) and the PHP fit (``php_fit``) solve ``a @ p ~ b`` for costs
``p >= 0`` with ``scipy.optimize.least_squares`` (soft-L1 loss, so a few rows the model cannot
explain do not drag the fit), standard errors from the Jacobian at the optimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares


@dataclass(frozen=True)
class ParamFit:
    """Fitted values with standard errors, and how well the linear model fits."""

    values: dict[str, float]
    stderr: dict[str, float]
    rows_used: int
    rms_rel_error: float


def robust_linear(
    a: np.ndarray, b: np.ndarray, obs: np.ndarray, start: np.ndarray, names: list[str],
    rows_used: int,
) -> ParamFit:  # fmt: skip
    """Minimise soft-L1 of relative errors of ``a @ p`` against ``b``, with ``p >= 0``."""
    scale = np.maximum(np.abs(obs), 1e-9)

    def resid(p: np.ndarray) -> np.ndarray:
        return np.asarray((a @ p - b) / scale)

    sol = least_squares(
        resid, start, jac=lambda _p: a / scale[:, None], bounds=(0.0, np.inf), loss="soft_l1",
        f_scale=0.05, xtol=1e-12, ftol=1e-12, gtol=1e-12,
    )  # fmt: skip
    r = resid(sol.x)
    dof = max(len(r) - len(start), 1)
    s2 = float(r @ r) / dof
    j = a / scale[:, None]
    try:
        cov = np.linalg.pinv(j.T @ j) * s2
        err = np.sqrt(np.maximum(np.diag(cov), 0.0))
    except np.linalg.LinAlgError:
        err = np.full(len(start), math.nan)
    return ParamFit(
        values={n: float(v) for n, v in zip(names, sol.x, strict=True)},
        stderr={n: float(e) for n, e in zip(names, err, strict=True)},
        rows_used=rows_used,
        rms_rel_error=float(math.sqrt(float(np.mean(r * r)))),
    )

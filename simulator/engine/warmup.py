"""Warm-up detection: MSER-5 (White 1997) on the response times in completion order."""

from __future__ import annotations

import numpy as np


def mser5_truncation(values: np.ndarray, batch: int = 5) -> int:
    """How many leading observations to discard, by MSER on batch means of ``batch``.

    Minimises ``var(tail) / len(tail)`` over truncation points in the first half of the run
    (White, "An effective truncation heuristic for bias reduction in simulation output", 1997).
    """
    n_batches = len(values) // batch
    if n_batches < 4:
        return 0
    means = values[: n_batches * batch].reshape(n_batches, batch).mean(axis=1)
    # Statistics of every suffix means[d:], computed from reversed cumulative sums.
    rev = means[::-1]
    count = np.arange(1, n_batches + 1, dtype=float)
    s1 = np.cumsum(rev)
    s2 = np.cumsum(rev * rev)
    var = np.maximum(s2 / count - (s1 / count) ** 2, 0.0)
    score = (var / count)[::-1]  # score[d] for the suffix starting at batch d
    half = n_batches // 2
    d = int(np.argmin(score[: half + 1]))
    return d * batch


def auto_warmup_s(t_end: np.ndarray, latency: np.ndarray) -> float:
    """Warm-up in seconds: the completion time of the last request MSER-5 discards."""
    if len(t_end) == 0:
        return 0.0
    order = np.argsort(t_end, kind="stable")
    cut = mser5_truncation(latency[order])
    return float(t_end[order][cut - 1]) if cut > 0 else 0.0

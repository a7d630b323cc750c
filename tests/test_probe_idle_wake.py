"""benchmarks/probe_idle_wake.py: its points, and its fit of the hardware's idle_wake."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from probe_idle_wake import Rest, fit, points


def test_points_are_paced_keepalive_clients_mpm_major() -> None:
    pts = points(["prefork", "event"], [10, 50], [2.0, 40.0])
    assert [(p.mpm, p.c, p.rate) for p in pts[:3]] == [
        ("prefork", 10, 2.0), ("prefork", 10, 40.0), ("prefork", 50, 2.0),
    ]  # fmt: skip
    assert len(pts) == 8
    assert all(p.tool == "kaclient" and p.keepalive and p.campaign == "idle-wake" for p in pts)
    assert len({(p.mpm, p.c, p.tag) for p in pts}) == 8  # each row its own run id


def _rest(idle_ms: float, base_ms: float, wake: float, per_ms: float, cap: float) -> Rest:
    extra_us = min(wake + per_ms * idle_ms, cap)
    return Rest(f"r{idle_ms}", 1.0 / idle_ms, idle_ms, base_ms + extra_us / 1000.0, base_ms)


def test_the_fit_finds_the_cost_that_made_the_rows() -> None:
    rows = [_rest(g, b, 46.0, 23.0, 260.0) for g in (0.2, 0.5, 2.0, 4.0, 10.0, 25.0, 50.0)
            for b in (0.055, 0.065)]  # fmt: skip
    wake, per_ms, cap, rms = fit(rows, halt_after_us=100.0)
    assert (wake, per_ms, cap) == (46.0, 23.0, 260.0)
    assert rms == pytest.approx(0.0, abs=1e-9)


def test_spells_under_the_halt_cost_nothing_in_the_fit() -> None:
    # a row whose spell the vCPU polled through is fitted at its base whatever the cost
    rows = [_rest(g, 0.06, 40.0, 20.0, 200.0) for g in (1.0, 3.0, 12.0, 30.0)]
    rows.append(Rest("polled", 20_000.0, 0.05, 0.06, 0.06))
    wake, per_ms, cap, rms = fit(rows, halt_after_us=100.0)
    assert (wake, per_ms, cap) == (40.0, 20.0, 200.0) and rms == pytest.approx(0.0, abs=1e-9)

"""calibrate fits the mechanisms' parameters: tasks alive per switch, the client's connection."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpmsim.calibration.fit import calibrate
from mpmsim.models.costs import load_costs
from mpmsim.models.hardware import load_hardware
from mpmsim.workloads.readers import read_measurements

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "apache-bench" / "runs.csv"


@pytest.mark.skipif(not SHARED.is_file(), reason="the shared measurements are not here")
def test_calibrate_fits_switch_cost_per_task_and_client_connection() -> None:
    """On the shared set both come out positive, and the fitted model carries them."""
    runs = read_measurements(SHARED)
    cal = calibrate(runs, load_costs("default"), load_hardware("bench-1core"), simulate=False)
    assert cal.costs.switch_us_per_task > 0.0
    assert cal.cpu_fit.stderr["switch_us_per_task"] < cal.costs.switch_us_per_task / 3
    assert 0.0 < cal.costs.client_conn_ms < 0.2

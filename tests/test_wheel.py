"""The package as a user installs it: build the wheel, install it elsewhere, run an example.

Installs with ``--no-deps`` into a temporary folder and runs it with this interpreter (whose
environment has the dependencies), from a directory outside the repository, so the test shows
that the hardware profiles, cost models and examples travel inside the wheel as package data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.helpers import REPO


def test_wheel_carries_its_data_and_runs_from_elsewhere(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(REPO)],
        check=True, timeout=300,
    )  # fmt: skip
    wheel = next(dist.glob("mpmsim-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in (
        "mpmsim/models/hardware/t3.medium.yaml",
        "mpmsim/models/costs/default.yaml",
        "mpmsim/workloads/examples/primer-ab-event.yaml",
        "mpmsim/py.typed",
    ):
        assert needed in names
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True, timeout=300,
    )  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(target))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def mpmsim(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mpmsim", *args],
            cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    listed = mpmsim("examples", "--copy", "ex")
    assert listed.returncode == 0, listed.stderr
    proc = mpmsim("run", "ex/primer-ab-worker.yaml", "--json", "--replications", "1")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["mpm"] == "worker" and data["throughput_rps"] > 0
    # The code that ran is the installed copy, not the repository's.
    where = subprocess.run(
        [sys.executable, "-c", "import mpmsim; print(mpmsim.__file__)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert where.stdout.startswith(str(target))

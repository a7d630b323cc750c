"""Engine features beyond the MPMs: burst credits, the OOM killer, warm-up, config files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mpmsim.engine.replications import run_prepared
from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.resolve import prepare
from tests.helpers import REPO, prepared, scenario_dict

CPU_BOUND = {"kind": "closed", "clients": 20, "duration_s": 120.0}


def _burst_hw(credits: float, mode: str) -> dict[str, object]:
    return {
        "vcpus": 2, "ram_mib": 4096, "os_reserved_mib": 0, "context_switch_us": 0,
        "burst": {"baseline_fraction": 0.2, "credits_initial": credits, "credits_max": 576,
                  "credits_per_hour": 24, "mode": mode},
    }  # fmt: skip


def test_standard_burst_throttles_to_the_baseline_when_credits_run_out() -> None:
    """2 vCPUs busy spend 2 credits a minute: 1 credit lasts about 31 s, then 20 % of 2 vCPUs."""
    prep = prepared(
        hardware=_burst_hw(1.0, "standard"), load=CPU_BOUND, sample_interval_s=1.0,
        mix=[{"name": "r", "cpu_ms": 2.0}],
    )  # fmt: skip
    res = run_prepared(prep, 1)
    series = res.series_frame()
    early = series[series.t_s < 25]["cpu_utilization"].mean()
    late = series[series.t_s > 60]["cpu_utilization"].mean()
    assert early == pytest.approx(1.0, abs=0.02)
    assert late == pytest.approx(0.2, abs=0.03)  # utilisation of the 2 vCPUs at the baseline
    first_throttle = series[series.throttled > 0].t_s.min()
    # 1 credit at a net drain of 2/60 - 24/3600 credits per second
    assert first_throttle == pytest.approx(1.0 / (2 / 60 - 24 / 3600), abs=1.5)
    assert res.to_dict()["cpu_credits"]["throttled_fraction"] > 0.5


def test_a_launch_with_no_credits_runs_at_the_baseline_from_the_start() -> None:
    """A T3 launches with 0 credits: throttled at once (this used to spin at time 0 forever)."""
    prep = prepared(
        hardware=_burst_hw(0.0, "standard"), load=dict(CPU_BOUND, duration_s=30.0),
        mix=[{"name": "r", "cpu_ms": 2.0}],
    )  # fmt: skip
    data = run_prepared(prep, 1).to_dict()
    assert data["cpu_utilization"] == pytest.approx(0.2, abs=0.02)
    assert data["cpu_credits"]["throttled_fraction"] > 0.95
    # 20 % of 2 vCPUs at 2 ms a request
    assert data["throughput_rps"] == pytest.approx(0.4 / 0.002, rel=0.05)


def test_unlimited_burst_keeps_full_speed_and_counts_surplus() -> None:
    prep = prepared(
        hardware=_burst_hw(1.0, "unlimited"), load=CPU_BOUND, mix=[{"name": "r", "cpu_ms": 2.0}]
    )
    data = run_prepared(prep, 1).to_dict()
    assert data["cpu_utilization"] == pytest.approx(1.0, abs=0.02)
    # 120 s x 2 vCPUs = 4 credits spent, 120 s x 24/3600 earned, 1 in the bank
    assert data["cpu_credits"]["surplus_used"] == pytest.approx(4 - 0.8 - 1, abs=0.1)


def test_ram_exhaustion_kills_the_largest_child() -> None:
    prep = prepared(
        hardware={"vcpus": 2, "ram_mib": 200, "os_reserved_mib": 0},
        costs={"base": "default", "process_mib": 20.0},
        server={"mpm": "prefork", "directives": {"MaxRequestWorkers": 50, "StartServers": 2}},
        load={"kind": "closed", "clients": 40, "duration_s": 8.0},
        mix=[{"name": "slow", "cpu_ms": 0.5, "wait_ms": 500}],
    )
    data = run_prepared(prep, 1).to_dict()
    assert data["ram_exceeded"]
    assert data["bottleneck"]["resource"] == "ram"
    assert any(line["code"] == "OOM" for line in data["error_log"])
    assert data["errors"]["reset"] > 0


def test_ab_k_with_more_clients_than_workers_answers_every_request() -> None:
    """``ab -k -n 1000 -c 10`` against 5 prefork children: a client whose share is done closes
    its connection, so the last requests in the accept queue get a child (they used to wait for
    ever: the run stopped at its one-day limit with 996 answered)."""
    prep = prepared(
        server={"mpm": "prefork", "directives": {"MaxRequestWorkers": 5, "StartServers": 5}},
        load={"kind": "closed", "clients": 10, "requests": 1000, "keepalive": True},
        mix=[{"name": "r", "cpu_ms": 0.5}],
    )
    data = run_prepared(prep, 1).to_dict()
    assert data["completed"] == 1000
    assert data["sim"]["simulated_s"] < 1.0  # 1000 x 0.5 ms on one vCPU, and the tail


def test_auto_warmup_drops_the_cold_start() -> None:
    prep = prepared(
        server={"mpm": "prefork", "directives": {"StartServers": 2, "MinSpareServers": 2}},
        load={"kind": "closed", "clients": 50, "duration_s": 30.0},
        mix=[{"name": "w", "cpu_ms": 0.1, "wait_ms": {"dist": "exponential", "mean": 100}}],
        warmup_s="auto",
    )
    rec = run_prepared(prep, 1).records[0]
    assert 0.5 < rec["warmup_s"] < 15.0


def test_config_file_supplies_the_mpm_and_directives(tmp_path: Path) -> None:
    conf = tmp_path / "httpd.conf"
    conf.write_text(
        "LoadModule mpm_worker_module /usr/lib/apache2/modules/mod_mpm_worker.so\n"
        "<IfModule mpm_worker_module>\n  ThreadsPerChild 10\n  MaxRequestWorkers 95\n"
        "</IfModule>\n<IfModule mpm_prefork_module>\n  MaxRequestWorkers 7\n</IfModule>\n"
        "KeepAliveTimeout 3\n"
    )
    data = scenario_dict(server={"config_file": str(conf), "directives": {"KeepAlive": "Off"}})
    prep = prepare(load_scenario_data(data), base_dir=tmp_path)
    assert prep.mpm == "worker"
    d = prep.directives
    assert (d.ThreadsPerChild, d.MaxRequestWorkers, d.KeepAliveTimeout) == (10, 90, 3)
    assert not d.KeepAlive  # the scenario's directives win over the file's
    assert any("AH00316" in w for w in prep.warnings)  # 95 rounded down to 90


def test_shipped_cost_models_load() -> None:
    """Every cost file in models/costs is in the catalog under its name, read as written."""
    from mpmsim.models.costs import CostModel, cost_catalog, load_costs

    files = sorted((REPO / "models" / "costs").glob("*.yaml"))
    catalog = cost_catalog()
    assert sorted(catalog) == [f.stem for f in files]
    assert {"default", "ideal", "bench-1core", "t3-medium-primer"} <= set(catalog)
    for file in files:
        written = CostModel.model_validate(yaml.safe_load(file.read_text(encoding="utf-8")))
        assert catalog[file.stem] == written
        assert load_costs(file.stem) == load_costs(str(file)) == written
    assert catalog["bench-1core"] != catalog["default"]

"""calibrate reads every documented row: paced clients, warm-ups, ab -n, h2load, and says no."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from mpmsim.calibration.fit import calibrate
from mpmsim.calibration.measured import (
    COLD_START_S,
    Setup,
    scenario_for,
    simulate,
    unrepresentable,
)
from mpmsim.calibration.memory_fit import kept_class_memory
from mpmsim.calibration.output import render
from mpmsim.engine.replications import run_prepared
from mpmsim.engine.summary import summarize
from mpmsim.errors import InputError
from mpmsim.models.costs import load_costs
from mpmsim.models.hardware import load_hardware
from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.resolve import prepare
from mpmsim.workloads.readers import MeasuredRun

SEED_WORKER = {"StartServers": 3, "MinSpareThreads": 75, "MaxSpareThreads": 250,
               "ThreadsPerChild": 25, "MaxRequestWorkers": 400}  # fmt: skip


def _row(**fields: Any) -> MeasuredRun:
    """A static-content measured row (ab -c 10 -t 2 on worker unless ``fields`` say else)."""
    base: dict[str, Any] = {
        "run_id": "T-row", "scenario": "T", "mpm": "worker", "directives": dict(SEED_WORKER),
        "lua_scope": None, "mrw_effective": 400, "threads_per_child": 25, "server_limit": 16,
        "content": "static", "url": "/test.html", "tool": "ab", "concurrency": 10,
        "keepalive": False, "duration_s": 2.0, "requests_completed": 20_000, "req_per_s": 10_000.0,
    }  # fmt: skip
    base.update(fields)
    return MeasuredRun(**base)


KACLIENT = _row(
    run_id="S5-worker-static-kaclient-c50-rps1", scenario="S5", tool="kaclient", keepalive=True,
    concurrency=50, rate_per_client=2.0, warmup_s=2.0, duration_s=4.0, req_per_s=100.0,
    extra={"tool_cmd": "python3 kaclient.py -c 50 --rate 2 --warmup 2 --duration 4"},
)  # fmt: skip
# worker: its 3 x 25 threads at start hold all 60 connections (a cold prefork would starve some)
H2LOAD = _row(
    run_id="S5-worker-static-h2load-c60-rps2", scenario="S5", tool="h2load", keepalive=True,
    concurrency=60, rate_per_client=2.0, warmup_s=2.0, duration_s=4.0, req_per_s=120.0,
    extra={"tool_cmd": "h2load --h1 -t 1 -c 60 --rps 2 -D 4 --warm-up-time 2 URL"},
)  # fmt: skip


@pytest.fixture(scope="module")
def setup() -> Setup:
    return Setup(load_hardware("bench-1core"), network_rtt_ms=0.05)


def _rep(run: MeasuredRun, setup: Setup) -> tuple[dict[str, Any], Any]:
    prep = prepare(load_scenario_data(scenario_for(run, load_costs("default"), setup)))
    rep = run_prepared(prep, 1).replications[0]
    return summarize(prep, rep), rep


@pytest.mark.parametrize("run", [KACLIENT, H2LOAD], ids=["kaclient", "h2load-rps"])
def test_a_paced_row_is_simulated_near_clients_times_rate(run: MeasuredRun, setup: Setup) -> None:
    """c x r req/s on a server far from saturation (a closed loop would do ~10 000 req/s)."""
    predicted = simulate(run, load_costs("default"), setup)
    offered = run.concurrency * float(run.rate_per_client or 0)
    assert predicted["req_per_s"] == pytest.approx(offered, rel=0.03)


def test_paced_rows_pick_the_tools_phases(setup: Setup) -> None:
    """kaclient spreads its clients over the second, h2load --rps fires them together."""
    costs = load_costs("default")
    assert scenario_for(KACLIENT, costs, setup)["load"]["rate_phases"] == "spread"
    assert scenario_for(H2LOAD, costs, setup)["load"]["rate_phases"] == "together"
    plain = scenario_for(_row(rate_per_client=1.0), costs, setup)["load"]
    assert "rate_per_client_rps" not in plain  # "blank/1 elsewhere, unused"


def test_a_row_with_a_warm_up_measures_after_it_on_the_same_server(setup: Setup) -> None:
    run = _row(warmup_s=1.5, duration_s=1.0, concurrency=5)
    rec, rep = _rep(run, setup)
    assert rec["warmup_s"] == pytest.approx(COLD_START_S + 1.5)
    assert rec["window_s"] == pytest.approx(1.0, abs=0.01)
    # the warm-up's load ran: requests started from the cold start on
    assert rep.requests["t_start_s"].min() == pytest.approx(COLD_START_S, abs=0.01)


def test_an_ab_n_row_stops_after_n_requests(setup: Setup) -> None:
    run = _row(n_requested=1234, duration_s=30.0, extra={"tool_cmd": "ab -c 10 -n 1234 URL"})
    rec, rep = _rep(run, setup)
    assert rep.counters["sent"] == 1234
    assert rec["completed"] == 1234
    assert rep.end_s < 5.0  # stopped at n, long before duration_s


def test_an_ab_t_row_runs_for_its_duration(setup: Setup) -> None:
    rec, rep = _rep(_row(duration_s=0.8), setup)
    assert rep.end_s == pytest.approx(COLD_START_S + 0.8)
    assert rec["completed"] > 1234


@pytest.mark.parametrize(
    ("run", "reason"),
    [
        (_row(tool="jmeter"), "tool 'jmeter' is not one of"),
        (dataclasses.replace(KACLIENT, rate_per_client=None), "needs rate_per_client"),
        (dataclasses.replace(KACLIENT, keepalive=False), "always keeps its connections alive"),
        (_row(n_requested=5000, warmup_s=10.0), "ab -n after a warm-up"),
        (dataclasses.replace(H2LOAD, mpm="event"), "event closes keep-alive connections"),
        (dataclasses.replace(H2LOAD, warmup_s=100.0), "MaxKeepAliveRequests 100 closes"),
        (dataclasses.replace(H2LOAD, extra={"tool_cmd": "h2load -c 60 --rps 2 URL"}), "HTTP/2"),
        (dataclasses.replace(H2LOAD, extra={"tool_cmd": "h2load --h1 -c 60 URL"}), "without --rps"),
    ],
)  # fmt: skip
def test_a_row_the_simulator_cannot_reproduce_is_named_with_the_reason(
    run: MeasuredRun, reason: str, setup: Setup
) -> None:
    assert reason in (unrepresentable(run) or "")
    with pytest.raises(InputError, match=r"T-row|S5-"):
        scenario_for(run, load_costs("default"), setup)


def test_representable_rows_have_no_reason() -> None:
    assert [unrepresentable(r) for r in (KACLIENT, H2LOAD, _row(), _row(tool="wrk"))] == [None] * 4


def test_calibrate_lists_skipped_rows_and_fits_the_rest() -> None:
    """A row with an unknown tool is neither fitted nor simulated; JSON and text name it."""
    fit_rows = [
        _row(run_id=f"T-{c}", concurrency=c, apache_cpu_ms_per_req=0.08) for c in (10, 50, 100)
    ]
    odd = _row(run_id="S9-odd", tool="siege", apache_cpu_ms_per_req=50.0)
    cal = calibrate([*fit_rows, odd], load_costs("default"), load_hardware("bench-1core"),
                    simulate=False)  # fmt: skip
    assert cal.cpu_fit.rows_used == 3
    assert cal.as_dict()["skipped"] == [
        {"run_id": "S9-odd", "reason": "tool 'siege' is not one of ab, wrk, h2load, kaclient"}
    ]
    assert "row S9-odd: tool 'siege'" in render(cal)
    # the exit's prior is listed as such, with the base's value
    line = next(ln for ln in render(cal).splitlines() if "thread_exit_cpu_ms" in ln)
    assert " 0.1 (not fitted: the base model's prior" in line


def test_replications_predict_a_row_by_the_mean_of_its_simulations(setup: Setup) -> None:
    """Replication i of a row is measured.simulate(..., index=i); compare's figures are their
    mean (a warning kind counts when at least half the replications' parents logged it)."""
    from mpmsim.calibration.check import compare, row_seed, simulate_rows

    run, costs = _row(run_id="T-reps", duration_s=0.6, concurrency=20), load_costs("default")
    seed = row_seed(1, run.run_id)
    reps = [simulate(run, costs, setup, seed, i) for i in range(3)]
    assert reps[0] != reps[1]  # another realisation of the same model
    one = simulate_rows([run], [costs], setup, jobs=1)[0]
    assert one == reps[0]  # one replication is what calibrate always gave
    mean = simulate_rows([run], [costs], setup, jobs=1, replications=3)[0]
    for metric in ("req_per_s", "lat_p95_ms", "peak_pss_mb"):
        assert mean[metric] == pytest.approx(sum(r[metric] for r in reps) / 3)
    row = compare([run], costs, setup, held_out=[True], jobs=1, replications=3)[0]
    assert row["replications"] == 3
    assert row["lat_p95_ms_predicted"] == pytest.approx(mean["lat_p95_ms"])


def test_calibrate_refuses_zero_replications(setup: Setup) -> None:
    from mpmsim.calibration.check import simulate_rows

    with pytest.raises(InputError, match="must be >= 1"):
        simulate_rows([_row()], [load_costs("default")], setup, jobs=1, replications=0)


def test_a_row_on_a_warm_server_starts_with_the_children_it_found(setup: Setup) -> None:
    """bench's second run found 11 processes idle (parent + 10 children) where StartServers is
    3: it is simulated from those 10 children, not from a cold start that forks them inside the
    window; a cold reading, a row with a warm-up and a row without a reading keep StartServers."""
    warm = _row(idle_procs=11, concurrency=200)
    assert (
        scenario_for(warm, load_costs("default"), setup)["server"]["directives"]["StartServers"]
        == 10
    )
    for row in (_row(idle_procs=4), _row(idle_procs=11, warmup_s=2.0), _row()):
        directives = scenario_for(row, load_costs("default"), setup)["server"]["directives"]
        assert directives["StartServers"] == 3
    cold_rec, _ = _rep(_row(concurrency=200), setup)
    warm_rec, _ = _rep(warm, setup)
    assert cold_rec["processes_peak"] <= 9 < warm_rec["processes_peak"] == 11


def test_a_class_s_memory_is_reported_with_the_rows_and_clients_that_told_it() -> None:
    """The report shows each class's fitted memory and says when one client count told it."""
    rows = [_row(run_id=f"T-{c}", concurrency=c, apache_cpu_ms_per_req=0.08) for c in (10, 50)]
    cpu_row = _row(run_id="T-cpu", content="cpu", url="/cpu", concurrency=1,
                   apache_cpu_ms_per_req=0.97)  # fmt: skip
    cal = calibrate([*rows, cpu_row], load_costs("default"), load_hardware("bench-1core"),
                    simulate=False)  # fmt: skip
    assert cal.class_rows == {"static": (2, 10, 50), "cpu": (1, 1, 1)}
    assert cal.as_dict()["class_rows"]["cpu"] == (1, 1, 1)
    costs = cal.costs
    told = costs.model_copy(update={
        "classes": {**costs.classes, "cpu": costs.classes["cpu"].model_copy(
            update={"worker_kib": 54.8})},
        "uncertainty": {**costs.uncertainty, "classes.cpu.worker_kib": 20.0},
    })  # fmt: skip
    text = render(dataclasses.replace(cal, costs=told))
    line = next(ln for ln in text.splitlines() if "classes.cpu.worker_kib" in ln)
    assert "54.8 ± 20" in line
    assert "from 1 row of the class, at 1 client: how it grows" in line
    kept = told.model_copy(
        update={"uncertainty": {**told.uncertainty, "classes.cpu.worker_kib": float("nan")}}
    )
    line = next(ln for ln in render(dataclasses.replace(cal, costs=kept)).splitlines()
                if "classes.cpu.worker_kib" in ln)  # fmt: skip
    assert "kept: the base model's value" in line and "from 1 row" not in line
    # a class memory the fit did not choose (one /cpu row cannot tell child_kib from
    # worker_kib) has no uncertainty at all: the base model's prior, said so
    assert costs.classes["cpu"].child_kib == load_costs("default").classes["cpu"].child_kib > 0
    assert "classes.cpu.child_kib" not in costs.uncertainty
    why = costs.justification["classes.cpu.child_kib"]  # the fitted file says where it is from
    assert why.startswith("kept from the 'default' cost model, not fitted") and "prefork" in why
    fitted = math.isfinite(costs.uncertainty.get("classes.cpu.worker_kib", math.nan))
    assert ("classes.cpu.worker_kib" in costs.justification) is not fitted  # one or the other
    line = next(ln for ln in text.splitlines() if "classes.cpu.child_kib" in ln)
    assert "kept: the base model's value" in line


def test_a_kept_class_memory_says_whether_keep_or_the_rows_kept_it() -> None:
    base = load_costs("default")
    why = kept_class_memory(base, None, keep=("classes.cpu.child_kib",))
    assert why["classes.cpu.child_kib"].startswith("kept from the 'default' cost model, --keep: ")
    assert why["classes.cpu.worker_kib"].startswith(
        "kept from the 'default' cost model, not fitted (the rows cannot tell it: two loaded "
        "readings of the class or more"
    )
    every = kept_class_memory(base, None, keep=("worker_kib",))  # the field for every class
    assert "--keep" in every["classes.cpu.worker_kib"]
    assert "--keep" not in every["classes.cpu.child_kib"]

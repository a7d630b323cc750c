"""What-if sweeps: ``mpmsim.sweep`` and ``mpmsim sweep`` (points, executors, cache, table, CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import mpmsim
import mpmsim.search.sweep as sweep_module
from mpmsim.cli.sweep import parse_vary
from mpmsim.errors import InputError
from mpmsim.search.evaluate import simulate_replication
from mpmsim.search.sweep_frame import flatten
from mpmsim.search.sweep_plot import sweep_figure
from tests.helpers import EXAMPLES, Cli

EXAMPLE = EXAMPLES / "primer-ab-event.yaml"
SMALL = ("load.requests=200",)  # the primer's ab run, cut short
MRW = "server.directives.MaxRequestWorkers"
VARY: dict[str, Any] = {MRW: range(50, 101, 50), "server.mpm": ["prefork", "event"]}


def small_sweep(vary: dict[str, Any] | None = None, **options: Any) -> pd.DataFrame:
    """A quick sweep of the primer's scenario: 200 requests, 2 replications, no cache."""
    options = {"replications": 2, "progress": False, "cache": False, **options}
    return mpmsim.sweep(EXAMPLE, VARY if vary is None else vary, overrides=SMALL, **options)


def same(a: Any, b: Any) -> bool:
    """Equal, or both missing (a DataFrame holds a JSON null as NaN)."""
    return bool(pd.isna(a) and pd.isna(b)) if b is None or pd.isna(a) else bool(a == b)


def test_one_row_per_combination_each_equal_to_its_run() -> None:
    df = small_sweep()
    assert list(df.columns[:2]) == [MRW, "server.mpm"]
    assert df[[MRW, "server.mpm"]].values.tolist() == [
        [50, "prefork"], [50, "event"], [100, "prefork"], [100, "event"],
    ]  # fmt: skip
    assert {"throughput_rps", "throughput_rps.ci_low", "latency_ms.p95.ci_high"} <= set(df.columns)
    assert "sim.wall_s" not in df.columns and "throughput_rps_ci95" not in df.columns
    for _, row in df.iterrows():
        sets = (*SMALL, f"{MRW}={row[MRW]}", f"server.mpm={row['server.mpm']}")
        alone = flatten(mpmsim.run(EXAMPLE, overrides=sets, replications=2).to_dict())
        assert {k: v for k, v in alone.items() if not same(row[k], v)} == {}
    assert df["mpm"].tolist() == df["server.mpm"].tolist()
    assert df["effective_directives.MaxRequestWorkers"].tolist() == [50, 50, 100, 100]
    assert df.attrs["computed"] == 4 and df.attrs["executor"] == "local"


def test_zip_pairs_the_lists() -> None:
    df = small_sweep({MRW: [50, 100], "server.mpm": ["prefork", "event"]}, zip=True)
    assert df[[MRW, "server.mpm"]].values.tolist() == [[50, "prefork"], [100, "event"]]


def test_a_varied_seed_is_the_points_own() -> None:
    df = small_sweep({"seed": [1, 2]}, replications=1)
    assert df["seed"].tolist() == [1, 2]
    again = mpmsim.run(EXAMPLE, overrides=SMALL, seed=2, replications=1).to_dict()
    assert df["latency_ms.p95"].iloc[1] == again["latency_ms"]["p95"]
    assert df["latency_ms.p95"].iloc[0] != df["latency_ms.p95"].iloc[1]


def test_same_table_on_two_processes() -> None:
    one = small_sweep(jobs=1)
    two = small_sweep(jobs=2)
    assert two.attrs["executor"] == "processes"
    pd.testing.assert_frame_equal(one, two)


@pytest.mark.slow
def test_same_table_on_a_dask_cluster() -> None:
    from distributed import LocalCluster

    one = small_sweep(jobs=1)
    local = small_sweep(jobs=2, scheduler="dask://local")
    assert local.attrs["executor"] == "dask"
    pd.testing.assert_frame_equal(one, local)
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2, threads_per_worker=1, dashboard_address=None
    )
    with cluster:
        pd.testing.assert_frame_equal(one, small_sweep(scheduler=cluster))


def test_a_value_given_twice_runs_once() -> None:
    df = small_sweep({MRW: [50, 50]}, replications=1)
    assert df.attrs["computed"] == 1 and len(df) == 2
    pd.testing.assert_series_equal(df.iloc[0], df.iloc[1], check_names=False)


class CountingRuns:
    """``simulate_replication`` counted, optionally interrupted (Ctrl-C) at call ``stop``."""

    def __init__(self, stop: int | None = None) -> None:
        self.calls = 0
        self.stop = stop

    def __call__(self, task: Any) -> Any:
        self.calls += 1
        if self.calls == self.stop:
            raise KeyboardInterrupt
        return simulate_replication(task)


def test_an_interrupted_sweep_resumes_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vary = {MRW: [50, 100, 150], "server.mpm": ["prefork"]}
    cut = CountingRuns(stop=5)  # 2 replications per point: Ctrl-C in the third point
    monkeypatch.setattr(sweep_module, "simulate_replication", cut)
    with pytest.raises(KeyboardInterrupt):
        small_sweep(vary, cache=tmp_path)
    runs = CountingRuns()
    monkeypatch.setattr(sweep_module, "simulate_replication", runs)
    resumed = small_sweep(vary, cache=tmp_path)
    assert runs.calls == 2  # the third point's replications only
    assert (resumed.attrs["computed"], resumed.attrs["cache_hits"]) == (1, 2)
    pd.testing.assert_frame_equal(resumed, small_sweep(vary))  # cached rows = fresh rows
    runs.calls = 0
    again = small_sweep(vary, cache=tmp_path)
    assert runs.calls == 0 and again.attrs["cache_hits"] == 3
    pd.testing.assert_frame_equal(again, resumed)
    other_seed = small_sweep(vary, cache=tmp_path, seed=7)
    assert runs.calls == 6 and other_seed.attrs["computed"] == 3


@pytest.mark.parametrize(
    ("vary", "zip_lists", "message"),
    [
        ({"servr.mpm": ["event"]}, False, "servr: unknown key"),
        ({MRW: []}, False, "no values given"),
        ({MRW: [50, 100], "server.mpm": ["event"]}, True, "needs lists of one length"),
        ({MRW: ["many"]}, False, "MaxRequestWorkers: expected a whole number"),
        ({MRW: 50}, False, "give a list of values"),
        ({}, False, "name at least one key"),
    ],
)
def test_bad_input_is_one_input_error(vary: Any, zip_lists: bool, message: str) -> None:
    with pytest.raises(InputError, match=message):
        small_sweep(vary, zip=zip_lists)


def test_progress_goes_to_stderr_only(capsys: pytest.CaptureFixture[str]) -> None:
    small_sweep({MRW: [50, 100]}, replications=1, progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "2/2" in err
    small_sweep({MRW: [50, 100]}, replications=1, progress=False)
    assert capsys.readouterr() == ("", "")


def test_flatten_names_every_figure_generically() -> None:
    result = {
        "throughput_rps": 100.0,
        "throughput_rps_ci95": 5.0,
        "latency_ms": {"p95": 20.0, "max": 30.0},
        "latency_ms_ci95": {"p95": 1.5, "p99": 2.0},
        "warnings": ["a", "b"],
        "error_log": [{"code": "AH00484", "count": 2}],
        "classes": [{"name": "static", "p95_ms": 3.0}, {"name": "php", "p95_ms": 40.0}],
        "theory": {"mmc": {"p95_ms": 19.0}},
        "cdf": {"quantiles": [1.0, None, 3.0], "labels": ["a", None]},
        "sim": {"events": 10, "wall_s": 0.25},
    }
    assert flatten(result) == {
        "throughput_rps": 100.0,
        "throughput_rps.ci_low": 95.0,
        "throughput_rps.ci_high": 105.0,
        "latency_ms.p95": 20.0,
        "latency_ms.p95.ci_low": 18.5,
        "latency_ms.p95.ci_high": 21.5,
        "latency_ms.max": 30.0,
        "latency_ms_ci95.p99": 2.0,  # no p99 figure to put it beside
        "warnings": "a | b",
        "warnings.count": 2,
        "error_log": '{"code":"AH00484","count":2}',
        "error_log.count": 1,
        "classes": '{"name":"static","p95_ms":3.0} | {"name":"php","p95_ms":40.0}',
        "classes.count": 2,
        "classes.static.p95_ms": 3.0,
        "classes.php.p95_ms": 40.0,
        "theory.mmc.p95_ms": 19.0,
        "cdf.labels": "a | null",  # numbers only are left out: cdf.quantiles
        "cdf.labels.count": 2,
        "sim.events": 10,
    }
    assert list(flatten({"latency_ms": {"p95": None}, "latency_ms_ci95": {"p95": None}})) == [
        "latency_ms.p95", "latency_ms.p95.ci_low", "latency_ms.p95.ci_high",
    ]  # fmt: skip


def test_vary_values_read_like_set_values_with_ranges() -> None:
    got = parse_vary([f"{MRW}=50:400:50", "server.mpm=prefork,event", "x=0.5:1.5:0.5,2,On"])
    assert got == {
        MRW: list(range(50, 401, 50)),
        "server.mpm": ["prefork", "event"],
        "x": [0.5, 1.0, 1.5, 2, True],
    }


def test_cli_writes_the_same_table_as_the_library(mpmsim: Cli, tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    args = ["sweep", str(EXAMPLE), "--vary", f"{MRW}=50:100:50", "--vary",
            "server.mpm=prefork,event", "--set", SMALL[0], "--replications", "2", "--seed", "3",
            "--no-progress"]  # fmt: skip
    done = mpmsim(*args, "--no-cache", "-o", str(out))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    df = small_sweep(seed=3)
    assert out.read_text() == df.to_csv(index=False)
    refused = mpmsim(*args, "-o", str(out))
    assert refused.returncode == 2 and "exists; use --force" in refused.stderr
    assert out.read_text() == df.to_csv(index=False)
    assert mpmsim(*args, "-o", str(out), "--force").returncode == 0
    table = mpmsim(*args).stdout.splitlines()
    assert table[0].split()[:9] == [MRW, "server.mpm", "throughput_rps", "(95", "%", "CI)",
                                    "latency_ms.p95", "(95", "%"]  # fmt: skip
    assert len(table) == 1 + 4 and table[1].split()[:2] == ["50", "prefork"]
    assert table[1].split()[3] == "±"  # each figure with its half-width


@pytest.mark.parametrize(
    ("vary", "message"),
    [
        ("servr.mpm=event", "servr: unknown key"),
        ("server.mpm=", "no values given for server.mpm"),
        (f"{MRW}=[50,", "cannot read '[50'"),
        (f"{MRW}=400:50", "needs START <= STOP"),
        ("server.mpm", "expected KEY=V1,V2"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(mpmsim: Cli, vary: str, message: str) -> None:
    done = mpmsim("sweep", str(EXAMPLE), "--vary", vary, "--set", SMALL[0], "--no-cache")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr


def test_cli_zip_of_unequal_lists_exits_2(mpmsim: Cli) -> None:
    done = mpmsim("sweep", str(EXAMPLE), "--vary", "seed=1,2", "--vary", "server.mpm=event",
                  "--zip", "--no-cache")  # fmt: skip
    assert done.returncode == 2 and "--zip: needs lists of one length" in done.stderr


def test_plot_has_a_curve_per_second_key_with_intervals(mpmsim: Cli, tmp_path: Path) -> None:
    df = small_sweep()
    fig = sweep_figure(df, MRW, ["throughput_rps", "latency_ms.p95"], color="server.mpm")
    names = [(t.name, t.yaxis) for t in fig.data]
    assert names == [("prefork", "y"), ("prefork", "y2"), ("event", "y"), ("event", "y2")]
    event = fig.data[2]
    assert (
        list(event.x) == [50, 100] and list(event.y) == df["throughput_rps"].iloc[[1, 3]].tolist()
    )
    assert event.error_y.array is not None and all(a >= 0 for a in event.error_y.array)
    with pytest.raises(InputError, match="no column nope"):
        sweep_figure(df, MRW, "nope")
    html = tmp_path / "sweep.html"
    done = mpmsim("sweep", str(EXAMPLE), "--vary", f"{MRW}=50,100", "--vary", "server.mpm=event",
                  "--set", SMALL[0], "--replications", "1", "--plot", str(html))  # fmt: skip
    assert done.returncode == 0 and "latency_ms.p95" in html.read_text()


@pytest.mark.parametrize("value", [150, 0.5, 1e-05, -3e-07, 1.5e20, "On", "yes", "500ms", True])
def test_a_point_sets_exactly_its_value(value: Any) -> None:
    import yaml

    key, _, text = sweep_module.assignment("load.think_time_s", value).partition("=")
    assert key == "load.think_time_s" and yaml.safe_load(text) == value
    assert type(yaml.safe_load(text)) is type(value)


@pytest.mark.slow
def test_progress_in_a_jupyter_kernel(tmp_path: Path) -> None:
    """In a real kernel the bar reaches the cell's stderr (a widget with ipywidgets) and the
    table is the cell's result; no warning about a missing widget library."""
    import nbclient
    import nbformat

    code = (
        "import mpmsim\n"
        f"df = mpmsim.sweep({str(EXAMPLE)!r}, {{{MRW!r}: [50, 100]}}, overrides={SMALL!r},\n"
        f"                  replications=1, cache={str(tmp_path)!r})\n"
        "df[[" + repr(MRW) + ", 'throughput_rps']]"
    )
    cell = nbformat.v4.new_code_cell(code)  # type: ignore[no-untyped-call]
    nb = nbformat.v4.new_notebook(cells=[cell])  # type: ignore[no-untyped-call]
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    err = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    widget = any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    assert widget or "2/2" in err
    assert "Warning" not in err
    result = [o for o in outputs if o.output_type == "execute_result"]
    assert "throughput_rps" in result[0]["data"]["text/plain"]


def test_other_code_never_reuses_a_cached_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The version number stays 0.1.0 from one commit to the next: the key holds a hash of
    mpmsim's own source, so a checkout or an edit of the engine simulates again."""
    from mpmsim.search.cache import code_fingerprint

    vary = {MRW: [50], "server.mpm": ["prefork"]}
    small_sweep(vary, cache=tmp_path)
    assert small_sweep(vary, cache=tmp_path).attrs["cache_hits"] == 1
    assert len(code_fingerprint()) == 64 and code_fingerprint() == code_fingerprint()
    monkeypatch.setattr(sweep_module, "code_fingerprint", lambda: "edited")
    assert small_sweep(vary, cache=tmp_path).attrs["computed"] == 1

"""``mpmsim.plot``: each figure draws what the run or the table holds, from where it says."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest

import mpmsim
from mpmsim.errors import InputError
from mpmsim.plot.layout import MAX_POINTS
from tests.helpers import EXAMPLES

BROWSERS = EXAMPLES / "keepalive-idle-browsers.yaml"
SHORT = ("duration_s=12", "warmup_s=4", "load.sessions_per_s=30")


@pytest.fixture(scope="module")
def runs() -> dict[str, mpmsim.RunResult]:
    """Idle keep-alive browsers (two classes) on event and on prefork, cut short."""
    return {
        mpm: mpmsim.run(BROWSERS, overrides=(*SHORT, f"server.mpm={mpm}"), replications=2)
        for mpm in ("event", "prefork")
    }


def _first(run: mpmsim.RunResult) -> pd.DataFrame:
    s = run.series_frame()
    return s[s["replication"] == 0]


def _named(fig: Any) -> dict[str, Any]:
    return {t.name: t for t in fig.data}


def _hlines(fig: Any) -> list[float]:
    return [s.y0 for s in fig.layout.shapes if s.y0 == s.y1 and s.xref == "x domain"]


# -- a run over time ---------------------------------------------------------------------------
def test_workers_draws_the_first_replications_series_and_the_cap(runs: dict[str, Any]) -> None:
    event, prefork = runs["event"], runs["prefork"]
    fig = mpmsim.plot.workers(event)
    s = _first(event)
    lines = _named(fig)
    assert list(lines["busy workers"].y) == s["busy_workers"].tolist()
    assert list(lines["child processes"].y) == s["processes"].tolist()
    assert list(lines["busy workers"].x) == s["t_s"].tolist()
    # event holds idle connections in its listener; prefork pins a worker to each
    assert "keep-alive connections (listener)" in lines
    assert "workers held by keep-alive" not in lines
    held = _named(mpmsim.plot.workers(prefork))
    assert "workers held by keep-alive" in held and max(held["workers held by keep-alive"].y) > 0
    assert _hlines(fig) == [event.prepared.directives.MaxRequestWorkers]
    warm = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(w.x0, w.x1) for w in warm] == [(0, 4.0)]


def test_memory_against_the_ram_apache_may_use(runs: dict[str, Any]) -> None:
    run = runs["prefork"]
    fig = mpmsim.plot.memory(run)
    hw = run.prepared.hardware
    assert _hlines(fig) == [hw.ram_mib - hw.os_reserved_mib]
    line = fig.data[0]
    assert list(line.y) == _first(run)["memory_mib"].tolist()
    assert max(line.y) <= run.to_dict()["memory_mib"]["peak"]


def test_accept_queue_and_its_limit_when_it_fills() -> None:
    """ab's 100 clients against 4 workers: the queue fills to its 11 places and the limit shows;
    with Apache's backlog (511) the queue stays far below its limit, which the title names."""
    primer = EXAMPLES / "primer-ab-event.yaml"
    small = ("load.requests=2000", "server.directives.ListenBacklog=10")
    full = mpmsim.run(primer, replications=1, overrides=(*small, *_tiny_server()))
    fig = mpmsim.plot.accept_queue(full)
    assert max(fig.data[0].y) == 11 and _hlines(fig) == [11]
    assert "holds 11" in fig.layout.title.text
    calm = mpmsim.plot.accept_queue(mpmsim.run(primer, replications=1, overrides=small[:1]))
    assert 0 < max(calm.data[0].y) < 128 and _hlines(calm) == []
    assert "holds 512" in calm.layout.title.text


def _tiny_server() -> tuple[str, ...]:
    return (
        "server.directives.ThreadsPerChild=4",
        "server.directives.MaxRequestWorkers=4",
        "server.directives.StartServers=1",
        "server.directives.MinSpareThreads=1",
        "server.directives.MaxSpareThreads=4",
    )


def test_a_long_series_is_thinned(runs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    run = runs["event"]
    rows = len(_first(run))
    monkeypatch.setattr("mpmsim.plot.layout.MAX_POINTS", rows // 10)
    drawn = len(mpmsim.plot.memory(run).data[0].y)
    assert rows // 10 <= drawn <= rows // 10 * 2 and MAX_POINTS == 2000


# -- latency -------------------------------------------------------------------------------
def test_latency_cdf_per_class_from_the_measured_requests(runs: dict[str, Any]) -> None:
    run = runs["event"]
    fig = mpmsim.plot.latency_cdf(run, p95_goal_ms=300)
    lines = _named(fig)
    req = run.requests_frame()
    warm = req["replication"].map({i: r["warmup_s"] for i, r in enumerate(run.records)})
    measured = req[(req["status"] == "ok") & (req["t_end_s"] >= warm)]
    assert {"all requests", "static", "page"} <= set(lines)
    for name in ("static", "page"):
        lat = np.sort(measured.loc[measured["class"] == name, "latency_ms"].to_numpy())
        x, y = np.asarray(lines[name].x), np.asarray(lines[name].y)
        assert x[0] == lat[0] and x[-1] == lat[-1] and y[-1] == 1.0
        assert x[200] == pytest.approx(np.median(lat))  # y = 0.5
    assert len(measured) < len(req[req["status"] == "ok"])  # the warm-up's requests are out
    quoted = run.to_dict()["latency_ms"]
    marks = fig.data[-1]
    assert list(marks.x) == [quoted["p50"], quoted["p95"], quoted["p99"]]
    assert [s.x0 for s in fig.layout.shapes] == [300]


def test_latency_cdf_from_the_run_json_per_class_percentiles(runs: dict[str, Any]) -> None:
    """``mpmsim run --json``'s classes carry their 1st to 99th percentiles: the same classes,
    drawn at those percents, close to the CDF of the requests themselves."""
    run = runs["event"]
    data = run.to_dict()
    fig = mpmsim.plot.latency_cdf(json.loads(json.dumps(data)))  # as read back from a file
    lines = _named(fig)
    from_requests = _named(mpmsim.plot.latency_cdf(run))
    for name in ("static", "page"):
        quantiles = data["classes"][name]["latency_ms"]["quantiles"]
        assert list(lines[name].x) == quantiles
        assert list(lines[name].y) == pytest.approx([k / 100 for k in range(1, 100)])
        assert lines[name].x[49] == pytest.approx(from_requests[name].x[200], rel=0.1)  # medians
    assert "all requests" not in lines  # the JSON has no pooled percentiles
    assert list(fig.data[-1].x) == [data["latency_ms"][q] for q in ("p50", "p95", "p99")]


# -- tables --------------------------------------------------------------------------------
def _table() -> pd.DataFrame:
    rows = []
    for mpm, base in (("prefork", 100.0), ("event", 200.0)):
        for mrw in (150, 50, 100):  # unsorted: each curve sorts by x
            y = base + mrw
            rows.append({"MRW": mrw, "server.mpm": mpm, "throughput_rps": y,
                         "throughput_rps.ci_low": y - 5, "throughput_rps.ci_high": y + 7,
                         "latency_ms.p95": mrw / 10})  # fmt: skip
    return pd.DataFrame(rows)


def test_sweep_curves_with_bands_where_the_table_has_intervals() -> None:
    fig = mpmsim.plot.sweep(_table(), "MRW", ["throughput_rps", "latency_ms.p95"], "server.mpm")
    names = [(t.name, t.yaxis) for t in fig.data]
    assert names == [
        ("prefork 95 % high", "y"),
        ("prefork 95 % band", "y"),
        ("prefork", "y"),
        ("prefork", "y2"),
        ("event 95 % high", "y"),
        ("event 95 % band", "y"),
        ("event", "y"),
        ("event", "y2"),
    ]  # fmt: skip  (p95 has no interval: no band)
    high, band, line = fig.data[4:7]
    assert list(line.x) == [50, 100, 150] and list(line.y) == [250.0, 300.0, 350.0]
    assert list(band.y) == [245.0, 295.0, 345.0] and band.fill == "tonexty"
    assert list(high.y) == [257.0, 307.0, 357.0] and not high.showlegend
    bars = mpmsim.plot.sweep(_table(), "MRW", "throughput_rps", "server.mpm", ci="bars")
    assert [t.name for t in bars.data] == ["prefork", "event"]
    assert list(bars.data[1].error_y.array) == [7.0] * 3
    assert list(bars.data[1].error_y.arrayminus) == [5.0] * 3
    plain = mpmsim.plot.sweep(_table(), "MRW", "throughput_rps", ci=None)
    assert [t.name for t in plain.data] == ["sweep"] and plain.data[0].error_y.array is None


def test_sweep_names_a_missing_column_in_one_line() -> None:
    with pytest.raises(InputError, match=r"sweep plot: no column p99; columns: MRW, server\.mpm"):
        mpmsim.plot.sweep(_table(), "MRW", "p99")
    with pytest.raises(InputError, match="ci: 'ribbon'; allowed"):
        mpmsim.plot.sweep(_table(), "MRW", "throughput_rps", ci="ribbon")  # type: ignore[arg-type]


def test_sweep_of_a_real_sweep() -> None:
    """``mpmsim.sweep``'s table as it comes: two replications give each point its interval."""
    table = mpmsim.sweep(
        EXAMPLES / "primer-ab-event.yaml",
        {"server.directives.MaxRequestWorkers": [50, 100]},
        overrides=("load.requests=300",),
        replications=2,
        progress=False,
        cache=False,
    )
    fig = mpmsim.plot.sweep(table, "server.directives.MaxRequestWorkers", "throughput_rps")
    high, band, line = fig.data
    assert list(line.y) == table["throughput_rps"].tolist()
    assert list(band.y) == table["throughput_rps.ci_low"].tolist()
    assert all(lo <= y <= hi for lo, y, hi in zip(band.y, line.y, high.y, strict=True))


def test_optimize_takes_the_result_or_its_dict(tmp_path: Any) -> None:
    res = mpmsim.optimize(
        EXAMPLES / "primer-ab-event.yaml",
        overrides=("load.requests=300",),
        budget=3,
        cache_dir=tmp_path,
    )
    a, b = mpmsim.plot.optimize(res), mpmsim.plot.optimize(res.to_dict())
    assert a.to_json() == b.to_json() and len(a.data) >= 3


# -- notebooks -----------------------------------------------------------------------------
def test_setup_notebook_outside_a_kernel_changes_nothing() -> None:
    before = pio.renderers.default
    assert mpmsim.plot.setup_notebook() == before == pio.renderers.default
    # inside a kernel it is executed by tests/test_notebooks.py (the HTML exports)


def test_calibration_predicted_against_measured_per_figure() -> None:
    """Two figures, three runs (one held out, one without a latency reading); the capacity
    warnings a row carries are not a figure."""
    rows = [
        {"run_id": "a", "held_out": False, "req_per_s_measured": 100.0,
         "req_per_s_predicted": 110.0, "lat_p95_ms_measured": 5.0, "lat_p95_ms_predicted": 4.0,
         "warnings_measured": "reached", "warnings_predicted": ""},  # text: not a figure
        {"run_id": "b", "held_out": False, "req_per_s_measured": 300.0,
         "req_per_s_predicted": 290.0, "lat_p95_ms_measured": float("nan"),
         "lat_p95_ms_predicted": 9.0},
        {"run_id": "c", "held_out": True, "req_per_s_measured": 200.0,
         "req_per_s_predicted": 260.0, "lat_p95_ms_measured": 7.0, "lat_p95_ms_predicted": 8.0},
    ]  # fmt: skip
    cal = SimpleNamespace(rows=rows, costs=SimpleNamespace(name="mine"))
    fig = mpmsim.plot.calibration(cal)
    assert [a.text for a in fig.layout.annotations] == ["req_per_s", "lat_p95_ms"]
    by_panel = [[(t.name, list(t.x), list(t.y)) for t in fig.data if t.xaxis == ax]
                for ax in ("x", "x2")]  # fmt: skip
    assert by_panel[0] == [
        ("fitted", [100.0, 300.0], [110.0, 290.0]),
        ("held out", [200.0], [260.0]),
        (None, [100.0, 300.0], [100.0, 300.0]),  # the diagonal over the measured range
    ]
    assert by_panel[1] == [
        ("fitted", [5.0], [4.0]), ("held out", [7.0], [8.0]), (None, [5.0, 7.0], [5.0, 7.0]),
    ]  # fmt: skip
    assert "mine" in fig.layout.title.text

"""Benchmark-result readers: real files agree with runs.csv; bad input gives one InputError."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mpmsim.errors import InputError
from mpmsim.workloads.readers import (
    MEASUREMENT_COLUMNS,
    SCOREBOARD_KEYS,
    MeasuredRun,
    ToolResult,
    read_ab_gnuplot,
    read_ab_percentiles,
    read_ab_text,
    read_h2load_text,
    read_jtl_csv,
    read_k6_summary,
    read_locust_history,
    read_locust_stats,
    read_measurements,
    read_mod_status,
    read_wrk_text,
    sniff,
    write_measurements,
)

BENCH = Path(__file__).resolve().parents[2] / "shared" / "data" / "apache-bench"
FIX = Path(__file__).resolve().parent / "fixtures" / "tools"
LAT = ("lat_p50_ms", "lat_p90_ms", "lat_p95_ms", "lat_p99_ms", "lat_max_ms")


def _raw(pattern: str) -> list[Path]:
    """Real raw files matching a glob under raw/ (skips the test if the data is absent)."""
    if not (BENCH / "runs.csv").is_file():
        pytest.skip(f"apache-bench data not found at {BENCH}")
    files = sorted((BENCH / "raw").glob(pattern))
    assert files, pattern
    return files


def _run_id(path: Path) -> str:
    return path.name.split(".", 1)[0]


@pytest.fixture(scope="module")
def runs() -> dict[str, MeasuredRun]:
    if not (BENCH / "runs.csv").is_file():
        pytest.skip(f"apache-bench data not found at {BENCH}")
    return {run.run_id: run for run in read_measurements(BENCH / "runs.csv")}


# --- real files agree with runs.csv ---------------------------------------------------------


def test_ab_text_agrees_with_runs_csv(runs: dict[str, MeasuredRun]) -> None:
    files = _raw("*/*.ab.txt")
    for path in files:
        result, run = read_ab_text(path), runs[_run_id(path)]
        row = result.as_row()
        assert result.tool == "ab" and result.source == str(path)
        assert result.req_per_s == pytest.approx(run.req_per_s, abs=0.01), path
        assert result.duration_s == pytest.approx(run.duration_s, abs=0.001), path
        assert result.lat_mean_ms == pytest.approx(run.lat_mean_ms, abs=0.001), path
        for name in ("requests_completed", "failed", "concurrency", "keepalive", "url"):
            assert row[name] == (int(run.keepalive) if name == "keepalive" else getattr(run, name))
        for name in ("non_2xx", "err_connect", "err_read", "err_write", "err_timeout", "err_other"):
            assert row[name] == getattr(run, name), (path, name)
        # the text table is whole ms; runs.csv has the -e file's µs values
        for name in LAT:
            assert abs(getattr(result, name) - getattr(run, name)) <= 1.0, (path, name)
        assert sorted(result.percentiles_ms) == [50, 66, 75, 80, 90, 95, 98, 99, 100]
        assert {"total_median_ms", "connect_max_ms"} <= set(result.details)


def test_ab_percentiles_agree_with_runs_csv(runs: dict[str, MeasuredRun]) -> None:
    for path in _raw("*/*.ab_pct.csv"):
        table, run = read_ab_percentiles(path), runs[_run_id(path)]
        assert list(table) == [float(p) for p in range(101)], path
        for pct, name in zip((50.0, 90.0, 95.0, 99.0, 100.0), LAT, strict=True):
            assert table[pct] == pytest.approx(getattr(run, name), abs=5e-4), (path, name)


def test_wrk_agrees_with_runs_csv(runs: dict[str, MeasuredRun]) -> None:
    files = _raw("*/*.wrk.txt")
    with_errors = 0
    for path in files:
        result, run = read_wrk_text(path), runs[_run_id(path)]
        row = result.as_row()
        for name in ("req_per_s", "duration_s", "lat_mean_ms", *LAT):
            assert row[name] == pytest.approx(getattr(run, name), rel=1e-6, abs=1e-3), (path, name)
        for name in ("requests_completed", "failed", "concurrency", "non_2xx", "err_read"):
            assert row[name] == getattr(run, name), (path, name)
        assert result.keepalive is True and row["url"] == run.url
        assert {50.0, 75.0, 90.0, 95.0, 99.0, 99.9} <= set(result.percentiles_ms)
        with_errors += bool(result.errors["read"])
    assert with_errors > 0  # event closes keep-alive connections: wrk read errors


def test_mod_status_agrees_with_runs_csv(runs: dict[str, MeasuredRun]) -> None:
    for path in _raw("*/*.status_mid.txt"):
        status, run = read_mod_status(path), runs[_run_id(path)]
        for key in SCOREBOARD_KEYS.values():
            assert status[key] == float(run.extra[key]), (path, key)
        assert status["BusyWorkers"] == float(run.extra["status_busy"])
        assert status["IdleWorkers"] == float(run.extra["status_idle"])
        assert status["status_mid_fetch_ms"] == pytest.approx(
            float(run.extra["status_mid_fetch_ms"]), abs=0.01
        )
        assert status["ServerMPM"] == run.mpm and status["Host"] == "127.0.0.1"
        # ?auto has Processes / ConnsAsync* only for event (an async MPM), not for worker
        if run.mpm == "event":
            assert status["Processes"] == float(run.extra["status_processes"])
            assert status["ConnsTotal"] == float(run.extra["status_conns_total"])
        else:
            assert "Processes" not in status and "status_processes" not in run.extra


def test_s4_warmup_reports_are_ab_output() -> None:
    for path in _raw("S4/*.warmup.txt"):
        result = read_ab_text(path)
        assert result.duration_s == pytest.approx(10.0, abs=0.1)
        assert result.requests_completed and result.concurrency in (50, 200)


def test_h2load_sample() -> None:
    (path,) = _raw("S5/*.h2load.txt")
    result = read_h2load_text(path)
    assert (result.requests_completed, result.failed, result.concurrency) == (1500, 0, 300)
    assert result.req_per_s == 150.0 and result.duration_s == 10.0
    assert result.lat_mean_ms == pytest.approx(6.65) and result.lat_max_ms == pytest.approx(18.08)
    assert result.details["request_min_ms"] == pytest.approx(1.31)
    assert result.details["finished_in_s"] == pytest.approx(20.01)
    assert result.url == "http://127.0.0.1:8080/test.html" and result.percentiles_ms == {}
    assert result.errors == {"errored": 0, "timeout": 0, "non_2xx": 0}


# --- fixtures for formats the campaign did not produce --------------------------------------


def test_ab_with_failures_keepalive_and_tls() -> None:
    result = read_ab_text(FIX / "ab_failures.txt")
    breakdown = {"connect": 0, "read": 2, "length": 10, "exceptions": 0, "write": 1, "non_2xx": 5}
    assert result.errors == breakdown
    row = result.as_row()
    assert (row["failed"], row["err_read"], row["err_write"], row["err_other"]) == (12, 2, 1, 10)
    assert row["non_2xx"] == 5 and row["keepalive"] == 1 and row["url"] == "/cpu?x=1"
    assert result.url == "https://localhost:443/cpu?x=1"
    assert result.lat_p50_ms == 99 and result.lat_max_ms == 251 and result.lat_mean_ms == 100.0
    assert result.details["keepalive_requests"] == 990
    assert result.details["total_sd_ms"] == 20.2
    assert len(result.warnings) == 1 and "initial connection time" in result.warnings[0]


def test_ab_gnuplot() -> None:
    frame = read_ab_gnuplot(FIX / "ab_gnuplot.tsv")
    columns = ["starttime", "start_s", "ctime_ms", "dtime_ms", "ttime_ms", "wait_ms"]
    assert list(frame.columns) == columns
    assert len(frame) == 5
    assert frame["ttime_ms"].tolist() == [1, 2, 3, 5, 12]
    assert frame["starttime"].iloc[0] == "Thu Nov 26 03:25:58 2026"
    assert int(frame["start_s"].max()) == 1795663559


def test_wrk_plain_units_and_errors() -> None:
    result = read_wrk_text(FIX / "wrk_plain.txt")
    assert (result.requests_completed, result.concurrency, result.failed) == (9876, 400, 15)
    assert result.duration_s == pytest.approx(30.10) and result.req_per_s == pytest.approx(328.11)
    assert result.lat_mean_ms == pytest.approx(1210.0)
    assert result.lat_max_ms == pytest.approx(2000.0)
    expected = {50.0: 1200.0, 75.0: 1400.0, 90.0: 1650.0, 99.0: 1950.0}
    assert result.percentiles_ms == pytest.approx(expected)
    assert result.errors == {"connect": 0, "read": 3, "write": 0, "timeout": 12, "non_2xx": 7}
    assert result.details["thread_req_per_s_max"] == 270.0
    assert result.details["read_bytes"] == pytest.approx(1.80 * 1024**2)
    assert result.as_row()["err_timeout"] == 12 and result.url == "http://127.0.0.1:8080/wait"


def test_wrk2_hdrhistogram() -> None:
    result = read_wrk_text(FIX / "wrk2_hdr.txt")
    assert result.details["wrk2"] == 1.0 and result.details["thread_req_per_s_mean"] == 1050.0
    pcts = result.percentiles_ms
    assert pcts[99.999] == pytest.approx(4.40) and pcts[10.0] == pytest.approx(0.560)
    assert pcts[50.0] == pytest.approx(1.048)  # spectrum (3 decimals) over the summary
    assert result.lat_mean_ms == pytest.approx(1.094) and result.lat_max_ms == pytest.approx(4.396)
    assert result.failed == 0 and result.requests_completed == 19950


def test_jmeter_jtl() -> None:
    result = read_jtl_csv(FIX / "jmeter.jtl")
    assert (result.requests_completed, result.failed, result.concurrency) == (10, 3, 4)
    assert result.duration_s == pytest.approx(1.0) and result.req_per_s == pytest.approx(10.0)
    assert result.errors == {"non_2xx": 1, "exceptions": 1, "assertion": 1}
    assert result.lat_p50_ms == pytest.approx(11.5) and result.lat_max_ms == 100.0
    assert result.lat_mean_ms == pytest.approx(23.8)
    assert result.url == "http://127.0.0.1:8080/test.html" and result.keepalive is None


def test_locust_stats_aggregated_row() -> None:
    result = read_locust_stats(FIX / "locust_stats.csv")
    assert (result.requests_completed, result.failed) == (1500, 3)
    assert result.req_per_s == 50.0 and result.lat_mean_ms == 18.64 and result.lat_max_ms == 400
    assert result.lat_p50_ms == 13 and result.lat_p99_ms == 90
    assert result.percentiles_ms[99.99] == 400
    assert result.concurrency is None and result.as_row()["err_other"] == 3


def test_locust_history_steps() -> None:
    steps = read_locust_history(FIX / "locust_stats_history.csv")
    assert [s.concurrency for s in steps] == [0, 5, 10, 20]
    assert [s.req_per_s for s in steps] == pytest.approx([0.0, 50.0, 100.0, 180.0])
    assert [s.lat_mean_ms for s in steps[1:]] == pytest.approx([10.0, 12.0, 20.0])
    assert [s.requests_completed for s in steps] == [None, 50, 300, 540]
    assert steps[3].failed == 2 and steps[3].duration_s == 3.0
    assert steps[3].percentiles_ms == {}  # cumulative percentiles are not given per step


@pytest.mark.parametrize("name", ["k6_summary.json", "k6_export.json"])
def test_k6_both_shapes(name: str) -> None:
    result = read_k6_summary(FIX / name)
    if name == "k6_summary.json":
        expected: dict[str, Any] = {
            "requests_completed": 15000,
            "failed": 30,
            "concurrency": 10,
            "req_per_s": 499.925,
            "duration_s": 30.0045,
            "lat_p99_ms": 95.5,
        }
    else:
        expected = {
            "requests_completed": 6000,
            "failed": 0,
            "concurrency": 20,
            "req_per_s": 199.98,
            "duration_s": 6000 / 199.98,
            "lat_p99_ms": None,
        }
    for key, value in expected.items():
        assert getattr(result, key) == (value if value is None else pytest.approx(value)), key
    assert result.lat_p50_ms == result.percentiles_ms[50.0] and result.lat_p90_ms is not None
    assert result.lat_max_ms == result.percentiles_ms[100.0]


def test_mod_status_text_and_failed_fetch(tmp_path: Path) -> None:
    status = read_mod_status(FIX / "mod_status_prefork.txt")
    counts = {k: status[k] for k in SCOREBOARD_KEYS.values() if status[k]}
    assert counts == {
        "sb_waiting": 3,
        "sb_closing": 1,
        "sb_sending": 1,
        "sb_keepalive": 1,
        "sb_reading": 1,
        "sb_open": 5,
    }
    assert status["DurationPerReq"] == pytest.approx(0.119682)
    assert status["ServerUptime"] == "2 seconds" and status["Host"] == "localhost"
    text = (FIX / "mod_status_prefork.txt").read_text()
    assert read_mod_status(text) == status
    failed = tmp_path / "x.status_mid.txt"
    failed.write_text('{"ok": false, "code": null, "ms": 5001.2, "t": 2.0}\n')
    expected = {"status_mid_ok": 0.0, "status_mid_fetch_ms": 5001.2, "status_mid_t_s": 2.0}
    assert read_mod_status(failed) == expected


# --- sniff ----------------------------------------------------------------------------------

FIXTURE_KINDS = {
    "ab_failures.txt": "ab",
    "ab_gnuplot.tsv": "ab_gnuplot",
    "wrk_plain.txt": "wrk",
    "wrk2_hdr.txt": "wrk",
    "jmeter.jtl": "jmeter",
    "locust_stats.csv": "locust_stats",
    "locust_stats_history.csv": "locust_history",
    "k6_summary.json": "k6",
    "k6_export.json": "k6",
    "mod_status_prefork.txt": "mod_status",
    "runs_truncated.csv": "measurements",
}


@pytest.mark.parametrize("name", sorted(FIXTURE_KINDS))
def test_sniff_fixtures(name: str) -> None:
    assert sniff(FIX / name) == FIXTURE_KINDS[name]


def test_sniff_real_files() -> None:
    for pattern, kind in (
        ("*/*.ab.txt", "ab"),
        ("S4/*.warmup.txt", "ab"),
        ("*/*.ab_pct.csv", "ab_percentiles"),
        ("*/*.wrk.txt", "wrk"),
        ("S5/*.h2load.txt", "h2load"),
        ("*/*.status_mid.txt", "mod_status"),
    ):
        for path in _raw(pattern)[:20]:
            assert sniff(path) == kind, path
    assert sniff(BENCH / "runs.csv") == "measurements"
    for pattern in ("S5/*.kaclient.txt", "S1/*.httpd.conf", "S1/*.samples.json.gz"):
        with pytest.raises(InputError, match="unrecognised file: expected one of measurements"):
            sniff(_raw(pattern)[0])


# --- bad input: one InputError that names the file ------------------------------------------

Reader = Callable[[Path], object]
READERS: dict[str, tuple[Reader, str]] = {
    "ab": (read_ab_text, "wrk_plain.txt"),
    "ab_percentiles": (read_ab_percentiles, "ab_gnuplot.tsv"),
    "ab_gnuplot": (read_ab_gnuplot, "locust_stats.csv"),
    "wrk": (read_wrk_text, "ab_failures.txt"),
    "h2load": (read_h2load_text, "wrk2_hdr.txt"),
    "jmeter": (read_jtl_csv, "locust_stats_history.csv"),
    "locust_stats": (read_locust_stats, "jmeter.jtl"),
    "locust_history": (read_locust_history, "locust_stats.csv"),
    "k6": (read_k6_summary, "mod_status_prefork.txt"),
    "mod_status": (read_mod_status, "garbage.txt"),
    "measurements": (read_measurements, "jmeter.jtl"),
    "sniff": (sniff, "garbage.txt"),
}
TRUNCATED = {
    "ab": ("ab_truncated.txt", "ends before the 'Requests per second' line"),
    "wrk": ("wrk_truncated.txt", "ends before"),
    "h2load": ("h2load_truncated.txt", "ends before"),
    "ab_gnuplot": ("ab_gnuplot_truncated.tsv", "line 3"),
    "measurements": ("runs_truncated.csv", "line 6"),
    "jmeter": ("jmeter_xml.jtl", "XML"),
    "k6": ("k6_points.ndjson", "NDJSON"),
}


def _one_error(reader: Reader, path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        reader(path)
    message = str(info.value)
    assert info.value.file == str(path) and message.startswith(f"{path}: ")
    assert "\n" not in message
    return info.value


@pytest.mark.parametrize("kind", sorted(READERS))
def test_garbage_empty_binary_missing_and_foreign(kind: str, tmp_path: Path) -> None:
    reader, foreign = READERS[kind]
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    bad = [FIX / "garbage.txt", FIX / "empty.txt", binary, tmp_path / "missing.txt", FIX / foreign]
    for path in bad:
        _one_error(reader, path)


@pytest.mark.parametrize("kind", sorted(TRUNCATED))
def test_truncated_or_unsupported(kind: str) -> None:
    name, fragment = TRUNCATED[kind]
    error = _one_error(READERS[kind][0], FIX / name)
    assert fragment in str(error)


def test_error_messages_say_what_was_expected() -> None:
    error = _one_error(read_ab_text, FIX / "garbage.txt")
    assert str(error).endswith("not ab output: no 'Requests per second' line")
    error = _one_error(read_measurements, FIX / "jmeter.jtl")
    assert "not an mpmsim measurement CSV: missing columns run_id, scenario, mpm" in str(error)
    assert "(expected the columns of data/apache-bench/runs.csv)" in str(error)


# --- the measurement CSV --------------------------------------------------------------------


def test_read_measurements_types(runs: dict[str, MeasuredRun]) -> None:
    with (BENCH / "runs.csv").open(newline="") as handle:
        assert tuple(next(csv.reader(handle))) == MEASUREMENT_COLUMNS
    assert len(runs) == 275
    for run in runs.values():
        assert isinstance(run.keepalive, bool) and isinstance(run.concurrency, int)
        assert isinstance(run.req_per_s, float) and isinstance(run.requests_completed, int)
        assert isinstance(run.directives["MaxRequestWorkers"], int)
        assert run.directives["KeepAlive"] == "On" and "LuaScope" not in run.directives
        assert run.mrw_effective == run.directives["MaxRequestWorkers"]
        assert run.lua_scope is not None and run.lua_scope.startswith("server")
        assert run.rate_per_client is None and run.raw_prefix is not None
        assert run.n_requested is None or isinstance(run.n_requested, int)
        assert all(isinstance(getattr(run, name), float) for name in ("lat_mean_ms", *LAT))
        assert isinstance(run.peak_pss_mb, float) and isinstance(run.idle_procs, int)
    s1 = runs["S1-event-static-ab-c100-ka0-r1"]
    assert (s1.n_requested, s1.tool, s1.keepalive, s1.failed) == (56000, "ab", False, 0)
    assert {r.tool for r in runs.values()} == {"ab", "wrk"}
    assert sum(r.notes is not None for r in runs.values()) == 12


def test_measurements_round_trip(runs: dict[str, MeasuredRun], tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    write_measurements((run.as_row() for run in runs.values()), target)
    again = read_measurements(target)
    assert again == list(runs.values())
    with target.open(newline="") as handle:
        assert tuple(next(csv.reader(handle))) == MEASUREMENT_COLUMNS
    with pytest.raises(InputError, match="file exists; pass overwrite=True"):
        write_measurements([], target)
    write_measurements([next(iter(runs.values())).as_row()], target, overwrite=True)
    assert len(read_measurements(target)) == 1


def _small_csv(tmp_path: Path, rows: list[dict[str, object]], columns: list[str]) -> Path:
    path = tmp_path / "small.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_measurements_order_extra_blank_and_bad_cells(
    runs: dict[str, MeasuredRun], tmp_path: Path
) -> None:
    row = runs["S1-event-static-ab-c100-ka0-r1"].as_row()
    row = {k: ("" if v is None else v) for k, v in row.items()}
    row["lat_p99_ms"] = ""
    row["my_extra"] = "x"
    columns = sorted(row)  # other order, one extra column
    (run,) = read_measurements(_small_csv(tmp_path, [row], columns))
    assert run.lat_p99_ms is None and run.extra["my_extra"] == "x"
    assert "my_extra" not in run.as_row()
    assert run.req_per_s == runs["S1-event-static-ab-c100-ka0-r1"].req_per_s

    bad = dict(row, req_per_s="fast")
    error = _one_error(read_measurements, _small_csv(tmp_path, [bad], columns))
    assert str(error).endswith(
        "small.csv: S1-event-static-ab-c100-ka0-r1: req_per_s: expected a number >= 0, got 'fast'"
    )
    for column, cell, said in [
        ("req_per_s", "-5", "req_per_s: expected a number >= 0, got '-5'"),
        ("mpm", "winnt", "mpm: expected prefork, worker, event, got 'winnt'"),
        ("concurrency", "1.5", "concurrency: expected a whole number"),
        ("url", "", "url: required value is blank"),
    ]:
        bad = dict(row, **{column: cell})
        assert said in str(_one_error(read_measurements, _small_csv(tmp_path, [bad], columns)))
    missing = [c for c in columns if c not in ("req_per_s", "concurrency")]
    error = _one_error(read_measurements, _small_csv(tmp_path, [], missing))
    assert "missing columns concurrency, req_per_s" in str(error)


def test_write_rejects_unknown_columns_and_takes_tool_rows(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="row 1: unknown columns bogus"):
        write_measurements([{"run_id": "a", "bogus": 1}], tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()
    result = read_ab_text(FIX / "ab_failures.txt")
    write_measurements([{"run_id": "x", **result.as_row()}], tmp_path / "y.csv")
    with (tmp_path / "y.csv").open(newline="") as handle:
        (cells,) = list(csv.DictReader(handle))
    assert (cells["req_per_s"], cells["keepalive"], cells["err_other"]) == ("500.0", "1", "10")
    assert cells["mpm"] == "" and cells["url"] == "/cpu?x=1"


def test_tool_result_row_uses_measurement_columns() -> None:
    row = ToolResult(tool="k6", source="s").as_row()
    assert set(row) <= set(MEASUREMENT_COLUMNS)
    assert row["err_read"] is None and row["keepalive"] is None
    assert not any(isinstance(v, float) and math.isnan(v) for v in row.values())

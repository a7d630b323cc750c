"""Input a new user got wrong, met through the command line: one line naming file, field and what
is allowed, exit code 2, no traceback; and a valid run that measures nothing says why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mpmsim.spec.reading import load_scenario_data
from mpmsim.workloads.readers.measurements import MEASUREMENT_COLUMNS
from tests.helpers import EXAMPLES, Cli, Outcome, scenario_dict


def real_mpmsim(*args: str) -> Outcome:
    """``python -m mpmsim ARGS`` in a process of its own, as a user runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "mpmsim", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def one_line_error(proc: Outcome) -> str:
    """The single stderr line of a run that failed with exit code 2 (no traceback)."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def write_scenario(tmp_path: Path, data: dict[str, Any], name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


# -- warm-up against the run's length ------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "needle"),
    [
        ({"duration_s": 2, "warmup_s": 5}, "duration_s 2 s"),
        ({"duration_s": 2, "warmup_s": 2}, "duration_s 2 s"),
        (
            {"warmup_s": 3, "load": {"kind": "closed", "clients": 1, "duration_s": 3}},
            "load.duration_s 3 s",
        ),
    ],
)
def test_warmup_as_long_as_the_run(
    mpmsim: Cli, tmp_path: Path, parts: dict[str, Any], needle: str
) -> None:
    path = write_scenario(tmp_path, scenario_dict(**parts))
    line = one_line_error(mpmsim("run", str(path)))
    assert "bad.yaml: warmup_s: must be less than the simulated time" in line
    assert needle in line


def test_warmup_set_on_the_command_line(mpmsim: Cli) -> None:
    example = EXAMPLES / "keepalive-idle-browsers.yaml"  # duration_s 40
    line = one_line_error(mpmsim("run", str(example), "--set", "warmup_s=40"))
    assert line.endswith("warmup_s: must be less than the simulated time (duration_s 40 s), "
                         "or no request is measured (got 40)")  # fmt: skip


def test_a_shorter_warmup_is_accepted() -> None:
    load_scenario_data(scenario_dict(duration_s=2, warmup_s=1.5))
    load_scenario_data(scenario_dict(duration_s=2, warmup_s="auto"))


def test_requests_done_before_the_warmup_ends_is_a_warning(mpmsim: Cli, tmp_path: Path) -> None:
    load = {"kind": "closed", "clients": 2, "requests": 20}
    path = write_scenario(tmp_path, scenario_dict(warmup_s=5, load=load))
    proc = mpmsim("run", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["throughput_rps"] == 0.0
    (warning,) = data["warnings"]
    assert warning.startswith("no response was measured: the load ended at ")
    assert "before the warm-up did at 5 s: lower warmup_s or raise load.requests (20)" in warning
    text = mpmsim("run", str(path))
    assert text.returncode == 0, text.stderr
    assert f"warning: {warning}" in text.stdout.splitlines()


def test_every_request_failing_is_a_warning(mpmsim: Cli, tmp_path: Path) -> None:
    one_worker = {"MaxRequestWorkers": 1, "ServerLimit": 1}
    path = write_scenario(
        tmp_path,
        scenario_dict(
            duration_s=1,
            replications=2,
            server={"mpm": "prefork", "directives": one_worker},
            load={"kind": "closed", "clients": 5, "timeout_s": 0.05},
            mix=[{"name": "slow", "cpu_ms": 1.0, "wait_ms": 5000.0}],
        ),
    )
    proc = mpmsim("run", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["completed"] == 0
    (warning,) = data["warnings"]
    assert warning.startswith("in 2 of 2 replications, no response was measured: every request "
                              "in the measured window failed (timeout ")  # fmt: skip


def test_requests_longer_than_the_run_is_a_warning(mpmsim: Cli, tmp_path: Path) -> None:
    slow = [{"name": "slow", "cpu_ms": 1.0, "wait_ms": 5000.0}]
    path = write_scenario(tmp_path, scenario_dict(duration_s=1, mix=slow))
    proc = mpmsim("run", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["warnings"] == [
        "no response was measured: 1 request was sent, none completed between the warm-up's "
        "end at 0 s and the run's end at 1 s: a request takes longer than that (raise duration_s)"
    ]


def test_a_run_that_measures_responses_has_no_such_warning(mpmsim: Cli, tmp_path: Path) -> None:
    path = write_scenario(tmp_path, scenario_dict(warmup_s=0.001))
    proc = mpmsim("run", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["warnings"] == []


# -- quantities that cannot be negative ----------------------------------------------------------


def _mix(**fields: Any) -> dict[str, Any]:
    return {"mix": [{"name": "r", "cpu_ms": 1.0, **fields}]}


@pytest.mark.parametrize(
    ("parts", "where"),
    [
        (_mix(cpu_ms=-20), "mix[0].cpu_ms: must be >= 0 (got -20)"),
        (_mix(wait_ms=-1.5), "mix[0].wait_ms: must be >= 0 (got -1.5)"),
        (_mix(response_bytes=-4096), "mix[0].response_bytes: must be >= 0 (got -4096)"),
        (
            _mix(memory_kib=-64),  # a plain number: pydantic's own words
            "mix[0].memory_kib: input should be greater than or equal to 0 (got -64)",
        ),
        (
            {"load": {"kind": "closed", "clients": 1, "requests": 5, "think_time_s": -1}},
            "load.think_time_s: must be >= 0 (got -1)",
        ),
        (
            {
                "duration_s": 1,
                "load": {
                    "kind": "open",
                    "sessions_per_s": 1,
                    "think_time_s": {"dist": "uniform", "low": -2, "high": 1},
                },
            },
            "load.think_time_s.low: must be >= 0 (got -2)",
        ),
        (
            _mix(cpu_ms={"dist": "empirical", "values": [1, -3, 2]}),
            "mix[0].cpu_ms.values[1]: must be >= 0 (got -3)",
        ),
        (
            _mix(wait_ms={"dist": "deterministic", "value": -2}),
            "mix[0].wait_ms.value: must be >= 0 (got -2)",
        ),
        (
            _mix(response_bytes={"dist": "exponential", "mean": 4096, "max": -1}),
            "mix[0].response_bytes.max: must be >= 0 (got -1)",
        ),
        (
            _mix(cpu_ms={"dist": "uniform", "low": -3, "high": 1, "min": -1}),
            "mix[0].cpu_ms.low: must be >= 0 (got -3)",
        ),
    ],
)
def test_negative_quantities(
    mpmsim: Cli, tmp_path: Path, parts: dict[str, Any], where: str
) -> None:
    path = write_scenario(tmp_path, scenario_dict(**parts))
    line = one_line_error(mpmsim("run", str(path)))
    assert line == f"mpmsim: error: {path}: {where}"


def test_a_clipped_distribution_that_stays_non_negative_is_accepted() -> None:
    clipped = {"dist": "uniform", "low": -1.0, "high": 1.0, "min": 0.0}
    load_scenario_data(scenario_dict(**_mix(cpu_ms=clipped, wait_ms=0)))


# -- files that are not text ---------------------------------------------------------------------


def test_binary_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_bytes(b"\xfa\x93\x00\x81binary" * 8)
    line = one_line_error(real_mpmsim("run", str(path)))
    assert line == f"mpmsim: error: {path}: not a UTF-8 text YAML file (byte 0 is 0xfa)"


@pytest.mark.parametrize("key", ["hardware", "costs"])
def test_latin1_hardware_or_costs_file(mpmsim: Cli, tmp_path: Path, key: str) -> None:
    profile = tmp_path / f"{key}.yaml"
    profile.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    path = write_scenario(tmp_path, scenario_dict(**{key: str(profile)}))
    line = one_line_error(mpmsim("run", str(path)))
    assert line.endswith(f"{profile}: not a UTF-8 text YAML file (byte 9 is 0xe9)")


# -- a measurement CSV without rows --------------------------------------------------------------


@pytest.mark.parametrize("tail", ["", "\n\n"])
def test_measurement_csv_with_only_a_header(mpmsim: Cli, tmp_path: Path, tail: str) -> None:
    path = tmp_path / "runs.csv"
    path.write_text(",".join(MEASUREMENT_COLUMNS) + "\n" + tail, encoding="utf-8")
    line = one_line_error(mpmsim("calibrate", str(path)))
    assert line == f"mpmsim: error: {path}: no measurement rows (only a header)"


def test_calibrate_keep_names_only_fitted_parameters(mpmsim: Cli, tmp_path: Path) -> None:
    path = tmp_path / "runs.csv"
    path.write_text(",".join(MEASUREMENT_COLUMNS) + "\n", encoding="utf-8")
    out = mpmsim("calibrate", str(path), "--keep", "switch_us_per_task,cpu_cv")
    assert out.returncode == 2
    line = one_line_error(out)
    assert line == (
        "mpmsim: error: --keep: 'cpu_cv' cannot be kept; allowed: switch_us_per_task, "
        "switch_us_per_process, idle_connection_us, fork_cpu_ms, thread_create_cpu_ms, "
        "after_response_cpu_ms, kernel_us_per_request, kernel_us_per_connection, "
        "thread_used_kib, connection_kib, listener_connection_kib, "
        "worker_kib, child_kib, classes.NAME.worker_kib, classes.NAME.child_kib"
    )


SHARED_RUNS = Path(__file__).resolve().parents[2] / "shared" / "data" / "apache-bench" / "runs.csv"


def _two_shared_rows(tmp_path: Path) -> Path:
    """The shared calibration set's first two rows (event), or skip without it."""
    if not SHARED_RUNS.exists():
        pytest.skip("shared measurements not present")
    path = tmp_path / "runs.csv"
    path.write_text("".join(SHARED_RUNS.read_text(encoding="utf-8").splitlines(True)[:3]))
    return path


def test_calibrate_holdout_that_selects_nothing(mpmsim: Cli, tmp_path: Path) -> None:
    """A --holdout with a typo would keep no row out and quietly fit them all: refused before
    any simulation, with the values the column takes."""
    path = _two_shared_rows(tmp_path)
    line = one_line_error(mpmsim("calibrate", str(path), "--holdout", "mpm=evnet"))
    assert line == (
        "mpmsim: error: --holdout: 'mpm=evnet' keeps no row of 2 out of the fit: mpm takes event"
    )


def test_a_bad_option_is_named_once(mpmsim: Cli, tmp_path: Path) -> None:
    line = one_line_error(mpmsim("calibrate", str(_two_shared_rows(tmp_path)), "--hardware", "x"))
    assert line.startswith("mpmsim: error: --hardware: unknown hardware 'x': use a catalog name")


READ_ONLY = Path("/proc/self")
"""A folder no one may create files in, root included (a read-only mount behaves alike)."""


@pytest.mark.skipif(not READ_ONLY.is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize(
    "args",
    [
        ("run", str(EXAMPLES / "primer-ab-event.yaml"), "--out", str(READ_ONLY / "out")),
        ("trace", "fit", str(EXAMPLES / "trace-replay.log.gz"), "-o", str(READ_ONLY / "t.yaml")),
        ("examples", "--copy", str(READ_ONLY / "ex")),
    ],
)
def test_an_output_folder_that_cannot_be_written(mpmsim: Cli, args: tuple[str, ...]) -> None:
    """Said in one line before any work (the write's own failure as well), exit 2, never an
    internal error."""
    line = one_line_error(mpmsim(*args))
    assert line.startswith(f"mpmsim: error: {READ_ONLY}") and "internal" not in line


def test_calibrate_without_the_cpu_column_names_the_file(mpmsim: Cli, tmp_path: Path) -> None:
    import csv

    path = _two_shared_rows(tmp_path)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    cut = tmp_path / "no-cpu.csv"
    with cut.open("w", encoding="utf-8", newline="") as handle:
        columns = [c for c in rows[0] if c != "apache_cpu_ms_per_req"]
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    line = one_line_error(mpmsim("calibrate", str(cut)))
    assert line.startswith(f"mpmsim: error: {cut}: apache_cpu_ms_per_req: no row has a value")
    no_rate = tmp_path / "no-rate.csv"
    with no_rate.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, [c for c in rows[0] if c != "req_per_s"],
                                extrasaction="ignore")  # fmt: skip
        writer.writeheader()
        writer.writerows(rows)
    assert "missing columns req_per_s" in one_line_error(mpmsim("calibrate", str(no_rate)))


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("server:\n  mpm: event\n  directives:\n    MaxRequestWorkers: 100\n"
         "    MaxRequestWorkers: 300\n", "line 7, column 5: the key 'MaxRequestWorkers'"),
        ("server: {mpm: prefork}\nserver: {mpm: event}\n", "line 4, column 1: the key 'server'"),
    ],
)  # fmt: skip
def test_a_key_given_twice_is_refused(mpmsim: Cli, tmp_path: Path, text: str, where: str) -> None:
    """PyYAML would keep the last one silently (YAML forbids a repeated key)."""
    path = tmp_path / "twice.yaml"
    path.write_text("name: twice\nload: {kind: closed, clients: 1, requests: 5}\n" + text)
    line = one_line_error(mpmsim("run", str(path)))
    assert line == f"mpmsim: error: {path}: invalid YAML at {where} is given twice"


def test_a_yaml_merge_key_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text(
        "name: merge\nbase: &b {mpm: prefork, directives: {MaxRequestWorkers: 50}}\n"
        "server:\n  <<: *b\n  mpm: worker\n"
    )
    from mpmsim.errors.spec_files import read_yaml_mapping

    assert read_yaml_mapping(path)["server"]["mpm"] == "worker"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("run", "x.yaml", "--replications", "0"), "Invalid value for '--replications'"),
        (("runn",), "No such command 'runn'. Did you mean 'run'?"),
        (("run",), "Missing argument 'scenario'."),
    ],
)
def test_a_usage_error_is_one_line_too(mpmsim: Cli, args: tuple[str, ...], said: str) -> None:
    line = one_line_error(mpmsim(*args))
    assert line.startswith(f"mpmsim: error: {said}") and line.endswith("--help)")


def test_a_folder_given_as_a_log(mpmsim: Cli, tmp_path: Path) -> None:
    line = one_line_error(mpmsim("trace", "fit", str(tmp_path), "-o", str(tmp_path / "t.yaml")))
    assert line == f"mpmsim: error: {tmp_path}: is a folder, not a file"


@pytest.mark.parametrize(
    ("assignment", "start"),
    [
        ("load.clients=-5", "mpmsim: error: --set load.clients=-5: load.clients: input should"),
        ("load.kind=open", "mpmsim: error: --set load.kind=open: load.clients: unknown key"),
        (
            "server.directives.MaxRequestWorkers=-3",
            "mpmsim: error: --set server.directives.MaxRequestWorkers=-3: server.directives.",
        ),
    ],
)
def test_a_bad_set_is_blamed_on_the_set(mpmsim: Cli, assignment: str, start: str) -> None:
    """Not on the file, which says something else (clients: 100, kind: closed)."""
    line = one_line_error(
        mpmsim("run", str(EXAMPLES / "primer-ab-event.yaml"), "--set", assignment)
    )
    assert line.startswith(start)

"""The command line as a user meets it: run through a real subprocess, output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import EXAMPLES

DESIGN_KEYS = {
    "scenario", "mpm", "hardware", "seed", "replications", "effective_directives", "warnings",
    "throughput_rps", "throughput_rps_ci95", "completed", "errors", "latency_ms", "memory_mib",
    "ram_exceeded", "cpu_utilization", "workers", "sim",
}  # fmt: skip


def mpmsim(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mpmsim ARGS``."""
    return subprocess.run(
        [sys.executable, "-m", "mpmsim", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit code 2, exactly one line on stderr naming what is wrong, and no traceback."""
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_run_json_has_the_design_keys() -> None:
    proc = mpmsim("run", str(EXAMPLES / "primer-ab-event.yaml"), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) >= DESIGN_KEYS
    assert set(data["errors"]) == {"refused", "timeout", "reset"}
    assert {"mean", "p50", "p90", "p95", "p99", "max"} <= set(data["latency_ms"])
    assert {"peak", "mean", "limit"} <= set(data["memory_mib"])
    assert {"processes_peak", "threads_peak", "busy_peak", "keepalive_peak"} <= set(data["workers"])
    assert {"events", "wall_s", "simulated_s"} <= set(data["sim"])
    assert data["completed"] == 10000
    assert data["effective_directives"]["MaxRequestWorkers"] == 400
    assert data["throughput_rps"] > 0


def test_run_table_by_default() -> None:
    proc = mpmsim("run", str(EXAMPLES / "primer-ab-prefork.yaml"), "--replications", "1")
    assert proc.returncode == 0, proc.stderr
    assert "throughput" in proc.stdout and "bottleneck" in proc.stdout


def test_set_overrides_a_directive(tmp_path: Path) -> None:
    proc = mpmsim(
        "run", str(EXAMPLES / "primer-ab-worker.yaml"), "--json", "--replications", "1",
        "--set", "server.directives.MaxRequestWorkers=140",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    # Apache rounds 140 down to a multiple of ThreadsPerChild 25, and says so.
    assert data["effective_directives"]["MaxRequestWorkers"] == 125
    assert any("AH00316" in w for w in data["warnings"])


def test_typo_in_a_key(tmp_path: Path) -> None:
    bad = tmp_path / "typo.yaml"
    text = (EXAMPLES / "primer-ab-event.yaml").read_text().replace("clients:", "clinets:")
    bad.write_text(text)
    assert_one_line_error(mpmsim("run", str(bad)), "typo.yaml", "load", "clinets")


def test_unknown_directive_suggests_the_nearest(tmp_path: Path) -> None:
    bad = tmp_path / "d.yaml"
    text = (EXAMPLES / "primer-ab-event.yaml").read_text()
    bad.write_text(text.replace("MaxRequestWorkers:", "MaxRequestWorker:"))
    assert_one_line_error(mpmsim("run", str(bad)), "d.yaml", "MaxRequestWorkers")


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("MaxRequestWorkers: 400", "MaxRequestWorkers: -5", "MaxRequestWorkers"),
        ("ThreadsPerChild: 25", "ThreadsPerChild: lots", "ThreadsPerChild"),
        ("clients: 100", "clients: 0", "clients"),
        ("hardware: t3.medium", "hardware: t3.meduim", "t3.medium"),
        ("mpm: event", "mpm: evnet", "server.mpm"),
    ],
)
def test_impossible_values(tmp_path: Path, old: str, new: str, needle: str) -> None:
    bad = tmp_path / "bad.yaml"
    text = (EXAMPLES / "primer-ab-event.yaml").read_text()
    assert old in text
    bad.write_text(text.replace(old, new))
    assert_one_line_error(mpmsim("run", str(bad)), "bad.yaml", needle)


def test_malformed_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("load: [unclosed\n")
    assert_one_line_error(mpmsim("run", str(bad)), "broken.yaml", "line")
    assert_one_line_error(mpmsim("run", str(tmp_path / "nope.yaml")), "nope.yaml")


def test_bad_set_is_a_one_line_error() -> None:
    proc = mpmsim("run", str(EXAMPLES / "primer-ab-event.yaml"), "--set", "nonsense")
    assert_one_line_error(proc, "--set")


def test_out_writes_records_and_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ("run", str(EXAMPLES / "primer-ab-prefork.yaml"), "--replications", "1")
    proc = mpmsim(*args, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    for name in ("result.json", "requests.csv", "series.csv", "replications.csv"):
        assert (out / name).stat().st_size > 0
    header = (out / "requests.csv").read_text().splitlines()[0]
    assert header.startswith("replication,t_start_s,t_end_s,latency_ms")
    before = (out / "result.json").read_text()
    assert_one_line_error(mpmsim(*args, "--out", str(out)), "--force")
    assert (out / "result.json").read_text() == before
    assert mpmsim(*args, "--out", str(out), "--force").returncode == 0


def test_schema_hardware_examples_version() -> None:
    schema = json.loads(mpmsim("schema").stdout)
    assert schema["title"] == "mpmsim scenario"
    assert {"hardware", "server", "load", "mix"} <= set(schema["properties"])
    hw = mpmsim("hardware", "list")
    assert hw.returncode == 0 and "t3.medium" in hw.stdout and "bench-1core" in hw.stdout
    ex = mpmsim("examples")
    assert ex.returncode == 0 and "primer-ab-event.yaml" in ex.stdout
    assert mpmsim("--version").stdout.startswith("mpmsim ")


def test_bench_refuses_a_bad_tool_and_bad_levels(tmp_path: Path) -> None:
    out = str(tmp_path / "runs.csv")
    proc = mpmsim("bench", "http://127.0.0.1:9/x", "-o", out, "--mpm", "event", "--tool", "siege")
    assert_one_line_error(proc, "ab", "wrk")
    proc = mpmsim("bench", "http://127.0.0.1:9/x", "-o", out, "--concurrency", "1,many")
    assert_one_line_error(proc, "--concurrency")
    proc = mpmsim("bench", "http://127.0.0.1:9/x", "-o", out, "--concurrency", "5,5")
    assert_one_line_error(proc, "--concurrency", "5 given twice", "--repetitions")
    proc = mpmsim("bench", "http://127.0.0.1:9/x", "-o", out)
    assert_one_line_error(proc, "--mpm", "--apache-config")
    proc = mpmsim("bench", "http://127.0.0.1:9/x", "-o", out, "--mpm", "bogus")
    assert_one_line_error(proc, "--mpm", "prefork, worker, event")


def test_missed_reference_exits_1() -> None:
    args = ("run", str(EXAMPLES / "primer-ab-event.yaml"), "--replications", "1")
    assert mpmsim(*args).returncode == 0
    missed = mpmsim(*args, "--set", "reference.throughput_rps=100")
    assert missed.returncode == 1
    assert "OUTSIDE" in missed.stdout


def test_help_loads_no_heavy_module() -> None:
    """``mpmsim --help`` stays instant: command modules import the library inside the commands."""
    heavy = ("numpy", "pandas", "plotly", "scipy", "simpy", "pydantic", "mpmsim.engine")
    code = (
        "import sys\nfrom mpmsim.cli import app\nfrom typer.testing import CliRunner\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


@pytest.mark.parametrize("command", [("bench",), ("calibrate",), ("trace", "fit")])
def test_help_names_every_option_in_full_at_80_columns(command: tuple[str, ...]) -> None:
    """rich's panels cut long option names (--apache-pid-f…) in a narrow terminal."""
    import os

    env = {**os.environ, "COLUMNS": "80"}
    out = subprocess.run(
        [sys.executable, "-m", "mpmsim", *command, "--help"],
        capture_output=True, text=True, env=env, check=True,
    ).stdout  # fmt: skip
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= 80
    if command == ("bench",):
        assert "--apache-pid-file" in out and "--rate-per-client" in out


def test_bench_takes_the_mpm_and_directives_from_the_server_s_config(tmp_path: Path) -> None:
    """--apache-config: its LoadModule line gives the MPM, its sections the directives the rows
    record (they were Apache's defaults, whatever the server ran)."""
    from mpmsim.cli.bench import _server
    from mpmsim.errors import InputError

    conf = tmp_path / "httpd.conf"
    conf.write_text(
        "LoadModule mpm_event_module modules/mod_mpm_event.so\n<IfModule mpm_event_module>\n"
        "    ThreadsPerChild 10\n    MaxRequestWorkers 40\n</IfModule>\n"
    )
    mpm, directives = _server(None, conf)
    assert mpm == "event" and directives == {"ThreadsPerChild": "10", "MaxRequestWorkers": "40"}
    with pytest.raises(InputError, match="loads mpm_event, not prefork"):
        _server("prefork", conf)
    assert _server("worker", None) == ("worker", None)

"""Measure a real Apache with ab or wrk: the library behind ``mpmsim bench``.

One row per (repetition, concurrency) in the measurement CSV's columns (runs.csv's). For a
local server (``apache_pid_file``) it also samples Apache's CPU, process, thread and memory use
from /proc and takes one mid-run ``/server-status?auto`` snapshot. Bad input, a server that
cannot be reached and a run that measured nothing (no response, or only HTTP errors) raise an
InputError, and no row is returned.
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from mpmsim.bench.processes import apache_pid
from mpmsim.bench.target import check_url, probe
from mpmsim.bench.tool import INSTALL_HINT, TOOLS, command, read_report, refuse_failed, run_tool
from mpmsim.errors import InputError
from mpmsim.models.apache.directives import apply_apache_rules, normalize_directives
from mpmsim.workloads.readers import MEASUREMENT_COLUMNS, write_measurements

KEEPALIVE_DIRECTIVES = ("KeepAlive", "MaxKeepAliveRequests", "KeepAliveTimeout")
MAX_CONCURRENCY = 20_000  # ab's own limit
MAX_DURATION_S = 3600

Row = dict[str, object]

#: The command line writes bench's rows under this name: the measurement CSV writer.
write_rows = write_measurements


def _validate(url: str, tool: str, concurrency: Sequence[int], duration_s: float,
              repetitions: int, pid_file: Path | None, status_url: str | None) -> None:  # fmt: skip
    """Refuse bad arguments before any tool is looked for or any connection made."""
    host = check_url(url, "url", pid_file is not None)
    if status_url is not None and check_url(status_url, "status_url", pid_file is not None) != host:
        raise InputError(f"status_url must be on the benchmarked host {host!r}", field="status_url")
    if tool not in TOOLS:
        raise InputError(f"unknown tool {tool!r}; expected one of {', '.join(TOOLS)}", field="tool")
    if not concurrency or any(not 1 <= int(c) <= MAX_CONCURRENCY for c in concurrency):
        raise InputError(f"each concurrency must be 1..{MAX_CONCURRENCY}", field="concurrency")
    if duration_s != int(duration_s) or not 1 <= duration_s <= MAX_DURATION_S:
        raise InputError(
            f"must be a whole number of seconds in 1..{MAX_DURATION_S} (ab -t and wrk -d take "
            f"integers), got {duration_s}",
            field="duration_s",
        )
    if not 1 <= repetitions <= 100:
        raise InputError("must be 1..100", field="repetitions")
    if pid_file is not None:
        apache_pid(pid_file)


def _config_cells(mpm: str | None, directives: Mapping[str, object] | None) -> Row:
    """config_json and the MPM sizing cells that follow from the directives."""
    if mpm is None and directives is None:
        return {"config_json": ""}
    given = dict(directives or {})
    config = {
        "mpm": mpm,
        "mpm_params": {k: v for k, v in given.items() if k not in KEEPALIVE_DIRECTIVES},
        "server": {k: v for k, v in given.items() if k in KEEPALIVE_DIRECTIVES},
    }
    row: Row = {"config_json": json.dumps(config, separators=(",", ":"), default=str)}
    row["mrw_nominal"] = given.get("MaxRequestWorkers")
    if mpm in ("prefork", "worker", "event"):
        # What Apache will run with, after its defaults and start-up adjustments.
        values, _ = normalize_directives(given, source="--directives")
        eff, _ = apply_apache_rules(mpm, values)
        row.update(
            mrw_effective=eff.MaxRequestWorkers,
            threads_per_child=eff.ThreadsPerChild if mpm != "prefork" else 1,
            server_limit=eff.ServerLimit,
        )
        if row["mrw_nominal"] is None:
            row["mrw_nominal"] = eff.MaxRequestWorkers
    return row


@dataclass(frozen=True)
class _Settings:
    """What every run of one bench call shares."""

    url: str
    tool: str
    executable: str
    keepalive: bool
    seconds: int
    pid_file: Path | None
    status_url: str | None
    mpm: str | None
    config: Row


def _measure(s: _Settings, c: int, rep: int) -> Row:
    """One run of the tool at concurrency ``c``: its measurement row (InputError if it failed)."""
    pid = apache_pid(s.pid_file) if s.pid_file is not None else None
    row: Row = dict.fromkeys(MEASUREMENT_COLUMNS)
    row.update(s.config)
    with tempfile.TemporaryDirectory(prefix="mpmsim-bench-") as tmp:
        work = Path(tmp)
        cmd = command(s.tool, s.url, c, s.keepalive, s.seconds, work / "pct.csv")
        row["start_ts"] = datetime.now().isoformat(timespec="seconds")
        row["tool_cmd"] = shlex.join(cmd).replace(str(work / "pct.csv"), "pct.csv")
        code, measured = run_tool([s.executable, *cmd[1:]], s.seconds, work, pid, s.status_url)
        result = read_report(s.tool, s.url, c, work)
    refuse_failed(result, s.url, c)
    row.update(result.as_row())
    row.update(measured)
    parts = urlsplit(s.url)
    ka = int(s.keepalive)
    row.update(
        run_id=f"bench-{s.mpm + '-' if s.mpm else ''}{s.tool}-c{c}-ka{ka}-r{rep}",
        scenario="bench", mpm=s.mpm, content="static", tool=s.tool, concurrency=c,
        keepalive=ka, repetition=rep, warmup_s=0,
        url=parts.path + (f"?{parts.query}" if parts.query else ""),
        notes=f"{s.tool} exit code {code}" if code else "",
    )  # fmt: skip
    cpu_s, done = row.get("apache_cpu_s"), row.get("requests_completed")
    if isinstance(cpu_s, float) and isinstance(done, int) and done > 0:
        row["apache_cpu_ms_per_req"] = round(cpu_s * 1000 / done, 4)
    if isinstance(mean := row.get("lat_mean_ms"), float):
        row["lat_mean_ms"] = round(mean, 3)
    return row


def _result_line(row: Mapping[str, object]) -> str:
    def cell(key: str, fmt: str) -> str:
        value = row.get(key)
        return "?" if value is None else format(value, fmt)

    line = (f"{cell('req_per_s', '.1f')} req/s, p50 {cell('lat_p50_ms', '.3g')} ms, "
            f"p99 {cell('lat_p99_ms', '.3g')} ms, failed {cell('failed', 'd')}")  # fmt: skip
    if row.get("apache_cpu_ms_per_req") is not None:
        line += f", Apache {cell('apache_cpu_ms_per_req', '.3f')} ms CPU/req"
    return line


def bench(
    url: str,
    *,
    tool: str = "ab",
    concurrency: Sequence[int] = (1, 10, 100),
    keepalive: bool = False,
    duration_s: float = 5.0,
    apache_pid_file: Path | None = None,
    status_url: str | None = None,
    repetitions: int = 1,
    progress: Callable[[str], None] | None = None,
    mpm: str | None = None,
    directives: Mapping[str, object] | None = None,
) -> list[Row]:
    """Run ``tool`` against ``url`` once per repetition x concurrency; one measurement row each.

    Traffic goes only to ``url``'s host (one connect probe first, the tool, one mid-run
    ``status_url?auto`` per run). With ``apache_pid_file`` the server must be on loopback and is
    sampled from /proc. wrk keeps connections alive unless ``keepalive`` is False, then it sends
    ``Connection: close``. A run in which no request got a response raises InputError.
    """
    _validate(url, tool, concurrency, duration_s, repetitions, apache_pid_file, status_url)
    if urlsplit(url).path == "":
        url = urlsplit(url)._replace(path="/").geturl()  # ab refuses a URL without a path
    executable = shutil.which(tool)
    if executable is None:
        raise InputError(f"{tool} not found on PATH: {INSTALL_HINT[tool]}", field="tool")
    unreachable = probe(url)
    if unreachable:
        raise InputError(f"cannot connect to {url}: {unreachable}", field="url")
    settings = _Settings(url, tool, executable, keepalive, int(duration_s), apache_pid_file,
                         status_url, mpm, _config_cells(mpm, directives))  # fmt: skip
    rows: list[Row] = []
    for rep in range(1, repetitions + 1):
        for c in (int(x) for x in concurrency):
            label = f"c={c} ka={int(keepalive)} rep {rep}/{repetitions}"
            if progress:
                progress(f"{label}: running {settings.seconds} s ...")
            rows.append(_measure(settings, c, rep))
            if progress:
                progress(f"{label}: {_result_line(rows[-1])}")
    return rows


__all__ = ["bench", "write_rows"]

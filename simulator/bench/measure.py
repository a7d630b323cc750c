"""Measure a real Apache with ab, wrk or kaclient: the library behind ``mpmsim bench``.

One row per (repetition, concurrency) in the measurement CSV's columns (runs.csv's). For a
local server (``apache_pid_file``) it also samples Apache's CPU, process, thread and memory use
from /proc and takes one mid-run ``/server-status?auto`` snapshot. Bad input, a server that
cannot be reached and a run that measured nothing (no response, or only HTTP errors) raise an
InputError, and no row is returned.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from mpmsim.bench.kaclient import UsageError, loopback_target
from mpmsim.bench.kaclient_report import kaclient_cells
from mpmsim.bench.processes import apache_pid, sample_processes
from mpmsim.bench.target import check_url, probe, same_host, status_problem
from mpmsim.bench.tool import (
    INSTALL_HINT,
    KACLIENT,
    TOOL_GRACE_S,
    TOOLS,
    command,
    read_report,
    refuse_failed,
    run_tool,
)
from mpmsim.errors import InputError
from mpmsim.models.apache.directives import apply_apache_rules, normalize_directives
from mpmsim.workloads.readers import MEASUREMENT_COLUMNS, write_measurements

KEEPALIVE_DIRECTIVES = ("KeepAlive", "MaxKeepAliveRequests", "KeepAliveTimeout")
MAX_CONCURRENCY = 20_000  # ab's own limit
MAX_DURATION_S = 3600
MAX_RATE_PER_CLIENT = 100.0
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: kaclient's connections are bounded by its own limit (file descriptors), not ab's.
MAX_KACLIENT_CLIENTS = 5000

Row = dict[str, object]

#: The command line writes bench's rows under this name: the measurement CSV writer.
write_rows = write_measurements


@dataclass(frozen=True)
class Extras:
    """What a campaign adds to a plain bench call: labels, pacing, warm-up and raw files."""

    scenario: str = "bench"
    content: str = "static"
    tag: str | None = None
    rate_per_client: float | None = None
    warmup_s: int = 0
    raw_dir: Path | None = None


def _validate(url: str, tool: str, concurrency: Sequence[int], duration_s: float,
              repetitions: int, pid_file: Path | None, status_url: str | None) -> None:  # fmt: skip
    """Refuse bad arguments before any tool is looked for or any connection made."""
    host = check_url(url, "url", pid_file is not None)
    if status_url is not None and not same_host(
        check_url(status_url, "status_url", pid_file is not None), host
    ):
        raise InputError(f"status_url must be on the benchmarked host {host!r}", field="status_url")
    if tool not in TOOLS:
        raise InputError(f"unknown tool {tool!r}; expected one of {', '.join(TOOLS)}", field="tool")
    top = MAX_KACLIENT_CLIENTS if tool == "kaclient" else MAX_CONCURRENCY
    if not concurrency or any(not 1 <= int(c) <= top for c in concurrency):
        raise InputError(f"each concurrency must be 1..{top}", field="concurrency")
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


def _validate_extras(tool: str, extras: Extras, url: str) -> None:
    """kaclient only on loopback; a rate only for kaclient; a whole warm-up; no '/' in labels."""
    if tool == "kaclient":
        try:
            loopback_target(url)
        except UsageError as exc:
            raise InputError(str(exc).removeprefix("url: "), field="url") from None
    rate = extras.rate_per_client
    if rate is not None and (tool != "kaclient" or not 0 < rate <= MAX_RATE_PER_CLIENT):
        raise InputError(
            f"only kaclient paces its clients; must be in (0, {MAX_RATE_PER_CLIENT:g}]",
            field="rate_per_client",
        )
    warm = extras.warmup_s
    if warm != int(warm) or not 0 <= warm <= MAX_DURATION_S:
        raise InputError(
            f"must be a whole number of seconds in 0..{MAX_DURATION_S}", field="warmup_s"
        )
    for name in ("scenario", "content", "tag"):
        label = getattr(extras, name)
        if label is not None and not _LABEL.match(label):
            raise InputError(f"must be letters, digits, '_', '.' or '-', got {label!r}", field=name)


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
    launcher: tuple[str, ...]
    keepalive: bool
    seconds: int
    pid_file: Path | None
    status_url: str | None
    mpm: str | None
    config: Row
    extras: Extras


def _run_id(s: _Settings, c: int, rep: int) -> str:
    e = s.extras
    parts = [e.scenario, s.mpm, e.tag, None if e.content == "static" else e.content, s.tool]
    name = "-".join(p for p in parts if p)
    return f"{name}-c{c}-ka{int(s.keepalive)}-r{rep}"


def _warm_up(s: _Settings, cmd: list[str], work: Path) -> int:
    """ab/wrk's warm-up: the same load for warmup_s on the same server, unmeasured; exit code."""
    with open(work / "warmup.txt", "wb") as out:
        try:
            return subprocess.run(
                [*s.launcher, *cmd[1:]], stdout=out, stderr=subprocess.STDOUT, cwd=work,
                stdin=subprocess.DEVNULL, timeout=s.extras.warmup_s + TOOL_GRACE_S, check=False,
            ).returncode  # fmt: skip
        except subprocess.TimeoutExpired:
            raise InputError(f"{s.tool} warm-up did not finish in time") from None


def _save_raw(s: _Settings, work: Path, run_id: str) -> str | None:
    """Copy the tool's output (and ab's percentiles, stderr, the warm-up's output) to raw_dir."""
    raw = s.extras.raw_dir
    if raw is None:
        return None
    raw.mkdir(parents=True, exist_ok=True)
    for name, suffix in (("out.txt", f"{s.tool}.txt"), ("pct.csv", "ab_pct.csv"),
                         ("err.txt", "err.txt"), ("warmup.txt", "warmup.txt")):  # fmt: skip
        src = work / name
        if src.exists() and (name == "out.txt" or src.stat().st_size > 0):
            shutil.copyfile(src, raw / f"{run_id}.{suffix}")
    return f"{raw.name}/{run_id}"


def _run(s: _Settings, c: int, work: Path) -> tuple[list[str], int, Row]:
    """The tool's command, its exit code and the sampled cells (after any warm-up)."""
    e = s.extras
    pid = apache_pid(s.pid_file) if s.pid_file is not None else None
    idle = sample_processes(pid) if pid else None
    ka = s.tool == "kaclient"
    measured = command(s.tool, s.url, c, s.keepalive, s.seconds, work / "pct.csv",
                       rate=e.rate_per_client or 1.0, warmup_s=e.warmup_s)  # fmt: skip
    if e.warmup_s and not ka:
        warm = command(s.tool, s.url, c, s.keepalive, e.warmup_s, work / "warm_pct.csv")
        if code := _warm_up(s, warm, work):
            raise InputError(f"{s.tool} warm-up exited with code {code}")
    total = s.seconds + (e.warmup_s if ka else 0)
    code, cells = run_tool([*s.launcher, *measured[1:]], total, work, pid, s.status_url,
                           window_start_s=e.warmup_s if ka else 0.0, idle=idle)  # fmt: skip
    return measured, code, cells


def _measure(s: _Settings, c: int, rep: int) -> Row:
    """One run of the tool at concurrency ``c``: its measurement row (InputError if it failed)."""
    row: Row = dict.fromkeys(MEASUREMENT_COLUMNS)
    row.update(s.config)
    run_id = _run_id(s, c, rep)
    with tempfile.TemporaryDirectory(prefix="mpmsim-bench-") as tmp:
        work = Path(tmp)
        row["start_ts"] = datetime.now().isoformat(timespec="seconds")
        cmd, code, measured = _run(s, c, work)
        row["tool_cmd"] = shlex.join(cmd).replace(f"{work}/", "")  # pct.csv, wrk_report.lua
        row["raw_prefix"] = _save_raw(s, work, run_id)
        result = read_report(s.tool, s.url, c, work)
        extra = kaclient_cells(work / "out.txt") if s.tool == "kaclient" else {}
    refuse_failed(result, s.url, c)
    row.update(result.as_row())
    row.update(measured)
    parts = urlsplit(s.url)
    notes = [f"{s.tool} exit code {code}"] if code else []
    notes += [str(extra.pop("notes"))] if extra.get("notes") else []
    row.update(extra)
    row.update(
        run_id=run_id, scenario=s.extras.scenario, mpm=s.mpm, content=s.extras.content,
        tool=s.tool, concurrency=c, keepalive=int(s.keepalive), repetition=rep,
        warmup_s=s.extras.warmup_s, url=parts.path + (f"?{parts.query}" if parts.query else ""),
        notes=" ".join(notes),
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
    extras: Extras | None = None,
) -> list[Row]:
    """Run ``tool`` against ``url`` once per repetition x concurrency; one measurement row each.

    Traffic goes only to ``url``'s host (one connect probe first, the tool, one mid-run
    ``status_url?auto`` per run). With ``apache_pid_file`` the server must be on loopback and is
    sampled from /proc. wrk keeps connections alive unless ``keepalive`` is False, then it sends
    ``Connection: close``; kaclient (loopback only) always keeps them alive. ``extras`` labels
    the rows, paces kaclient, warms the server up before each measured window (ab/wrk: the same
    load for warmup_s; kaclient: inside the tool) and keeps the raw outputs. A run in which no
    request got a response raises InputError.
    """
    extras = extras or Extras()
    _validate(url, tool, concurrency, duration_s, repetitions, apache_pid_file, status_url)
    _validate_extras(tool, extras, url)
    if urlsplit(url).path == "":
        url = urlsplit(url)._replace(path="/").geturl()  # ab refuses a URL without a path
    if tool == "kaclient":
        launcher: tuple[str, ...] = KACLIENT
        keepalive = True
    elif (executable := shutil.which(tool)) is not None:
        launcher = (executable,)
    else:
        raise InputError(f"{tool} not found on PATH: {INSTALL_HINT[tool]}", field="tool")
    unreachable = probe(url)
    if unreachable:
        raise InputError(f"cannot connect to {url}: {unreachable}", field="url")
    if status_url is not None and (why := status_problem(status_url)):
        raise InputError(why, field="status_url")
    settings = _Settings(url, tool, launcher, keepalive, int(duration_s), apache_pid_file,
                         status_url, mpm, _config_cells(mpm, directives), extras)  # fmt: skip
    rows: list[Row] = []
    for rep in range(1, repetitions + 1):
        for c in (int(x) for x in concurrency):
            label = f"c={c} ka={int(keepalive)} rep {rep}/{repetitions}"
            if progress:
                progress(f"{label}: running {extras.warmup_s + settings.seconds} s ...")
            rows.append(_measure(settings, c, rep))
            if progress:
                progress(f"{label}: {_result_line(rows[-1])}")
    return rows


__all__ = ["Extras", "bench", "write_rows"]

"""Measure a real Apache with ab or wrk: the library behind ``mpmsim bench``.

One row per (repetition, concurrency) with the column names of the calibration set's
``runs.csv``.  For a local server (``apache_pid_file``) it also samples Apache's CPU, process,
thread and memory use from /proc and takes one mid-run ``/server-status?auto`` snapshot.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from mpmsim.bench.parse import RUN_COLUMNS, Row, parse_ab, parse_status, parse_wrk, write_rows
from mpmsim.errors import InputError
from mpmsim.models.apache.directives import apply_apache_rules, normalize_directives

TOOLS = ("ab", "wrk")
INSTALL_HINT = {"ab": "install apache2-utils (Debian) or use --tool wrk", "wrk": "install wrk"}
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
KEEPALIVE_DIRECTIVES = ("KeepAlive", "MaxKeepAliveRequests", "KeepAliveTimeout")
AB_MAX_REQUESTS = 500_000
MAX_CONCURRENCY = 20_000  # ab's own limit
MAX_DURATION_S = 3600
TOOL_GRACE_S = 60.0
SAMPLE_EVERY_S = 0.5
STATUS_TIMEOUT_S = 5.0


# ---------------------------------------------------------------------------------------------
# /proc sampling of a local Apache (parent + children).


def clock_ticks_per_s() -> int:
    """Kernel clock ticks per second (the unit of /proc/PID/stat CPU times)."""
    return int(os.sysconf("SC_CLK_TCK"))


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from the state on (index 0 = state, 1 = ppid), None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def apache_pids(parent: int) -> list[int]:
    """The parent and its direct children (zombies included)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _proc_stat(int(entry.name))
            if fields is not None and int(fields[1]) == parent:
                children.append(int(entry.name))
    return [parent, *sorted(children)]


def cpu_ticks(parent: int) -> int:
    """utime+stime of the parent and its children, plus the parent's cutime+cstime."""
    total = 0
    for pid in apache_pids(parent):
        fields = _proc_stat(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
            if pid == parent:
                total += int(fields[13]) + int(fields[14])
    return total


def _kb_fields(path: str, names: Sequence[str]) -> dict[str, int]:
    found = {}
    with open(path) as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in names:
                found[key] = int(value.split()[0])
    return found


def sample_processes(parent: int) -> dict[str, int | None]:
    """Live process count and summed Threads, RSS and PSS (kB; None if any was unreadable)."""
    procs = threads = rss = pss = 0
    readable = True
    for pid in apache_pids(parent):
        fields = _proc_stat(pid)
        if fields is None or fields[0] in ("Z", "X"):
            continue
        try:
            threads += _kb_fields(f"/proc/{pid}/status", ("Threads",)).get("Threads", 0)
            memory = _kb_fields(f"/proc/{pid}/smaps_rollup", ("Rss", "Pss"))
        except FileNotFoundError:
            continue  # exited meanwhile
        except OSError:
            readable = False
            memory = {}
        procs += 1
        rss += memory.get("Rss", 0)
        pss += memory.get("Pss", 0)
    return {"procs": procs, "threads": threads,
            "rss_kb": rss if readable else None, "pss_kb": pss if readable else None}  # fmt: skip


def _summary(prefix: str, samples: Sequence[Mapping[str, int | None]]) -> Row:
    """``<prefix>_procs/threads/rss_mb/pss_mb``: maxima over ``samples``."""
    row: Row = {}
    for key, column in (("procs", "procs"), ("threads", "threads"),
                        ("rss_kb", "rss_mb"), ("pss_kb", "pss_mb")):  # fmt: skip
        values = [v for s in samples if (v := s[key]) is not None]
        if values and len(values) == len(samples):
            top = max(values)
            row[f"{prefix}_{column}"] = round(top / 1024, 2) if key.endswith("kb") else top
    return row


# ---------------------------------------------------------------------------------------------
# Running the tool.


def fetch_status(status_url: str, timeout: float = STATUS_TIMEOUT_S) -> Row:
    """One ``GET <status_url>?auto`` (no proxy): status_mid_ok, fetch time and parsed fields."""
    url = status_url if "auto" in urlsplit(status_url).query else f"{status_url}?auto"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.monotonic()
    row: Row = {"status_mid_ok": 0}
    try:
        with opener.open(url, timeout=timeout) as response:
            text = response.read().decode("utf-8", "replace")
            if response.status == 200:
                row.update(parse_status(text), status_mid_ok=1)
    except (OSError, ValueError):
        pass
    row["status_mid_fetch_ms"] = round((time.monotonic() - started) * 1000, 1)
    return row


def _check_url(url: str, field: str, local: bool) -> str:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise InputError(f"expected an http:// URL, got {url!r}", field=field)
    try:
        _ = parts.port
    except ValueError as exc:
        raise InputError(f"bad port in {url!r}", field=field) from exc
    if local and parts.hostname not in LOCAL_HOSTS:
        raise InputError(
            f"local sampling (apache_pid_file) needs a loopback URL "
            f"({', '.join(LOCAL_HOSTS)}), got host {parts.hostname!r}",
            field=field,
        )
    return parts.hostname


def _validate(url: str, tool: str, concurrency: Sequence[int], duration_s: float,
              repetitions: int, local: bool, status_url: str | None) -> None:  # fmt: skip
    host = _check_url(url, "url", local)
    if status_url is not None and _check_url(status_url, "status_url", local) != host:
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


def _apache_pid(pid_file: Path) -> int:
    try:
        pid = int(Path(pid_file).read_text().strip())
    except (OSError, ValueError) as exc:
        raise InputError("cannot read a PID from it", file=str(pid_file)) from exc
    fields = _proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        raise InputError(f"no running process with PID {pid}", file=str(pid_file))
    return pid


def _command(tool: str, url: str, c: int, keepalive: bool, seconds: int, pct: Path) -> list[str]:
    if tool == "ab":
        ka = ["-k"] if keepalive else []
        return ["ab", "-r", "-s", "60", "-c", str(c), *ka, "-t", str(seconds),
                "-n", str(AB_MAX_REQUESTS), "-e", str(pct), url]  # fmt: skip
    close = [] if keepalive else ["-H", "Connection: close"]
    return ["wrk", "-t", "1", "-c", str(c), "-d", f"{seconds}s", "--timeout", "30s",
            "--latency", *close, url]  # fmt: skip


def _run_tool(cmd: list[str], seconds: int, work: Path, pid: int | None,
              status_url: str | None) -> tuple[int, str, Row]:  # fmt: skip
    """Run ``cmd`` (bounded), sampling Apache meanwhile; (exit code, stdout, measured cells)."""
    row: Row = {}
    idle = sample_processes(pid) if pid else None
    ticks0 = cpu_ticks(pid) if pid else 0
    status: Row = {}
    stop = threading.Event()

    def mid_run_status(url: str) -> None:
        if not stop.wait(seconds / 2):
            status.update(fetch_status(url), status_mid_t_s=round(time.monotonic() - t0, 2))

    samples: list[dict[str, int | None]] = []
    with open(work / "out.txt", "wb") as out, open(work / "err.txt", "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=work, stdin=subprocess.DEVNULL)
        fetcher = threading.Thread(target=mid_run_status, args=(status_url,), daemon=True)
        if status_url:
            fetcher.start()
        try:
            while proc.poll() is None:
                if time.monotonic() - t0 > seconds + TOOL_GRACE_S:
                    limit = seconds + TOOL_GRACE_S
                    raise InputError(f"{Path(cmd[0]).name} did not finish within {limit:.0f} s")
                if pid and time.monotonic() - t0 >= len(samples) * SAMPLE_EVERY_S:
                    samples.append(sample_processes(pid))
                time.sleep(0.02)
            wall = time.monotonic() - t0
            if pid:
                samples.append(sample_processes(pid))
                ticks = cpu_ticks(pid) - ticks0
        finally:
            stop.set()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if status_url:
                fetcher.join(STATUS_TIMEOUT_S + 1)
    row.update(status)
    if pid and idle is not None:
        cpu_s = ticks / clock_ticks_per_s()
        row.update(_summary("idle", [idle]))
        row.update(_summary("peak", samples))
        row.update(apache_cpu_s=round(cpu_s, 3), apache_cpu_util=round(cpu_s / wall, 3),
                   end_procs=samples[-1]["procs"], n_samples=len(samples))  # fmt: skip
    return proc.returncode, (work / "out.txt").read_text(errors="replace"), row


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


def _notes(tool: str, code: int, parsed: Mapping[str, object]) -> str:
    notes = [f"{tool} exit code {code}"] if code else []
    failed, done = parsed.get("failed"), parsed.get("requests_completed")
    if isinstance(failed, int) and isinstance(done, int) and failed >= done:
        notes.append("every request failed")  # ab -r counts a refused connection twice
    return "; ".join(notes)


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
    """Run ``tool`` against ``url`` once per repetition x concurrency; one runs.csv row each.

    Traffic goes only to ``url`` (and one mid-run ``status_url?auto`` per run).  With
    ``apache_pid_file`` the server must be on loopback and is sampled from /proc.  wrk always
    keeps connections alive unless ``keepalive`` is False, then it sends ``Connection: close``.
    """
    local = apache_pid_file is not None
    _validate(url, tool, concurrency, duration_s, repetitions, local, status_url)
    if urlsplit(url).path == "":
        url = urlsplit(url)._replace(path="/").geturl()  # ab refuses a URL without a path
    executable = shutil.which(tool)
    if executable is None:
        raise InputError(f"{tool} not found on PATH: {INSTALL_HINT[tool]}", field="tool")
    seconds = int(duration_s)
    ka = int(keepalive)
    config = _config_cells(mpm, directives)
    rows: list[Row] = []
    for rep in range(1, repetitions + 1):
        for c in (int(x) for x in concurrency):
            label = f"c={c} ka={ka} rep {rep}/{repetitions}"
            if progress:
                progress(f"{label}: running {seconds} s ...")
            pid = _apache_pid(apache_pid_file) if apache_pid_file is not None else None
            row: Row = dict.fromkeys(RUN_COLUMNS)
            row.update(config)
            with tempfile.TemporaryDirectory(prefix="mpmsim-bench-") as tmp:
                work = Path(tmp)
                cmd = _command(tool, url, c, keepalive, seconds, work / "pct.csv")
                row["start_ts"] = datetime.now().isoformat(timespec="seconds")
                row["tool_cmd"] = shlex.join(cmd).replace(str(work / "pct.csv"), "pct.csv")
                code, output, measured = _run_tool([executable, *cmd[1:]], seconds, work, pid,
                                                   status_url)  # fmt: skip
                pct = work / "pct.csv"
                pct_text = pct.read_text() if pct.exists() else None
                err = (work / "err.txt").read_text(errors="replace").strip().splitlines()
            parsed = parse_ab(output, pct_text) if tool == "ab" else parse_wrk(output)
            if "requests_completed" not in parsed:
                detail = err[-1] if err else f"exit code {code}"
                raise InputError(f"{tool} produced no result for {url} at c={c}: {detail}")
            row.update(parsed)
            row.update(measured)
            parts = urlsplit(url)
            row.update(
                run_id=f"bench-{mpm + '-' if mpm else ''}{tool}-c{c}-ka{ka}-r{rep}",
                scenario="bench", mpm=mpm, content="static", tool=tool, concurrency=c,
                keepalive=ka, repetition=rep, warmup_s=0,
                url=parts.path + (f"?{parts.query}" if parts.query else ""),
                notes=_notes(tool, code, parsed),
            )  # fmt: skip
            cpu_s, done = row.get("apache_cpu_s"), row.get("requests_completed")
            if isinstance(cpu_s, float) and isinstance(done, int) and done > 0:
                row["apache_cpu_ms_per_req"] = round(cpu_s * 1000 / done, 4)
            if isinstance(row.get("lat_mean_ms"), float):
                row["lat_mean_ms"] = round(float(row["lat_mean_ms"]), 3)  # type: ignore[arg-type]
            rows.append(row)
            if progress:
                progress(f"{label}: {_result_line(row)}")
    return rows


__all__ = ["RUN_COLUMNS", "bench", "fetch_status", "parse_ab", "parse_status", "parse_wrk",
           "sample_processes", "write_rows"]  # fmt: skip

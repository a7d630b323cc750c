"""The load tool (ab, wrk or kaclient): its command line, a bounded run, its report read.

While the tool runs, a local Apache is sampled from /proc every SAMPLE_EVERY_S and mod_status is
read once in the middle of the measured window (kaclient's warm-up runs inside the tool, so its
window starts ``window_start_s`` after the tool). A report in which no request got a response,
or every response was an HTTP error, is refused: it measured nothing about the page.
"""

from __future__ import annotations

import dataclasses
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

from mpmsim.bench.kaclient_report import read_kaclient_text
from mpmsim.bench.processes import (
    Sample,
    cpu_busy_cells,
    cpu_seconds,
    cpu_times,
    sample_cells,
    sample_processes,
)
from mpmsim.bench.target import STATUS_TIMEOUT_S, fetch_status, probe
from mpmsim.errors import InputError
from mpmsim.workloads.readers import ToolResult, read_ab_percentiles, read_ab_text, read_wrk_text
from mpmsim.workloads.readers.tool_result import pick_percentiles

TOOLS = ("ab", "wrk", "kaclient")
INSTALL_HINT = {"ab": "install apache2-utils (Debian) or use --tool wrk", "wrk": "install wrk"}
#: kaclient is this package's own client, run with the same Python.
KACLIENT = (sys.executable, "-m", "mpmsim.bench.kaclient")
KACLIENT_TIMEOUT_S = 30
AB_MAX_REQUESTS = 500_000
TOOL_GRACE_S = 60.0
SAMPLE_EVERY_S = 0.5


WRK_REPORT = """\
-- mpmsim bench: wrk's exact figures as one JSON line (microseconds), read by read_wrk_text;
-- its text report prints p50/75/90/99 only, and calibrate compares the p95.
done = function(summary, latency, requests)
  local e, p = summary.errors, {}
  for _, q in ipairs({50, 75, 90, 95, 99}) do
    p[#p + 1] = string.format('"p%d":%d', q, latency:percentile(q))
  end
  p[#p + 1] = string.format('"p999":%d', latency:percentile(99.9))
  io.write(string.format(
    'JSON:{"duration_us":%d,"requests":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,'
      .. '"write":%d,"status":%d,"timeout":%d},"lat":{"min":%d,"max":%d,"mean":%.3f,'
      .. '"stdev":%.3f,%s}}\\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.min, latency.max, latency.mean, latency.stdev, table.concat(p, ",")))
end
"""
"""The ``done()`` script bench gives wrk (the shared measurements' harness did the same)."""


def command(
    tool: str, url: str, c: int, keepalive: bool, seconds: int, pct: Path, *,
    rate: float = 1.0, warmup_s: int = 0,
) -> list[str]:  # fmt: skip
    """The tool's command line (named ``tool``); ab writes its exact percentiles to ``pct``.

    kaclient runs its ``warmup_s`` itself, then ``seconds`` measured, each client at ``rate``/s.
    """
    if tool == "kaclient":
        return ["kaclient", "-c", str(c), "--rate", f"{rate:g}", "--warmup", str(warmup_s),
                "--duration", str(seconds), "--timeout", str(KACLIENT_TIMEOUT_S), url]  # fmt: skip
    if tool == "ab":
        ka = ["-k"] if keepalive else []
        return ["ab", "-r", "-s", "60", "-c", str(c), *ka, "-t", str(seconds),
                "-n", str(AB_MAX_REQUESTS), "-e", str(pct), url]  # fmt: skip
    close = [] if keepalive else ["-H", "Connection: close"]
    script = pct.with_name("wrk_report.lua")  # beside ab's file: the run's own folder
    script.write_text(WRK_REPORT)
    return ["wrk", "-t", "1", "-c", str(c), "-d", f"{seconds}s", "--timeout", "30s",
            "--latency", "-s", str(script), *close, url]  # fmt: skip


@dataclasses.dataclass
class _Window:
    """What run_tool reads at the start of the measured window."""

    cpu_s: float = 0.0
    cpus: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    t: float | None = None


def _open_window(pid: int | None, now: float) -> _Window:
    return _Window(cpu_seconds(pid) if pid else 0.0, cpu_times(), now)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_tool(
    cmd: list[str], seconds: int, work: Path, pid: int | None, status_url: str | None, *,
    window_start_s: float = 0.0, idle: Sample | None = None,
) -> tuple[int, dict[str, object]]:  # fmt: skip
    """Run ``cmd`` in ``work`` (out.txt, err.txt), bounded; (exit code, sampled cells).

    The tool runs ``seconds`` in all; Apache's CPU, samples and the status read cover the window
    from ``window_start_s`` on. ``idle`` is Apache's sample before any load (taken now if None).
    """
    idle = idle or (sample_processes(pid) if pid else None)
    status: dict[str, object] = {}
    stop = threading.Event()
    mid = window_start_s + (seconds - window_start_s) / 2

    def mid_run_status(url: str) -> None:
        if not stop.wait(mid):
            status.update(fetch_status(url), status_mid_t_s=round(time.monotonic() - t0, 2))

    samples: list[Sample] = []
    fetcher = threading.Thread(target=mid_run_status, args=(status_url,), daemon=True)
    client0 = _children_cpu_s()
    with open(work / "out.txt", "wb") as out, open(work / "err.txt", "wb") as err:
        t0 = time.monotonic()
        window = _open_window(pid, t0) if window_start_s <= 0 else _Window()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=work, stdin=subprocess.DEVNULL)
        if status_url:
            fetcher.start()
        try:
            while proc.poll() is None:
                now = time.monotonic()
                if now - t0 > seconds + TOOL_GRACE_S:
                    limit = seconds + TOOL_GRACE_S
                    raise InputError(f"{Path(cmd[0]).name} did not finish within {limit:.0f} s")
                if window.t is None and now - t0 >= window_start_s:
                    window = _open_window(pid, now)
                if pid and window.t is not None and now - window.t >= len(samples) * SAMPLE_EVERY_S:
                    samples.append(sample_processes(pid))
                time.sleep(0.02)
            end = time.monotonic()
            if window.t is None:  # the tool ended before its window opened
                window = _open_window(pid, end)
            if pid:  # Apache's state as the load ends, before waiting for the status fetch
                samples.append(sample_processes(pid))
                cpu_s = cpu_seconds(pid) - window.cpu_s
            busy = cpu_busy_cells(window.cpus, cpu_times())
        finally:
            stop.set()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if status_url:
                fetcher.join(STATUS_TIMEOUT_S + 1)
    cells: dict[str, object] = {
        **status, **busy, "client_cpu_s": round(_children_cpu_s() - client0, 3),
    }  # fmt: skip
    if not pid or idle is None:
        return proc.returncode, cells
    wall = max(end - (window.t if window.t is not None else end), 1e-9)
    return proc.returncode, {
        **cells, **sample_cells("idle", [idle]), **sample_cells("peak", samples),
        "apache_cpu_s": round(cpu_s, 3), "apache_cpu_util": round(cpu_s / wall, 3),
        "end_procs": samples[-1]["procs"], "n_samples": len(samples),
    }  # fmt: skip


def read_report(tool: str, url: str, c: int, work: Path) -> ToolResult:
    """The tool's report in ``work``, with ab's exact ``-e`` percentiles when it wrote them."""
    readers = {"ab": read_ab_text, "wrk": read_wrk_text, "kaclient": read_kaclient_text}
    try:
        result = readers[tool](work / "out.txt")
    except InputError:
        err = (work / "err.txt").read_text(errors="replace").strip().splitlines()
        detail = err[-1] if err else "no report and nothing on stderr"
        raise InputError(f"{tool} produced no result for {url} at c={c}: {detail}") from None
    pct = work / "pct.csv"
    if tool != "ab" or not pct.exists():
        return result
    try:
        exact = read_ab_percentiles(pct)
    except InputError:
        return result  # the report's whole-ms table stands in for an unreadable -e file
    table = {**result.percentiles_ms, **exact}
    return dataclasses.replace(
        result,
        percentiles_ms=table,
        lat_max_ms=table.get(100.0, result.lat_max_ms),
        **pick_percentiles(table),
    )


def served(result: ToolResult) -> int:
    """Requests that got a response (for ab, an estimate).

    wrk counts only responses. ab also counts failed attempts as complete (a refused connection
    twice) and may count a connection closed before any byte as a success, so a run in which ab
    received no byte served none; its "length" failures are responses of another size: served.
    """
    done = result.requests_completed or 0
    if result.tool != "ab":
        return done
    if result.details.get("total_transferred_bytes") == 0:
        return 0
    return done - ((result.failed or 0) - result.errors.get("length", 0))


def refuse_failed(result: ToolResult, url: str, c: int) -> None:
    """Raise InputError if no request got a response, or every response was an HTTP error."""
    got = served(result)
    if got <= 0:
        counted = [f"{kind} {n}" for kind, n in result.errors.items() if n and kind != "non_2xx"]
        failures = f"{result.tool} counted {', '.join(counted) or 'no error'}"
        raise InputError(f"no request to {url} got a response at c={c}: {probe(url) or failures}")
    if result.errors.get("non_2xx", 0) >= got:
        raise InputError(
            f"every response from {url} at c={c} had an HTTP error status (non-2xx); check the URL"
        )


__all__ = ["TOOLS", "command", "read_report", "refuse_failed", "run_tool", "served"]

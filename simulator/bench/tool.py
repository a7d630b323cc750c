"""The load tool (ab or wrk): its command line, a bounded run, and its report checked and read.

While the tool runs, a local Apache is sampled from /proc every SAMPLE_EVERY_S and mod_status is
read once at mid-run. A report in which no request got a response, or every response was an
HTTP error, is refused: it measured nothing about the page.
"""

from __future__ import annotations

import dataclasses
import subprocess
import threading
import time
from pathlib import Path

from mpmsim.bench.processes import (
    Sample,
    clock_ticks_per_s,
    cpu_ticks,
    sample_cells,
    sample_processes,
)
from mpmsim.bench.target import STATUS_TIMEOUT_S, fetch_status, probe
from mpmsim.errors import InputError
from mpmsim.workloads.readers import ToolResult, read_ab_percentiles, read_ab_text, read_wrk_text
from mpmsim.workloads.readers.tool_result import pick_percentiles

TOOLS = ("ab", "wrk")
INSTALL_HINT = {"ab": "install apache2-utils (Debian) or use --tool wrk", "wrk": "install wrk"}
AB_MAX_REQUESTS = 500_000
TOOL_GRACE_S = 60.0
SAMPLE_EVERY_S = 0.5


def command(tool: str, url: str, c: int, keepalive: bool, seconds: int, pct: Path) -> list[str]:
    """The tool's command line; ab writes its exact percentiles to ``pct``."""
    if tool == "ab":
        ka = ["-k"] if keepalive else []
        return ["ab", "-r", "-s", "60", "-c", str(c), *ka, "-t", str(seconds),
                "-n", str(AB_MAX_REQUESTS), "-e", str(pct), url]  # fmt: skip
    close = [] if keepalive else ["-H", "Connection: close"]
    return ["wrk", "-t", "1", "-c", str(c), "-d", f"{seconds}s", "--timeout", "30s",
            "--latency", *close, url]  # fmt: skip


def run_tool(
    cmd: list[str], seconds: int, work: Path, pid: int | None, status_url: str | None
) -> tuple[int, dict[str, object]]:
    """Run ``cmd`` in ``work`` (out.txt, err.txt), bounded; (exit code, sampled cells)."""
    idle = sample_processes(pid) if pid else None
    ticks0 = cpu_ticks(pid) if pid else 0
    status: dict[str, object] = {}
    stop = threading.Event()

    def mid_run_status(url: str) -> None:
        if not stop.wait(seconds / 2):
            status.update(fetch_status(url), status_mid_t_s=round(time.monotonic() - t0, 2))

    samples: list[Sample] = []
    fetcher = threading.Thread(target=mid_run_status, args=(status_url,), daemon=True)
    with open(work / "out.txt", "wb") as out, open(work / "err.txt", "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=work, stdin=subprocess.DEVNULL)
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
            if pid:  # Apache's state as the load ends, before waiting for the status fetch
                samples.append(sample_processes(pid))
                ticks = cpu_ticks(pid) - ticks0
        finally:
            stop.set()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if status_url:
                fetcher.join(STATUS_TIMEOUT_S + 1)
    if not pid or idle is None:
        return proc.returncode, status
    cpu_s = ticks / clock_ticks_per_s()
    return proc.returncode, {
        **status, **sample_cells("idle", [idle]), **sample_cells("peak", samples),
        "apache_cpu_s": round(cpu_s, 3), "apache_cpu_util": round(cpu_s / wall, 3),
        "end_procs": samples[-1]["procs"], "n_samples": len(samples),
    }  # fmt: skip


def read_report(tool: str, url: str, c: int, work: Path) -> ToolResult:
    """The tool's report in ``work``, with ab's exact ``-e`` percentiles when it wrote them."""
    try:
        result = read_ab_text(work / "out.txt") if tool == "ab" else read_wrk_text(work / "out.txt")
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

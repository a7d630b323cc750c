"""Measure real PHP behind Apache with mpmsim's bench: prefork + mod_php and event + PHP-FPM.

Each row is one fresh server (tests/php.py) on CPU 1 at nice -20, a warm-up at the row's
concurrency, then a measured ab run (``mpmsim.bench.bench``) from CPU 0 at nice -20. The PHP
script is tests/fixtures/php/burn.php (``cpu_ms`` of CPU, then ``sleep_ms`` asleep). Besides
bench's Apache figures, the FPM master and its children are sampled from /proc the same way
(``fpm_*`` columns) and /proc/loadavg is read before and after. ab's own output files are kept
through a pass-through wrapper on PATH (the tool's stdout and ``-e`` file, copied after it
exits). Writes ``runs.csv`` (runs.csv's columns, then the PHP ones), ``raw/`` and ``memory.csv``
(benchmarks/php_memory.py) into ``--out``. Needs root (nice -20), apache2, ab, php8.2-fpm and
libapache2-mod-php8.2.

    python benchmarks/php_campaign.py --out measurements/php [--reps 2] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the PHP fixtures live in tests/php.py

from php_memory import memory_campaign, write_memory  # noqa: E402

from mpmsim.bench.measure import bench  # noqa: E402
from mpmsim.bench.processes import (  # noqa: E402
    cpu_seconds,
    sample_cells,
    sample_processes,
)
from mpmsim.bench.target import fetch_status  # noqa: E402
from mpmsim.workloads.readers import MEASUREMENT_COLUMNS  # noqa: E402
from tests.php import POOL_DEFAULTS, PhpServer, running_apache_fpm, running_modphp  # noqa: E402

#: Apache on CPU 1, first in line for it; the campaign and ab inherit CPU 0 and nice -20.
SERVER_LAUNCHER = ("taskset", "-c", "1", "nice", "-n", "-20")
CLIENT_CPU = 0
#: The kernel groups processes by session (sched_autogroup): nice only ranks tasks inside their
#: group, and the groups share a CPU equally. Apache and PHP-FPM each start a session, so each
#: session's group gets this nice too (/proc/PID/autogroup), the campaign's own included.
AUTOGROUP_NICE = -20
#: The longest wait for the warm-up's leftover requests (see :func:`drain`).
DRAIN_TIMEOUT_S = 60.0
PREFORK = {"StartServers": 5, "MinSpareServers": 5, "MaxSpareServers": 10,
           "MaxRequestWorkers": 150, "MaxConnectionsPerChild": 0}  # fmt: skip
EVENT = {"StartServers": 3, "MinSpareThreads": 75, "MaxSpareThreads": 250, "ThreadsPerChild": 25,
         "MaxRequestWorkers": 400, "MaxConnectionsPerChild": 0}  # fmt: skip
SCRIPTS = {"php-cpu": (5.0, 0.0), "php-wait": (0.5, 50.0)}
#: Columns after runs.csv's (documented in measurements/php/README.md).
PHP_COLUMNS = (
    "php", "pm", "pm_max_children", "script_cpu_ms", "script_sleep_ms", "apache_sched_cpu_s",
    "apache_sched_cpu_ms_per_req", "fpm_cpu_s",
    "fpm_cpu_ms_per_req", "fpm_cpu_util", "server_cpu_ms_per_req", "fpm_idle_procs",
    "fpm_idle_pss_mb", "fpm_peak_procs", "fpm_peak_rss_mb", "fpm_peak_pss_mb", "fpm_end_procs",
    "loadavg_before", "loadavg_after",
)  # fmt: skip
AB_WRAPPER = """#!/bin/sh
# pass-through: run the real ab, then keep its report and -e file (bench deletes its folder)
{real} "$@"
rc=$?
if [ -n "$MPMSIM_RAW" ]; then
  cp out.txt "$MPMSIM_RAW.ab.txt" 2>/dev/null
  cp pct.csv "$MPMSIM_RAW.ab_pct.csv" 2>/dev/null
fi
exit $rc
"""


@dataclass(frozen=True)
class Setup:
    """One server set-up: how PHP runs and the Apache (and FPM pool) configuration."""

    name: str
    php: str  # modphp | fpm
    mpm: str
    directives: Mapping[str, object]
    pool: Mapping[str, object] = field(default_factory=dict)


SETUPS = {
    "modphp": Setup("modphp", "modphp", "prefork", PREFORK),
    "fpm": Setup("fpm", "fpm", "event", EVENT, {"pm": "static", "pm.max_children": 200}),
    "fpm5": Setup("fpm5", "fpm", "event", EVENT, {"pm": "static", "pm.max_children": 5}),
}


@dataclass(frozen=True)
class Point:
    """One measured row: set-up, script class and concurrency."""

    setup: Setup
    content: str
    concurrency: int


def points(quick: bool) -> list[Point]:
    """The campaign: both set-ups x both scripts x concurrency, and FPM saturated by 5 children."""
    conc = (1, 50) if quick else (1, 10, 50, 100, 200)
    found = [
        Point(SETUPS[s], content, c) for s in ("modphp", "fpm") for content in SCRIPTS for c in conc
    ]
    sat = (50,) if quick else (10, 50, 200)
    return found + [Point(SETUPS["fpm5"], content, c) for content in SCRIPTS for c in sat]


def boost(pid: int | None) -> None:
    """Give ``pid``'s session group (sched_autogroup) :data:`AUTOGROUP_NICE`, if there is one."""
    path = Path(f"/proc/{'self' if pid is None else pid}/autogroup")
    if path.exists():
        path.write_text(str(AUTOGROUP_NICE))


@contextmanager
def server_for(setup: Setup, tmp: Path) -> Iterator[PhpServer]:
    """A fresh server of ``setup`` on CPU 1 at nice -20 (and its session groups too)."""
    if setup.php == "modphp":
        with running_modphp(setup.directives, tmp, setup.mpm, SERVER_LAUNCHER) as server:
            boost(server.apache.pid)
            yield server
    else:
        with running_apache_fpm(
            setup.directives, setup.pool, tmp, setup.mpm, SERVER_LAUNCHER
        ) as server:
            boost(server.apache.pid)
            boost(server.fpm.pid if server.fpm else None)
            yield server


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def _cpu_stat() -> dict[str, list[int]]:
    found = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, _, rest = line.partition(" ")
        if name in ("cpu0", "cpu1"):
            found[name] = [int(x) for x in rest.split()]
    return found


def _busy(before: Mapping[str, list[int]], after: Mapping[str, list[int]]) -> dict[str, float]:
    cells = {}
    for cpu in ("cpu0", "cpu1"):
        delta = [b - a for a, b in zip(before[cpu], after[cpu], strict=False)][:8]
        total = sum(delta)
        if total > 0:
            cells[f"{cpu}_busy_pct"] = round(100.0 * (total - delta[3] - delta[4]) / total, 1)
            if cpu == "cpu1":
                cells["cpu1_softirq_pct"] = round(100.0 * delta[6] / total, 1)
    return cells


class FpmSampler:
    """The FPM master and its children: CPU over the window and 0.5 s memory samples; and
    Apache's CPU by the same exact count (bench counts whole clock ticks per process)."""

    def __init__(self, pid: int | None, apache: int) -> None:
        self.pid = pid
        self.apache = apache
        self.samples: list[dict[str, int | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while self.pid is not None and not self._stop.wait(0.5):
            self.samples.append(sample_processes(self.pid))

    def window(self) -> tuple[float, float]:
        """The sampled window in epoch seconds (as the access log's timestamps)."""
        return self.epoch0, self.epoch1

    def __enter__(self) -> FpmSampler:
        if self.pid is not None:
            self.idle = sample_processes(self.pid)
            self.cpu0 = cpu_seconds(self.pid)
        self.apache0 = cpu_seconds(self.apache)
        self.t0, self.epoch0 = time.monotonic(), time.time()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s, self.epoch1 = time.monotonic() - self.t0, time.time()
        self.apache_s = cpu_seconds(self.apache) - self.apache0
        self._stop.set()
        self._thread.join()
        if self.pid is not None:
            self.samples.append(sample_processes(self.pid))
            self.cpu_s = cpu_seconds(self.pid) - self.cpu0

    def cells(self, requests: int) -> dict[str, object]:
        """apache_sched_* and the fpm_* cells (none for mod_php)."""
        cells: dict[str, object] = {"apache_sched_cpu_s": round(self.apache_s, 4)}
        if requests > 0:
            cells["apache_sched_cpu_ms_per_req"] = round(self.apache_s * 1000 / requests, 4)
        if self.pid is None:
            return cells
        idle, peak = sample_cells("idle", [self.idle]), sample_cells("peak", self.samples)
        cells |= {
            **{k.replace("idle_", "fpm_idle_"): v for k, v in idle.items()},
            **{k.replace("peak_", "fpm_peak_"): v for k, v in peak.items()},
            "fpm_end_procs": self.samples[-1]["procs"],
            "fpm_cpu_s": round(self.cpu_s, 3),
            "fpm_cpu_util": round(self.cpu_s / self.wall_s, 3),
        }  # fmt: skip
        if requests > 0:
            cells["fpm_cpu_ms_per_req"] = round(self.cpu_s * 1000 / requests, 4)
        return cells


def log_cells(access_log: Path, start: float, end: float) -> dict[str, object]:
    """srv_* cells from Apache's access log: the burn.php requests that ended in the window.

    The format is tests/apache.py's ``%{usec}t %D %k %X %P %{tid}P %>s %B "%r"``.
    """
    durations, pids, non200 = [], set(), 0
    for line in access_log.read_text(errors="replace").splitlines():
        f = line.split()
        if len(f) < 10 or not f[9].startswith("/burn.php"):
            continue
        if not start <= (int(f[0]) + int(f[1])) / 1e6 <= end:
            continue
        durations.append(int(f[1]) / 1000)
        pids.add(f[4])
        non200 += f[6] != "200"
    if not durations:
        return {"srv_log_requests": 0}
    d = sorted(durations)
    pct = {p: d[min(len(d) - 1, int(p / 100 * len(d)))] for p in (50, 90, 99)}
    return {
        "srv_log_requests": len(d), "srv_D_mean_ms": round(sum(d) / len(d), 3),
        "srv_D_p50_ms": pct[50], "srv_D_p90_ms": pct[90], "srv_D_p99_ms": pct[99],
        "srv_D_max_ms": d[-1], "srv_distinct_pids": len(pids), "srv_non200": non200,
    }  # fmt: skip


def _bench(server: PhpServer, point: Point, seconds: int) -> dict[str, Any]:
    cpu_ms, sleep_ms = SCRIPTS[point.content]
    rows = bench(
        server.burn_url(cpu_ms, sleep_ms), tool="ab", concurrency=[point.concurrency],
        duration_s=seconds, apache_pid_file=server.apache.pid_file,
        status_url=server.apache.status_url, mpm=point.setup.mpm,
        directives=point.setup.directives,
    )  # fmt: skip
    return dict(rows[0])


def drain(server: PhpServer) -> float:
    """Wait until Apache has finished the warm-up's requests; the seconds it took.

    When ab stops it drops its connections, but the requests already sent are still served:
    queued in the listen backlog or for an FPM child, up to ``c`` of them. Measured right away,
    the window would begin with twice its load. Done when mod_status shows one busy worker
    (the status request itself; under event a worker waiting for FPM counts as busy).
    """
    started = time.monotonic()
    while time.monotonic() - started < DRAIN_TIMEOUT_S:
        if fetch_status(server.apache.status_url).get("status_busy") == 1:
            return time.monotonic() - started
        time.sleep(0.1)
    raise RuntimeError(f"Apache still busy {DRAIN_TIMEOUT_S:.0f} s after the warm-up")


def measure(point: Point, rep: int, args: argparse.Namespace, raw: Path) -> dict[str, Any]:
    """One row: fresh server, warm-up, measured window, server stopped."""
    s = point.setup
    run_id = f"PHP-{s.name}-{point.content}-c{point.concurrency}-r{rep}"
    with tempfile.TemporaryDirectory(prefix="mpmsim-php-") as tmp:
        t0 = time.monotonic()
        with server_for(s, Path(tmp)) as server:
            started = time.monotonic() - t0
            os.environ["MPMSIM_RAW"] = str(raw / f"{run_id}.warmup")
            _bench(server, point, args.warmup_s)
            drained_s = drain(server)
            os.environ["MPMSIM_RAW"] = str(raw / run_id)
            load0, stat0 = _loadavg(), _cpu_stat()
            assert server.apache.pid is not None
            with FpmSampler(server.fpm.pid if server.fpm else None, server.apache.pid) as fpm:
                row = _bench(server, point, args.duration_s)
            row.update({k: v for k, v in _busy(stat0, _cpu_stat()).items() if row.get(k) is None})
            row.update(log_cells(server.apache.access_log, *fpm.window()))
            row.update(fpm.cells(int(row["srv_log_requests"])), loadavg_before=load0,
                       loadavg_after=_loadavg(), apache_start_s=round(started, 3))  # fmt: skip
            _keep_raw(server, raw / run_id, fpm)
    cpu_ms, sleep_ms = SCRIPTS[point.content]
    config = json.loads(str(row["config_json"]))
    pool = {**POOL_DEFAULTS, **s.pool} if s.php == "fpm" else {}
    config["php"] = {"mode": s.php, **({"pool": pool} if pool else {})}
    row.update(
        run_id=run_id, scenario="PHP", content=point.content, repetition=rep,
        warmup_s=args.warmup_s, raw_prefix=f"raw/{run_id}",
        config_json=json.dumps(config, separators=(",", ":")), php=s.php,
        pm=s.pool.get("pm"), pm_max_children=s.pool.get("pm.max_children"),
        script_cpu_ms=cpu_ms, script_sleep_ms=sleep_ms,
        notes="; ".join(filter(None, [str(row.get("notes") or ""),
                                      f"warm-up drained in {drained_s:.2f} s"])),
    )  # fmt: skip
    fpm_ms, apache_ms = row.get("fpm_cpu_ms_per_req"), row.get("apache_sched_cpu_ms_per_req")
    if isinstance(apache_ms, float):
        total = apache_ms + (fpm_ms if isinstance(fpm_ms, float) else 0.0)
        row["server_cpu_ms_per_req"] = round(total, 4)
    return row


def _keep_raw(server: PhpServer, prefix: Path, fpm: FpmSampler) -> None:
    """The run's configuration files, error logs and FPM samples beside ab's output."""
    files = {"httpd.conf": server.apache.conf_path, "error.log": server.apache.error_log}
    if server.fpm is not None:
        files.update({"php-fpm.conf": server.fpm.conf_path, "php-fpm.log": server.fpm.error_log})
    for suffix, path in files.items():
        if path.exists():
            shutil.copyfile(path, f"{prefix}.{suffix}")
    if server.fpm is not None:
        with gzip.open(f"{prefix}.fpm_samples.json.gz", "wt") as handle:
            json.dump(fpm.samples, handle)


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """runs.csv's columns in order, then :data:`PHP_COLUMNS`."""
    header = [*MEASUREMENT_COLUMNS, *PHP_COLUMNS]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, header, lineterminator="\n", extrasaction="raise")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in header})


@contextmanager
def ab_wrapper() -> Iterator[None]:
    """Put the pass-through ``ab`` first on PATH for the block."""
    real = shutil.which("ab")
    if real is None:
        raise SystemExit("ab not found: apt-get install apache2-utils")
    with tempfile.TemporaryDirectory(prefix="mpmsim-abwrap-") as tmp:
        wrapper = Path(tmp) / "ab"
        wrapper.write_text(AB_WRAPPER.format(real=real))
        wrapper.chmod(0o755)
        old = os.environ["PATH"]
        os.environ["PATH"] = f"{tmp}:{old}"
        try:
            yield
        finally:
            os.environ["PATH"] = old
            os.environ.pop("MPMSIM_RAW", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--duration-s", type=int, default=10)
    parser.add_argument("--warmup-s", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a few points, for a try")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    os.sched_setaffinity(0, {CLIENT_CPU})
    os.setpriority(os.PRIO_PROCESS, 0, -20)
    boost(None)
    args.out = args.out.resolve()  # the ab wrapper copies from bench's own working folder
    raw = args.out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    todo = [(p, rep) for rep in range(1, args.reps + 1) for p in points(args.quick)]
    with ab_wrapper():
        for i, (point, rep) in enumerate(todo, start=1):
            rows.append(measure(point, rep, args, raw))
            r = rows[-1]
            print(f"[{i}/{len(todo)}] {r['run_id']}: {r['req_per_s']} req/s, p50 "
                  f"{r['lat_p50_ms']} ms, server {r.get('server_cpu_ms_per_req')} ms CPU/req, "
                  f"cpu1 {r.get('cpu1_busy_pct')} %, load {r['loadavg_before']}",
                  flush=True)  # fmt: skip
            write_rows(rows, args.out / "runs.csv")
    if not args.skip_memory:
        write_memory(memory_campaign(SERVER_LAUNCHER, progress=print), args.out / "memory.csv")


if __name__ == "__main__":
    main()

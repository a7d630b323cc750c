"""Memory of PHP's processes: a mod_php child and an FPM child as they serve requests, and pools.

Two series per set-up (prefork + mod_php, event + PHP-FPM), read from /proc/PID/smaps_rollup with
mpmsim.bench.processes:

* ``growth``: one PHP process (prefork MaxRequestWorkers 1, or FPM ``pm.max_children 1``) serves
  burn.php requests one at a time; its Rss, Pss and private memory after 1, 10, 100, 1000 and
  3000 requests of the plain script, then after 10 and 100 more that each hold an 8 MiB string.
* ``pool``: K PHP processes (K = 1, 4, 16) that have each run the script (K concurrent 100 ms
  requests, three rounds); the whole pool's summed Pss and process count, for the slope (memory
  per added process) and the intercept (parent or master plus pages shared once).

Run by benchmarks/php_campaign.py; servers on CPU 1 at nice -20 like the load runs.
"""

from __future__ import annotations

import csv
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mpmsim.bench.processes import kib_fields, sample_processes
from tests.php import PhpServer, burn, running_apache_fpm, running_modphp

CHECKPOINTS = (1, 10, 100, 1000, 3000)
BIG_CHECKPOINTS = (10, 100)
BIG_KB = 8192
POOL_SIZES = (1, 4, 16)
SMAPS = ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Shared_Clean", "Shared_Dirty")
COLUMNS = (
    "php", "series", "processes", "php_requests", "script_mem_kb", "php_peak_bytes", "pid",
    "rss_kb", "pss_kb", "private_kb", "shared_kb", "pool_procs", "pool_pss_kb", "pool_rss_kb",
    "apache_procs", "apache_pss_kb",
)  # fmt: skip
EVENT_ONE = {"StartServers": 1, "MinSpareThreads": 25, "MaxSpareThreads": 75,
             "ThreadsPerChild": 25, "MaxRequestWorkers": 25}  # fmt: skip
Row = dict[str, Any]


def prefork_k(k: int) -> dict[str, object]:
    """prefork that keeps exactly ``k`` children."""
    return {"StartServers": k, "MinSpareServers": k, "MaxSpareServers": k + 1,
            "MaxRequestWorkers": k, "ServerLimit": k}  # fmt: skip


@contextmanager
def _server(php: str, k: int, tmp: Path, launcher: Sequence[str]) -> Iterator[PhpServer]:
    if php == "modphp":
        with running_modphp(prefork_k(k), tmp, "prefork", launcher) as server:
            yield server
    else:
        pool = {"pm": "static", "pm.max_children": k}
        with running_apache_fpm(EVENT_ONE, pool, tmp, "event", launcher) as server:
            yield server


def _smaps(pid: int) -> Row:
    with open(f"/proc/{pid}/smaps_rollup") as handle:
        f = kib_fields(handle.read(), SMAPS)
    return {
        "pid": pid, "rss_kb": f["Rss"], "pss_kb": f["Pss"],
        "private_kb": f["Private_Clean"] + f["Private_Dirty"],
        "shared_kb": f["Shared_Clean"] + f["Shared_Dirty"],
    }  # fmt: skip


def _pools(server: PhpServer) -> Row:
    """Summed figures of the PHP processes' tree and of Apache's."""
    apache_pid = server.apache.pid
    assert apache_pid is not None
    apache = sample_processes(apache_pid)
    row: Row = {"apache_procs": apache["procs"], "apache_pss_kb": apache["pss_kb"]}
    php = sample_processes(server.fpm.pid) if server.fpm else apache
    row.update(pool_procs=php["procs"], pool_pss_kb=php["pss_kb"], pool_rss_kb=php["rss_kb"])
    return row


def growth(php: str, launcher: Sequence[str], progress: Callable[[str], None]) -> list[Row]:
    """One PHP process's memory after 1 .. 3000 requests, then after big ones."""
    rows: list[Row] = []
    plan = [(n, 0) for n in CHECKPOINTS]
    plan += [(CHECKPOINTS[-1] + n, BIG_KB) for n in BIG_CHECKPOINTS]
    with (
        tempfile.TemporaryDirectory(prefix="mpmsim-phpmem-") as tmp,
        _server(php, 1, Path(tmp), launcher) as server,
    ):
        served, pids = 1, set()  # the fixture's own check ran the script once
        for target, mem_kb in plan:
            got = None
            while served < target:
                got = burn(server.burn_url(mem_kb=mem_kb))
                pids.add(got.pid)
                served += 1
            got = got or burn(server.burn_url(mem_kb=mem_kb))
            if len(pids) > 1:
                raise RuntimeError(f"{php}: requests went to {len(pids)} processes")
            time.sleep(0.2)
            rows.append({"php": php, "series": "growth", "processes": 1,
                         "php_requests": served, "script_mem_kb": mem_kb,
                         "php_peak_bytes": got.peak_bytes, **_smaps(got.pid),
                         **_pools(server)})  # fmt: skip
            progress(f"memory {php} growth: {served} requests, Pss {rows[-1]['pss_kb']} kB")
    return rows


def pool(php: str, k: int, launcher: Sequence[str], progress: Callable[[str], None]) -> Row:
    """``k`` PHP processes that have each run the script: the pool's summed memory."""
    with (
        tempfile.TemporaryDirectory(prefix="mpmsim-phpmem-") as tmp,
        _server(php, k, Path(tmp), launcher) as server,
    ):
        time.sleep(1.5)  # prefork's maintenance settles at k children
        urls = [server.burn_url(sleep_ms=100)] * (3 * k)
        with ThreadPoolExecutor(k) as workers:  # three rounds of k at once
            peaks = [b.peak_bytes for b in workers.map(burn, urls)]
        time.sleep(0.5)
        row = {"php": php, "series": "pool", "processes": k, "php_requests": 3 * k,
               "script_mem_kb": 0, "php_peak_bytes": max(peaks), **_pools(server)}  # fmt: skip
    progress(f"memory {php} pool of {k}: {row['pool_procs']} procs, Pss {row['pool_pss_kb']} kB")
    return row


def memory_campaign(launcher: Sequence[str], progress: Callable[[str], None]) -> list[Row]:
    """Both series for both set-ups."""
    rows: list[Row] = []
    for php in ("modphp", "fpm"):
        rows += growth(php, launcher, progress)
        rows += [pool(php, k, launcher, progress) for k in POOL_SIZES]
    return rows


def write_memory(rows: Sequence[Row], path: Path) -> None:
    """memory.csv: :data:`COLUMNS` in order (blank where a series has no value)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, COLUMNS, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in COLUMNS})

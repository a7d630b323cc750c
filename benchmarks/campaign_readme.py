"""The README.md of one campaign of benchmarks/campaigns.py, written from its rows."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

WHAT = {
    "warm-steady": "Static 4 KiB page (/test.html), ab without keep-alive, 50 and 200 clients, "
    "the shared set's seed blocks per MPM; 20 s of the same load on the same server, then the "
    "measured window. Process/thread counts and PSS at the end are `end_procs` and the peak_* "
    "of the window's 0.5 s samples (issue 10, point 2: warm steady state).",
    "recycling": "Static page, ab without keep-alive, 50 clients, MaxConnectionsPerChild 100 / "
    "1,000 / 10,000 on each MPM's seed block; 10 s warm-up, then the window (issue 10, point 3).",
    "cpu-bound": "/cpu: a mod_lua handler burning ~1 ms of CPU per request (a Lua loop, as the "
    "shared set's /cpu; `LuaScope server 1 <ThreadsPerChild>`, prefork `server 1 1`), ab without "
    "keep-alive at 50, 150 and 400 clients per MPM; 10 s warm-up (issue 10, point 4).",
    "paced": "kaclient (`mpmsim bench --tool kaclient`): 300 and 800 keep-alive clients, 5 "
    "requests/s each (phases spread over the 0.2 s period; reconnect when the server closes), "
    "static page, KeepAlive On, KeepAliveTimeout 5 (the default), seed blocks; 10 s warm-up "
    "inside the client, then the window (issue 10, point 1).",
    "one-client": "One ab client on the static page, without and with keep-alive (`-k`), per "
    "MPM; 5 s warm-up (issue 10, point 6).",
    "crowding": "Static page, ab without keep-alive, 50 clients, on a fixed number of children "
    "that all serve (new connections go round them): prefork 8 / 64 / 256 processes, worker and "
    "event 1 / 4 / 16 children of 25 threads (StartServers = ServerLimit = the count, spares "
    "that neither fork nor stop); 10 s warm-up, then the window. Apache's CPU per request "
    "against the processes and threads alive (issue 10, points 2 and 4: the scheduling cost "
    "that grows with them).",
}

_LOAD = re.compile(r"loadavg before (\S+) \S+ \S+ after (\S+)")


def _num(row: Mapping[str, object], key: str) -> float | None:
    value = row.get(key)
    return float(value) if isinstance(value, int | float) else None


def _span(values: Sequence[float | None], fmt: str) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "n/a"
    return f"{format(min(got), fmt)}-{format(max(got), fmt)}"


def _cell(row: Mapping[str, object], key: str, fmt: str) -> str:
    value = _num(row, key)
    return "" if value is None else format(value, fmt)


def write_readme(
    folder: Path, name: str, rows: Sequence[Mapping[str, object]], held: Sequence[bool]
) -> None:
    """Write ``folder/README.md``: what, how to re-run, machine load, Apache's CPU share, rows."""
    loads = [m.groups() for r in rows if (m := _LOAD.search(str(r.get("notes") or "")))]
    first = str(rows[0].get("start_ts")) if rows else "?"
    last = str(rows[-1].get("start_ts")) if rows else "?"
    lines = [
        f"# Campaign `{name}`",
        "",
        WHAT[name],
        "",
        "Columns: those of `../../../shared/data/apache-bench/runs.csv` (its README); "
        "`mpmsim calibrate runs.csv` reads the file unchanged. `raw/<run_id>.*`: the tool's "
        "output (`.ab.txt` / `.kaclient.txt`, ab's `-e` percentiles `.ab_pct.csv`, warm-up "
        "output `.warmup.txt` for ab), `.httpd.conf`, `.error.log`. Held-out rows: "
        "`../holdout.csv` (rule in `../README.md`).",
        "",
        "Re-run (root, ~2 cores, apache2 + mod_lua + ab): "
        f"`python benchmarks/campaigns.py --out measurements --campaign {name}`",
        "",
        "## Conditions",
        "",
        f"- {len(rows)} runs, {first} to {last} (machine time); Apache (parent and children) "
        "pinned to CPU 1 with `taskset -c 1 nice -n -20`, the load tool and harness on CPU 0 at "
        "nice -20 (other jobs may have shared the machine: see the load average).",
        f"- /proc/loadavg (1 min) before each run: {_span([float(a) for a, _ in loads], '.2f')}; "
        f"after: {_span([float(b) for _, b in loads], '.2f')} (both cores count: 2.0 = full; "
        "Apache's own runnable children count too, up to the clients).",
        "- Apache's measured CPU share of its core (`apache_cpu_util`, CPU s / window): "
        f"{_span([_num(r, 'apache_cpu_util') for r in rows], '.2f')}; CPU 1 busy "
        f"(`cpu1_busy_pct`, Apache + whatever else ran there): "
        f"{_span([_num(r, 'cpu1_busy_pct') for r in rows], '.0f')} %; CPU 0 busy (client): "
        f"{_span([_num(r, 'cpu0_busy_pct') for r in rows], '.0f')} %; "
        f"client-bound rows (`client_bound`): {sum(r.get('client_bound') == 1 for r in rows)}.",
        "",
        "## Rows",
        "",
        "| run_id | held out | req/s | p50 ms | p95 ms | p99 ms | failed | Apache CPU ms/req "
        "| CPU share | peak procs / threads | end procs | peak PSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row, out in zip(rows, held, strict=True):
        lines.append(
            f"| {row['run_id']} | {'yes' if out else ''} | {_cell(row, 'req_per_s', '.1f')} "
            f"| {_cell(row, 'lat_p50_ms', '.3g')} | {_cell(row, 'lat_p95_ms', '.3g')} "
            f"| {_cell(row, 'lat_p99_ms', '.3g')} | {row.get('failed')} "
            f"| {_cell(row, 'apache_cpu_ms_per_req', '.3f')} "
            f"| {_cell(row, 'apache_cpu_util', '.2f')} "
            f"| {row.get('peak_procs')} / {row.get('peak_threads')} | {row.get('end_procs')} "
            f"| {_cell(row, 'peak_pss_mb', '.1f')} |"
        )
    (folder / "README.md").write_text("\n".join(lines) + "\n")

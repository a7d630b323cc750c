"""A day of traffic shaped like the NASA log, written as an access log, and its replay.

The NASA log in ``shared/data/access-logs`` covers 1 Aug 1995 from 00:00 to 10:59 EDT; its
requests per clock hour (``mpmsim trace fit`` prints them) give the night, the morning rise
and the late morning. The day is extended as a working day: hours 11-15 hold hour 10's level,
and hours 16-23 come down as the morning went up (hours 9 back to 2). Scaled to a mean rate
(500 requests/s: 43.2 million requests), connections arrive as a Poisson process within each
hour and carry a geometric number of requests (mean 2; the NASA log's is 1.97), each an
exponential think time (mean 1.4 s, the log's 1.39) after the previous response; ``%D`` is
lognormal (mean 5 ms, cv 2); nine requests in ten are static files. Lines are written in the
order Apache writes them (by end, within each hour).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from mpmsim.engine.replications import RunResult, run
from mpmsim.spec.reading import load_scenario_data

NASA_PER_HOUR = (1642, 1385, 993, 1219, 985, 1146, 1022, 1778, 2858, 3199, 3773)
"""Requests per hour of the NASA log, 00:00 to 10:59 EDT."""
DAY_SHAPE = NASA_PER_HOUR + (NASA_PER_HOUR[-1],) * 5 + NASA_PER_HOUR[9:1:-1]
"""24 hours: the log's 11, a plateau at its last hour's level, the morning's rise reversed."""
DAY_FORMAT = '%h %{remote}p %{usec}t %D "%r" %>s %b'
"""What a replay needs and no more: client and port (the connection), start, %D, URL, size."""
EPOCH_S = 807_249_600  # 1995-08-01 00:00 EDT
STATIC = (
    "/images/ksclogo-medium.gif",
    "/images/NASA-logosmall.gif",
    "/shuttle/countdown/video/livevideo.gif",
    "/history/apollo/apollo.html",
    "/shuttle/missions/sts-69/mission-sts-69.html",
)
DYNAMIC = ("/", "/shuttle/countdown/", "/cgi-bin/imagemap/countdown?99,176", "/htbin/wais.pl")
CLIENTS = 40_000
REQUESTS_PER_CONNECTION = 2.0
THINK_S = 1.4
SERVICE_MS, SERVICE_CV = 5.0, 2.0


def hourly_rates(mean_rps: float, hours: int = 24) -> list[float]:
    """Requests per second in each of the day's first ``hours`` hours (the day's mean is
    ``mean_rps``)."""
    mean = sum(DAY_SHAPE) / len(DAY_SHAPE)
    return [mean_rps * count / mean for count in DAY_SHAPE[:hours]]


def _hour(rng: np.random.Generator, hour: int, rate: float) -> tuple[np.ndarray, ...]:
    """One hour's requests (of connections that start in it): start s, %D us, client, port,
    path index (static first), bytes; sorted by end."""
    conns = rng.poisson(rate * 3600.0 / REQUESTS_PER_CONNECTION)
    conn_start = hour * 3600.0 + np.sort(rng.uniform(0.0, 3600.0, conns))
    per = rng.geometric(1.0 / REQUESTS_PER_CONNECTION, conns)
    n = int(per.sum())
    sigma = math.sqrt(math.log(1 + SERVICE_CV**2))
    duration = rng.lognormal(math.log(SERVICE_MS * 1e3) - sigma**2 / 2, sigma, n)
    step = duration * 1e-6 + rng.exponential(THINK_S, n)  # to the next request's start
    firsts = np.concatenate([[0], np.cumsum(per)[:-1]])
    group = np.repeat(np.arange(conns), per)
    before = np.concatenate([[0.0], np.cumsum(step)[:-1]])  # steps before each request
    start = conn_start[group] + before - before[firsts][group]
    static = rng.random(n) < 0.9
    path = np.where(
        static, rng.integers(0, len(STATIC), n), len(STATIC) + rng.integers(0, len(DYNAMIC), n)
    )
    size = np.where(static, rng.lognormal(8.5, 1.5, n), rng.lognormal(7.0, 0.5, n)).astype(np.int64)
    client = rng.integers(0, CLIENTS, conns)[group]
    port = rng.integers(1024, 65536, conns)[group]
    order = np.argsort(start + duration * 1e-6, kind="stable")
    return tuple(a[order] for a in (start, duration.astype(np.int64), client, port, path, size))


def write_day_log(path: Path, mean_rps: float, hours: int = 24, seed: int = 1) -> int:
    """Write the day (its first ``hours`` hours) to ``path``; returns the number of lines."""
    rng = np.random.default_rng(seed)
    hosts = [f"10.{c // 65536}.{c // 256 % 256}.{c % 256}" for c in range(CLIENTS)]
    requests = [f"GET {p} HTTP/1.0" for p in (*STATIC, *DYNAMIC)]
    lines = 0
    with path.open("w", encoding="utf-8") as out:
        for hour, rate in enumerate(hourly_rates(mean_rps, hours)):
            start, duration, client, port, page, size = _hour(rng, hour, rate)
            usec = ((start + EPOCH_S) * 1e6).astype(np.int64)
            columns = (client, port, usec, duration, page, size)
            rows = zip(*(column.tolist() for column in columns), strict=True)
            out.writelines(
                f'{hosts[c]} {p} {u} {d} "{requests[g]}" 200 {b}\n' for c, p, u, d, g, b in rows
            )
            lines += len(start)
    return lines


def scenario(log: Path, window: tuple[float, float], warmup_s: float) -> dict[str, Any]:
    """The replay of ``window`` of the day: event on a c6i.xlarge sized for its peak."""
    return {
        "name": "nasa-day",
        "seed": 1,
        "hardware": "c6i.xlarge",
        "warmup_s": warmup_s,
        "server": {
            "mpm": "event",
            "directives": {
                "ServerLimit": 64,
                "MaxRequestWorkers": 1600,
                "StartServers": 20,
                "MinSpareThreads": 200,
                "MaxSpareThreads": 800,
            },
        },
        "load": {
            "kind": "trace",
            "file": str(log),
            "format": DAY_FORMAT,
            "window": list(window),
            "service": "logged",
        },
        "mix": [{"name": "static"}, {"name": "dynamic", "cpu_ms": 1.0, "memory_kib": 256}],
    }


def hour_figures(
    result: RunResult, first_hour: int, t0_s: float, span_s: float = 3600.0
) -> list[dict[str, float]]:
    """Per clock hour of a run (``t0_s`` simulated is ``first_hour``:00): throughput, p95
    (per ``span_s`` from ``t0_s`` on, labelled from ``first_hour`` up, if not an hour)."""
    out = []
    for rep in result.replications[:1]:
        req = rep.requests
        ok = req["status"] == 0
        hour = np.floor((req["t_end_s"] - t0_s) / span_s).astype(np.int64) + first_hour
        latency_ms = (req["t_end_s"] - req["t_start_s"]) * 1000.0
        for h in sorted(set(hour[ok & (req["t_end_s"] >= t0_s)].tolist())):
            mine = ok & (hour == h) & (req["t_end_s"] >= t0_s)
            out.append(
                {
                    "hour": h,
                    "completed": int(mine.sum()),
                    "throughput_rps": float(mine.sum()) / span_s,
                    "p95_ms": float(np.percentile(latency_ms[mine], 95)),
                }
            )
    return out


def run_window(task: tuple[str, int, float] | tuple[str, int, float, float]) -> dict[str, Any]:
    """Replay hour ``h`` of the day log with ``warmup_s`` of the log before it (a process);
    a fourth number replays only that many seconds of the hour."""
    log, hour, warmup_s = task[:3]
    span = task[3] if len(task) == 4 else 3600.0
    lead = min(warmup_s, hour * 3600.0)
    window = (hour * 3600.0, hour * 3600.0 + span)
    t0, c0 = time.perf_counter(), time.process_time()
    result = run(load_scenario_data(scenario(Path(log), window, lead)))
    figures = [f for f in hour_figures(result, hour, lead, span) if f["hour"] == hour]
    record = result.records[0]
    return {
        "hour": hour,
        "figures": figures[0] if figures else None,
        "sent": int(record["sent"]),
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
    }


def read_window(task: tuple[str, int, float]) -> dict[str, float]:
    """CPU seconds to read hour ``h``'s replay (with its warm-up) from the log alone: parsed,
    sorted and grouped into connections as the replay pulls them, nothing simulated."""
    from mpmsim.spec.resolve import prepare
    from mpmsim.workloads.access_log.url_classes import parse_classes
    from mpmsim.workloads.trace.service import TraceService
    from mpmsim.workloads.trace.stream import TraceStream

    log, hour, warmup_s = task
    lead = min(warmup_s, hour * 3600.0)
    c0 = time.process_time()
    prep = prepare(
        load_scenario_data(scenario(Path(log), (hour * 3600.0, hour * 3600.0 + 3600), lead))
    )
    plan = prep.trace
    assert plan is not None
    rng = np.random.default_rng(1)
    rules = parse_classes(plan.options.class_rules, option="load.classes")
    service = TraceService(prep.classes, rules, rng, logged=True, bytes_out=plan.bytes_out)
    stream = TraceStream(plan, service, rng)
    requests = 0
    while (conn := stream.next_connection()) is not None:
        while stream.next_request(conn) is not None:
            requests += 1
    stream.close()
    return {"requests": requests, "cpu_s": time.process_time() - c0}


__all__ = [
    "DAY_FORMAT",
    "DAY_SHAPE",
    "NASA_PER_HOUR",
    "hour_figures",
    "hourly_rates",
    "read_window",
    "run_window",
    "scenario",
    "warmup_section",
    "write_day_log",
]


# -- the benchmark's section ----------------------------------------------------------------------
AIM_S = 300.0
"""The day in five minutes of wall time."""


def day_log(folder: Path, mean_rps: float, hours: int) -> tuple[Path, int]:
    """The day's log in ``folder`` (kept there if it already is) and its line count."""
    path = folder / f"nasa-day-{mean_rps:g}rps-{hours}h.log"
    count = folder / (path.name + ".lines")
    if path.is_file() and count.is_file():
        return path, int(count.read_text())
    t0 = time.perf_counter()
    lines = write_day_log(path, mean_rps, hours)
    count.write_text(str(lines))
    size_gib = path.stat().st_size / 2**30
    print(f"(wrote {lines:,} lines, {size_gib:.1f} GiB, in {time.perf_counter() - t0:.0f} s)")
    return path, lines


def long_run(log: Path, hours: int) -> tuple[list[dict[str, Any]], int, float]:
    """One replay of the whole span: per-hour figures, requests sent, wall seconds."""
    t0 = time.perf_counter()
    result = run(load_scenario_data(scenario(log, (0.0, hours * 3600.0), 0.0)))
    wall = time.perf_counter() - t0
    return hour_figures(result, 0, 0.0), int(result.records[0]["sent"]), wall


def windowed(
    log: Path, hours: int, warmup_s: float, jobs: int, scheduler: str | None
) -> tuple[list[dict[str, Any]], float, float]:
    """Every hour as its own replay, busiest first (so the processes end together): the
    results by hour, the wall seconds, and the hours done within :data:`AIM_S`."""
    from mpmsim.engine.executors import TaskMapper

    if scheduler:  # Dask workers cannot import this file: send its functions by value
        import sys

        import cloudpickle  # type: ignore[import-untyped]

        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    rates = hourly_rates(1.0, hours)
    tasks = sorted(((str(log), h, warmup_s) for h in range(hours)), key=lambda t: -rates[t[1]])
    done_in_aim = 0.0
    results = []
    t0 = time.perf_counter()
    with TaskMapper(jobs=jobs, scheduler=scheduler) as mapper:
        for result in mapper.map(run_window, tasks):
            result["returned_s"] = time.perf_counter() - t0
            results.append(result)
            if result["returned_s"] <= AIM_S:
                done_in_aim += 1
            print(f"  window {result['hour']:2d}: {result['sent']:,} requests in "
                  f"{result['wall_s']:,.0f} s ({result['sent'] / result['wall_s']:,.0f}/s; "
                  f"{result['cpu_s']:,.0f} CPU s, {result['sent'] / result['cpu_s']:,.0f}/CPU s), "
                  f"back after {result['returned_s']:,.0f} s")  # fmt: skip
    return sorted(results, key=lambda r: r["hour"]), time.perf_counter() - t0, done_in_aim


def _diff_pct(a: float | None, b: float | None) -> float | None:
    return None if not a or b is None else 100.0 * (b / a - 1.0)


def _table(long: list[dict[str, Any]], windows: list[dict[str, Any]]) -> list[float]:
    """Print hour by hour; return the absolute % differences (throughput, then p95)."""
    by_hour = {f["hour"]: f for f in long}
    print(f"{'hour':>4} {'long rps':>9} {'p95 ms':>7} {'windows rps':>12} {'p95 ms':>7} "
          f"{'rps diff':>9} {'p95 diff':>9}")  # fmt: skip
    rps_diffs, p95_diffs = [], []
    for window in windows:
        mine, theirs = window["figures"], by_hour.get(window["hour"])
        if mine is None:
            continue
        if theirs is None:
            rps = p95 = None
        else:
            rps = _diff_pct(theirs["throughput_rps"], mine["throughput_rps"])
            p95 = _diff_pct(theirs["p95_ms"], mine["p95_ms"])
        long_rps = (
            f"{theirs['throughput_rps']:9.1f} {theirs['p95_ms']:7.2f}" if theirs else " " * 17
        )
        shown = [f"{x:+8.2f}%" if x is not None else f"{'-':>9}" for x in (rps, p95)]
        print(f"{window['hour']:4d} {long_rps} {mine['throughput_rps']:12.1f} "
              f"{mine['p95_ms']:7.2f} {shown[0]} {shown[1]}")  # fmt: skip
        rps_diffs += [abs(rps)] if rps is not None else []
        p95_diffs += [abs(p95)] if p95 is not None else []
    return [max(rps_diffs, default=0.0), max(p95_diffs, default=0.0)]


def warmup_section(args: Any, folder: Path) -> None:
    """Each of ``--study-hours`` replayed with each of ``--warmups`` s of warm-up, against
    the same hour after ``--reference-lead`` s of the log (a stand-in for the long run, whose
    server has had hours of that traffic): how short a window's warm-up may be."""
    from mpmsim.engine.executors import TaskMapper

    log, _ = day_log(folder, args.rate, args.hours)
    hours = [int(h) for h in args.study_hours.split(",")]
    warmups = [float(w) for w in args.warmups.split(",")]
    span = args.study_minutes * 60.0
    tasks = [(str(log), h, w, span) for h in hours for w in (args.reference_lead, *warmups)]
    with TaskMapper(jobs=args.jobs) as mapper:
        results = list(mapper.map(run_window, tasks))
    done = {(t[1], t[2]): r for t, r in zip(tasks, results, strict=True)}
    print(f"(the first {args.study_minutes:g} minutes of each hour)")
    print(f"{'hour':>4} {'warm-up s':>9} {'requests':>10} {'CPU s':>7} {'rps':>7} {'p95 ms':>7} "
          f"{'rps diff':>9} {'p95 diff':>9}")  # fmt: skip
    for h in hours:
        ref = done[(h, args.reference_lead)]
        for w in (args.reference_lead, *warmups):
            mine = done[(h, w)]
            fig, theirs = mine["figures"], ref["figures"]
            rps = _diff_pct(theirs["throughput_rps"], fig["throughput_rps"])
            p95 = _diff_pct(theirs["p95_ms"], fig["p95_ms"])
            shown = "reference" if w == args.reference_lead else f"{rps:+8.2f}% {p95:+8.2f}%"
            print(f"{h:4d} {w:9g} {mine['sent']:10,} {mine['cpu_s']:7.0f} "
                  f"{fig['throughput_rps']:7.1f} {fig['p95_ms']:7.2f} {shown:>19}")  # fmt: skip


def _floor(log: Path, windows: list[dict[str, Any]], warmup_s: float, jobs: int) -> None:
    """The windows' CPU time, what reading the log takes of it, and what that allows."""
    cpu = sum(w["cpu_s"] for w in windows)
    sent = sum(w["sent"] for w in windows)
    busiest = max(windows, key=lambda w: w["cpu_s"])
    print(f"CPU: {cpu:,.0f} process-seconds in all ({sent / cpu:,.0f} simulated requests per "
          f"CPU second); the busiest window (hour {busiest['hour']}) {busiest['cpu_s']:,.0f} s; "
          f"so at best {cpu / jobs:,.0f} s on {jobs} processes, and the aim needs "
          f"{math.ceil(cpu / AIM_S)} processes or more")  # fmt: skip
    read = read_window((str(log), busiest["hour"], warmup_s))
    share = read["cpu_s"] / busiest["cpu_s"]
    print(f"reading the busiest window from the log alone (parse, sort, group; nothing "
          f"simulated): {read['cpu_s']:,.1f} CPU s, {100 * share:.0f} % of its replay; the "
          f"engine alone: about {cpu * (1 - share) / jobs:,.0f} s on {jobs} processes")  # fmt: skip


def replay_section(args: Any, folder: Path) -> None:
    """The day replayed: one long run, then hour windows over processes; figures compared."""
    log, lines = day_log(folder, args.rate, args.hours)
    print(f"day: {args.hours} h at {args.rate:g} requests/s on average: {lines:,} requests")
    long: list[dict[str, Any]] = []
    if not args.no_long:
        long, sent, wall = long_run(log, args.hours)
        print(f"one long run:  {sent:,} requests in {wall:,.0f} s: {sent / wall:,.0f} simulated "
              "requests per wall second (one process)")  # fmt: skip
    windows, wall, in_aim = windowed(log, args.hours, args.warmup, args.jobs, args.scheduler)
    sent = sum(w["sent"] for w in windows)
    where = args.scheduler or f"{args.jobs} processes"
    print(f"{args.hours} windows of 1 h (each {args.warmup:g} s of warm-up from the log before "
          f"it), {where}: {sent:,} requests in {wall:,.0f} s: {sent / wall:,.0f} simulated "
          "requests per wall second")  # fmt: skip
    verdict = "met" if wall <= AIM_S else f"MISSED: {in_aim:g} of {args.hours} windows done by then"
    print(f"aim: {args.hours} h in {AIM_S:g} s of wall time: {verdict}")
    _floor(log, windows, args.warmup, args.jobs)
    if long:
        rps, p95 = _table(long, windows)
        print(f"windows against the long run: throughput per hour within {rps:.2f} %, "
              f"p95 within {p95:.2f} %")  # fmt: skip

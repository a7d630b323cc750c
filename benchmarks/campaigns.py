"""Measure real Apache for issue 10: warm state, recycling, CPU-bound, paced, one client, crowding.

Every run is a fresh throw-away Apache (tests/apache.py, a free 127.0.0.1 port) with the run's MPM
and directives, started as ``taskset -c 1 nice -n -20`` (parent and children on CPU 1, first in
line for it); this process and the load tool (``mpmsim.bench.bench``: ab or kaclient) run on CPU 0
at nice -20. The load runs ``warmup_s`` unmeasured, then the measured window on the same server.
Rows have runs.csv's columns (``mpmsim calibrate`` reads them); /proc/loadavg before and after
each run goes to its notes. Writes ``<out>/<campaign>/runs.csv``, ``raw/`` (tool output, warm-up
output, httpd.conf, error log) and ``README.md``, and ``<out>/holdout.csv`` (the rule: see
``held_out``). Needs root (nice -20), apache2 with mod_lua, ab.

    nohup python benchmarks/campaigns.py --out measurements > campaign.log 2>&1 &
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the throw-away Apache lives in tests/apache.py

from campaign_logs import access_log_cells, error_log_cells  # noqa: E402
from campaign_readme import write_readme  # noqa: E402

from mpmsim.bench.measure import Extras, bench, write_rows  # noqa: E402
from mpmsim.errors import InputError  # noqa: E402
from tests.apache import ApacheServer, running_apache  # noqa: E402

SERVER_LAUNCHER = ("taskset", "-c", "1", "nice", "-n", "-20")
AUTOGROUP_NICE = -20
CLIENT_CPU = 0
MPMS = ("prefork", "worker", "event")
#: The shared set's ThreadsPerChild and seed blocks (../shared/data/apache-bench/README.md, S1).
THREADS_PER_CHILD = 25
SEED: dict[str, dict[str, object]] = {
    "prefork": {"StartServers": 5, "MinSpareServers": 5, "MaxSpareServers": 10,
                "MaxRequestWorkers": 150, "MaxConnectionsPerChild": 0},
    "threaded": {"StartServers": 3, "MinSpareThreads": 75, "MaxSpareThreads": 250,
                 "ThreadsPerChild": THREADS_PER_CHILD, "MaxRequestWorkers": 400,
                 "MaxConnectionsPerChild": 0},
}  # fmt: skip
KEEPALIVE = {"KeepAlive": "On", "MaxKeepAliveRequests": 100, "KeepAliveTimeout": 5}


def seed_block(mpm: str) -> dict[str, object]:
    """The seed block of ``mpm``: prefork's, or the one worker and event share."""
    return SEED["prefork" if mpm == "prefork" else "threaded"]


#: Iterations of cpu.lua's loop: ~1 ms of Apache CPU per request on this machine (pilot in
#: measurements/README.md; the shared set used a 99,780-iteration loop for 0.966 ms).
LUA_ITERATIONS = 155_000
CPU_LUA = """-- burns ~1 ms of CPU per request (mod_lua, as the shared set's /cpu)
function handle(r)
  local x = 0
  for i = 1, {n} do x = x + i % 7 end
  r.content_type = "text/plain"
  r:puts(tostring(x) .. "\\n")
  return apache2.OK
end
"""


@dataclass(frozen=True)
class Point:
    """One configuration of a campaign: measured once per repetition."""

    campaign: str
    mpm: str
    level: int  # index of the varied setting (clients, MaxConnectionsPerChild, keep-alive)
    c: int
    tool: str = "ab"
    keepalive: bool = False
    content: str = "static"
    tag: str | None = None
    rate: float | None = None
    warmup_s: int = 10
    duration_s: int = 12
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def directives(self) -> dict[str, object]:
        return {**seed_block(self.mpm), **self.extra, **KEEPALIVE}

    @property
    def held_out(self) -> bool:
        """Kept out of fits: (MPM index + level index) % 3 == 2, i.e. a third of the grid,
        each MPM and each level in turn (both repetitions of a held-out point)."""
        return (MPMS.index(self.mpm) + self.level) % 3 == 2


def campaigns() -> dict[str, list[Point]]:
    """The six campaigns, each MPM-major, its varied setting minor."""
    out: dict[str, list[Point]] = {}
    grid = [(m, i, v) for m in MPMS for i, v in enumerate((50, 200))]
    out["warm-steady"] = [Point("warm-steady", m, i, v, warmup_s=20) for m, i, v in grid]
    mcpc = [(m, i, v) for m in MPMS for i, v in enumerate((100, 1000, 10000))]
    out["recycling"] = [Point("recycling", m, i, 50, tag=f"mcpc{v}",
                              extra={"MaxConnectionsPerChild": v}) for m, i, v in mcpc]  # fmt: skip
    cpu = [(m, i, v) for m in MPMS for i, v in enumerate((50, 150, 400))]
    out["cpu-bound"] = [Point("cpu-bound", m, i, v, content="cpu") for m, i, v in cpu]
    paced = [(m, i, v) for m in MPMS for i, v in enumerate((300, 800))]
    out["paced"] = [Point("paced", m, i, v, tool="kaclient", keepalive=True, rate=5.0)
                    for m, i, v in paced]  # fmt: skip
    one = [(m, i, v) for m in MPMS for i, v in enumerate((False, True))]
    out["one-client"] = [Point("one-client", m, i, 1, keepalive=v, warmup_s=5) for m, i, v in one]
    crowd = [(m, i, v) for m in MPMS for i, v in enumerate(CROWDS[m])]
    out["crowding"] = [Point("crowding", m, i, 50, tag=f"n{v}", extra=fixed_children(m, v))
                       for m, i, v in crowd]  # fmt: skip
    return out


#: crowding: the children each MPM keeps alive, all serving (new connections go round them).
CROWDS = {"prefork": (8, 64, 256), "worker": (1, 4, 16), "event": (1, 4, 16)}


def fixed_children(mpm: str, n: int, threads: int = THREADS_PER_CHILD) -> dict[str, object]:
    """Directives that hold exactly ``n`` children (of ``threads`` threads under worker and
    event) from start-up to the end: none forked, none stopped (spares within bounds,
    MaxRequestWorkers and ServerLimit at ``n`` children)."""
    if mpm == "prefork":
        return {"StartServers": n, "MinSpareServers": 1, "MaxSpareServers": n,
                "MaxRequestWorkers": n, "ServerLimit": n}  # fmt: skip
    return {"StartServers": n, "ServerLimit": n, "ThreadsPerChild": threads,
            "MaxRequestWorkers": threads * n, "MinSpareThreads": 1,
            "MaxSpareThreads": threads * (n + 1)}  # fmt: skip


def lua_scope(point: Point) -> str:
    """The run's ``LuaScope``: a pool of Lua states per child, one to a thread at most."""
    tpc = 1 if point.mpm == "prefork" else point.directives["ThreadsPerChild"]
    return f"server 1 {tpc}"


def loads_lua(point: Point, lua_always: bool = False) -> bool:
    """mod_lua and the /cpu handler are loaded for the CPU-bound content or (``lua_always``) in
    every configuration, as the shared set's harness loads them (its static rows included)."""
    return point.content == "cpu" or lua_always


def lua_module_lines(scope: str, docroot: Path) -> list[str]:
    """mod_lua loaded with a ``LuaScope`` of ``scope`` and the /cpu handler in ``docroot``."""
    return ["LoadModule lua_module /usr/lib/apache2/modules/mod_lua.so", f"LuaScope {scope}",
            f"LuaMapHandler ^/cpu$ {docroot}/cpu.lua handle"]  # fmt: skip


def _cpu_lines(point: Point, docroot: Path, lua_always: bool = False) -> list[str]:
    """mod_lua's lines in httpd.conf where :func:`loads_lua`."""
    if not loads_lua(point, lua_always):
        return []
    return lua_module_lines(lua_scope(point), docroot)


@contextmanager
def _scratch() -> Iterator[Path]:
    """A world-readable temporary server root (the children run as www-data)."""
    root = Path(tempfile.mkdtemp(prefix="mpmsim-campaign-"))
    try:
        root.chmod(0o755)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _server(
    point: Point, iterations: int, root: Path, setup: Setup, extra: Sequence[str] = ()
) -> contextlib.AbstractContextManager[ApacheServer]:
    """A fresh Apache for ``point`` in ``root``, started as ``setup`` says (``extra``: more
    httpd.conf lines, e.g. a probe's LogLevel)."""
    files = {"cpu.lua": CPU_LUA.format(n=iterations).encode()}
    lines = [*_cpu_lines(point, root / "htdocs", setup.lua_always), *extra]
    return running_apache(point.mpm, point.directives, root, extra_lines=lines, files=files,
                          launcher=setup.launcher)  # fmt: skip


def boost(pid: int | None) -> None:
    """Give ``pid``'s session group (sched_autogroup) nice -20: with autogroups on, a process's
    own nice only ranks it within its session, and ``apache2 -k start`` makes a new session."""
    path = Path(f"/proc/{'self' if pid is None else pid}/autogroup")
    if path.exists():
        path.write_text(str(AUTOGROUP_NICE))


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass(frozen=True)
class Setup:
    """Where and how hard the server runs."""

    launcher: tuple[str, ...]
    boost: bool
    note: str
    lua_always: bool = False  # mod_lua loaded in every configuration (the shared set's harness)


STRICT = Setup(SERVER_LAUNCHER, True, "Apache on CPU 1, load on CPU 0, nice -20, autogroup -20")
GENTLE = Setup(("taskset", "-c", "0", "nice", "-n", "15"), False, "GENTLE smoke test: all on CPU 0")


def run_point(
    point: Point, rep: int, out: Path, iterations: int, setup: Setup
) -> dict[str, object]:
    """Measure ``point`` once on a fresh server; the row (server-side cells included)."""
    with _scratch() as root:
        return _run_point(point, rep, out, (iterations, setup), root)


def _run_point(
    point: Point, rep: int, out: Path, how: tuple[int, Setup], root: Path
) -> dict[str, object]:
    iterations, setup = how
    raw = out / point.campaign / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=raw.parent))
    before = _loadavg()
    t0 = time.monotonic()
    with _server(point, iterations, root, setup) as server:
        started = round(time.monotonic() - t0, 3)
        if setup.boost:
            boost(server.pid)
        url = server.url.replace("/test.html", "/cpu") if point.content == "cpu" else server.url
        extras = Extras(
            scenario=point.campaign, content=point.content, tag=point.tag,
            rate_per_client=point.rate, warmup_s=point.warmup_s, raw_dir=staging,
        )  # fmt: skip
        (row,) = bench(url, tool=point.tool, concurrency=[point.c], keepalive=point.keepalive,
                       duration_s=point.duration_s, apache_pid_file=server.pid_file,
                       status_url=server.status_url, repetitions=1, mpm=point.mpm,
                       directives=point.directives, extras=extras)  # fmt: skip
        row["repetition"] = rep
        if loads_lua(point, setup.lua_always):  # recorded as the shared set's config_json
            config = json.loads(str(row["config_json"]))
            row["config_json"] = json.dumps({**config, "LuaScope": lua_scope(point)},
                                            separators=(",", ":"))  # fmt: skip
        row["run_id"] = str(row["run_id"]).removesuffix("-r1") + f"-r{rep}"
        t1 = time.monotonic()
    stopped = round(time.monotonic() - t1, 3)
    run_id = str(row["run_id"])
    row.update(error_log_cells(server.error_log), **access_log_cells(server.access_log))
    _keep_raw(server, staging, raw, run_id, str(row["raw_prefix"]).split("/")[-1])
    cpu0, cpu1 = row.get("cpu0_busy_pct"), row.get("cpu1_busy_pct")
    if isinstance(cpu0, float) and isinstance(cpu1, float):
        row["client_bound"] = int(cpu0 >= 95.0 and cpu1 < 90.0)
    note = f"loadavg before {before} after {_loadavg()}; {setup.note}"
    if setup.lua_always:
        note += "; mod_lua loaded (LuaScope, /cpu mapped) as in the shared set's harness"
    if point.warmup_s:
        note = f"warm-up {point.warmup_s}s same load on the same server before measuring; " + note
    row.update(apache_start_s=started, apache_stop_s=stopped, raw_prefix=f"raw/{run_id}",
               notes="; ".join(x for x in (note, str(row.get("notes") or "")) if x))  # fmt: skip
    return row


def _keep_raw(server: ApacheServer, staging: Path, raw: Path, run_id: str, bench_id: str) -> None:
    """bench's files (renamed to the repetition's run id), httpd.conf and the error log."""
    for src in staging.glob(f"{bench_id}.*"):
        shutil.move(src, raw / (run_id + src.name[len(bench_id) :]))
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copyfile(server.conf_path, raw / f"{run_id}.httpd.conf")
    if server.error_log.exists():
        shutil.copyfile(server.error_log, raw / f"{run_id}.error.log")


def write_holdout(out: Path) -> None:
    """``<out>/holdout.csv``: campaign, run_id, held_out (1/0) for every row measured so far."""
    points = {(p.campaign, p.mpm, p.level): p for ps in campaigns().values() for p in ps}
    lines = ["campaign,run_id,held_out"]
    for name in campaigns():
        path = out / name / "runs.csv"
        if not path.exists():
            continue
        with path.open() as handle:
            for row in csv.DictReader(handle):
                level = _level_of(name, row)
                held = points[(name, row["mpm"], level)].held_out
                lines.append(f"{name},{row['run_id']},{int(held)}")
    (out / "holdout.csv").write_text("\n".join(lines) + "\n")


def _level_of(name: str, row: Mapping[str, str]) -> int:
    for p in campaigns()[name]:
        tag_ok = p.tag is None or f"-{p.tag}-" in row["run_id"]
        if (p.mpm == row["mpm"] and tag_ok and p.c == int(row["concurrency"])
                and int(p.keepalive) == int(row["keepalive"])):  # fmt: skip
            return p.level
    raise InputError(f"row {row['run_id']} matches no point of campaign {name}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "measurements")
    parser.add_argument("--campaign", action="append", choices=list(campaigns()))
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2 s warm-up, 3 s window (smoke)")
    parser.add_argument("--gentle", action="store_true",
                        help="smoke test beside others' measurements: everything on CPU 0 at "
                        "nice 15, no priority boost (the figures mean nothing)")  # fmt: skip
    parser.add_argument("--lua-iterations", type=int, default=LUA_ITERATIONS)
    parser.add_argument("--lua-always", action="store_true",
                        help="load mod_lua (LuaScope, the /cpu handler) in every configuration, "
                        "as the shared set's harness did (it adds to every child)")  # fmt: skip
    return parser


def _progress(row: Mapping[str, object]) -> None:
    print(f"    {row['req_per_s']} req/s p95 {row['lat_p95_ms']} ms procs {row['peak_procs']} "
          f"cpu0 {row.get('cpu0_busy_pct')} % cpu1 {row.get('cpu1_busy_pct')} % Apache "
          f"{row.get('apache_cpu_util')} load {_loadavg()}", flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the campaigns rep-major (every campaign's rep 1, then rep 2): a cut-short run still
    has every point once. Each row rewrites its campaign's runs.csv, README and holdout.csv."""
    args = _parser().parse_args(argv)
    if os.geteuid() != 0:
        print("campaigns: error: needs root (nice -n -20)", file=sys.stderr)
        return 2
    os.sched_setaffinity(0, {CLIENT_CPU})
    setup = replace(GENTLE if args.gentle else STRICT, lua_always=args.lua_always)
    group = Path("/proc/self/autogroup")
    before = group.read_text().split()[-1] if group.exists() else None
    if setup.boost:
        os.setpriority(os.PRIO_PROCESS, 0, -20)
        boost(None)
    try:
        _campaign(args, setup)
    finally:  # the session's group outlives this process: give it its nice back
        if setup.boost and before is not None:
            group.write_text(before)
    return 0


def _campaign(args: argparse.Namespace, setup: Setup) -> None:
    names = args.campaign or list(campaigns())
    done: dict[str, list[tuple[dict[str, object], bool]]] = {name: [] for name in names}
    for rep in range(1, args.reps + 1):  # rep-major: slow drift biases no point
        for name in names:
            for point in campaigns()[name]:
                if args.quick:
                    point = replace(point, warmup_s=min(point.warmup_s, 2), duration_s=3)
                t = time.strftime("%H:%M:%S")
                print(f"{t} {name} {point.mpm} c={point.c} {point.tag or ''} rep {rep}", flush=True)
                try:
                    row = run_point(point, rep, args.out, args.lua_iterations, setup)
                except (InputError, RuntimeError, OSError) as exc:  # one bad run, not the set
                    print(f"    FAILED: {exc}", flush=True)
                    continue
                _progress(row)
                done[name].append((row, point.held_out))
                rows = [r for r, _ in done[name]]
                write_rows(rows, args.out / name / "runs.csv", overwrite=True)
                write_readme(args.out / name, name, rows, [h for _, h in done[name]])
                write_holdout(args.out)


if __name__ == "__main__":
    sys.exit(main())

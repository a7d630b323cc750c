"""The trace path's speed and memory: reading access logs, and replaying a day of one.

Sections (``--sections``, default all):
- ``reader``: lines per second reading a generated log of ``--lines`` lines (default 1M) in
  ``combined`` and in the planning format ``mpmsim`` (aim >= 200,000 lines/s each; best of
  ``--repeat`` reads), and apachelogs' rate on the same lines for reference;
- ``memory``: resident memory while a fresh process reads a gzip log of ``--gzip-lines``
  lines (default 10M: the planning log repeated), sampled along the way and at its peak
  (aim: flat, not growing with the file);
- ``replay``: a 24-hour day shaped like the NASA log at ``--rate`` requests/s on average
  (default 500: 43.2 million requests; ``trace_day.py`` says how it is made), replayed as one
  long run and as independent one-hour windows, each with ``--warmup`` s (default 300) of the
  log before it, over ``--jobs`` processes (default 2) or a Dask cluster (``--scheduler``)
  with the mapper ``mpmsim optimize`` uses; prints wall times, simulated requests per wall
  second and how the windows' throughput and p95 per hour differ from the long run's (aim: the
  day in 300 s or less). ``--hours N`` replays the first N hours, ``--no-long`` skips the long
  run;
- ``warmup`` (not in the default): each of ``--study-hours`` (default 3,10) replayed as a
  window with each of ``--warmups`` (default 60,120,300 s) and against the same hour after
  ``--reference-lead`` s (default 3600) of the log, a stand-in for the long run;
  ``--study-minutes`` (default 60) replays only the hours' first minutes.
Generating the logs is not timed. ``--keep DIR`` keeps them there for the next run.

    python benchmarks/bench_traces.py [--lines N] [--gzip-lines N] [--sections reader,memory,replay]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the synthetic logs come from tests/logs.py

from trace_day import replay_section, warmup_section  # noqa: E402

from mpmsim.workloads.access_log import BadLines, read_access_log  # noqa: E402
from tests.logs import Traffic, format_line, requests  # noqa: E402

AIM_LINES_PER_S = 200_000
ORACLE_LINES = 50_000
"""Lines apachelogs reads for its reference rate (it is ~10x slower)."""


def write_logs(folder: Path, lines: int) -> dict[str, Path]:
    """The ``combined`` and ``mpmsim`` logs of the same ``lines`` requests (kept if there)."""
    paths = {name: folder / f"{name}-{lines}.log" for name in ("combined", "mpmsim")}
    if all(path.is_file() for path in paths.values()):
        return paths
    t0 = time.perf_counter()
    with paths["combined"].open("w") as combined, paths["mpmsim"].open("w") as planning:
        for request in itertools.islice(requests(Traffic(connections_per_s=200.0), 1), lines):
            line = format_line(request, "mpmsim")
            planning.write(line + "\n")
            combined.write(format_line(request, "combined") + "\n")
    print(f"(wrote {lines:,} lines in each format in {time.perf_counter() - t0:.0f} s)")
    return paths


def write_gzip(source: Path, lines_in_source: int, lines: int) -> Path:
    """A gzip log of ``lines`` lines: ``source`` over and over (kept if there)."""
    path = source.with_name(f"{source.stem}-x-{lines}.log.gz")
    if path.is_file():
        return path
    t0 = time.perf_counter()
    copies, rest = divmod(lines, lines_in_source)
    with gzip.open(path, "wb", compresslevel=1) as out:
        for _ in range(copies):
            with source.open("rb") as block:
                shutil.copyfileobj(block, out, 1 << 20)
        with source.open("rb") as block:
            out.writelines(itertools.islice(block, rest))
    size_mib = path.stat().st_size / 2**20
    print(f"(wrote {lines:,} lines, {size_mib:.0f} MiB gzip, in {time.perf_counter() - t0:.0f} s)")
    return path


def read_rate(path: Path, log_format: str, repeat: int) -> tuple[float, float, int]:
    """Best lines per wall second and per CPU second over ``repeat`` full reads, and the
    records of one read. The CPU rate is the one to compare when the host is shared."""
    wall, cpu, records = 0.0, 0.0, 0
    for _ in range(repeat):
        bad = BadLines()
        t0, c0 = time.perf_counter(), time.process_time()
        records = sum(1 for _ in read_access_log(path, log_format, bad_lines=bad))
        wall = max(wall, bad.lines_read / (time.perf_counter() - t0))
        cpu = max(cpu, bad.lines_read / (time.process_time() - c0))
        assert bad.count == 0, bad.summary()
    return wall, cpu, records


def oracle_rate(path: Path, log_format: str) -> float | None:
    """apachelogs' lines per CPU second on the first lines of ``path`` (None if missing)."""
    try:
        import apachelogs  # type: ignore[import-untyped]
    except ImportError:
        return None
    from mpmsim.workloads.access_log import resolve_format

    parser = apachelogs.LogParser(resolve_format(log_format))
    with path.open() as handle:
        lines = list(itertools.islice(handle, ORACLE_LINES))
    t0 = time.process_time()
    for line in lines:
        parser.parse(line)
    return len(lines) / (time.process_time() - t0)


def reader_section(args: argparse.Namespace, folder: Path) -> None:
    """Lines per second, ``combined`` and ``mpmsim``."""
    paths = write_logs(folder, args.lines)
    print(f"{'format':<10} {'lines/s':>10} {'CPU lines/s':>12} {'aim':>7} {'apachelogs':>11}")
    for name, path in paths.items():
        wall, cpu, records = read_rate(path, name, args.repeat)
        assert records == args.lines
        oracle = oracle_rate(path, name)
        verdict = "ok" if cpu >= AIM_LINES_PER_S else "MISSED"
        shown = f"{oracle:11,.0f}" if oracle else f"{'-':>11}"
        print(f"{name:<10} {wall:10,.0f} {cpu:12,.0f} {verdict:>7} {shown}")
    print("(lines/s: wall clock; CPU lines/s: per second of this process's CPU time)")


def memory_section(args: argparse.Namespace, folder: Path) -> None:
    """Resident memory along a gzip read, in a fresh process."""
    source = write_logs(folder, args.lines)["mpmsim"]
    path = write_gzip(source, args.lines, args.gzip_lines)
    t0 = time.perf_counter()
    child = [sys.executable, __file__, "--measure-memory", str(path)]
    child += ["--gzip-lines", str(args.gzip_lines)]
    output = subprocess.run(child, check=True, capture_output=True, text=True).stdout
    print(output, end="")
    print(f"(read in {time.perf_counter() - t0:.0f} s)")


def _memory_mib(key: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (its peak) of this process, MiB (Linux).

    Not ``ru_maxrss``: Linux carries that over from the parent through fork and exec.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} in /proc/self/status")


def measure_memory(path: Path, total: int) -> None:
    """In the child: read ``path`` (``total`` lines), print RSS at 10 points and the peak."""
    marks = {total * k // 10 for k in range(1, 11)}
    bad = BadLines()
    before = _memory_mib("VmHWM")
    print(f"RSS before the read: {_memory_mib('VmRSS'):.1f} MiB (peak so far {before:.1f} MiB)")
    samples = []
    for number, _ in enumerate(read_access_log(path, "mpmsim", bad_lines=bad), 1):
        if number in marks:
            shown = f"{number / 1e6:g}" if total >= 10**6 else str(number)
            samples.append(f"{shown}: {_memory_mib('VmRSS'):.1f}")
    unit = "M lines" if total >= 10**6 else "lines"
    print(f"RSS (MiB) after {unit}: " + ", ".join(samples))
    peak = _memory_mib("VmHWM")
    print(f"peak RSS {peak:.1f} MiB over {bad.lines_read:,} lines ({bad.count} bad)")
    assert bad.lines_read == total


SECTIONS: dict[str, Callable[[argparse.Namespace, Path], None]] = {
    "reader": reader_section,
    "memory": memory_section,
    "replay": replay_section,
    "warmup": warmup_section,
}
DEFAULT_SECTIONS = "reader,memory,replay"


def main() -> None:
    """Parse the options and run the sections."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--lines", type=int, default=1_000_000)
    cli.add_argument("--gzip-lines", type=int, default=10_000_000)
    cli.add_argument("--repeat", type=int, default=2)
    cli.add_argument("--sections", default=DEFAULT_SECTIONS)
    cli.add_argument("--keep", type=Path, help="folder to keep the generated logs in")
    cli.add_argument("--rate", type=float, default=500.0, help="replay: mean requests/s")
    cli.add_argument("--hours", type=int, default=24, help="replay: hours of the day")
    cli.add_argument("--warmup", type=float, default=300.0, help="replay: warm-up per window, s")
    cli.add_argument("--jobs", type=int, default=2, help="replay: processes for the windows")
    cli.add_argument("--scheduler", help="replay: a Dask scheduler address, or dask://local")
    cli.add_argument("--no-long", action="store_true", help="replay: skip the long run")
    cli.add_argument("--study-hours", default="3,10", help="warmup: hours to replay")
    cli.add_argument("--warmups", default="60,120,300", help="warmup: warm-ups to try, s")
    cli.add_argument("--study-minutes", type=float, default=60.0, help="warmup: of each hour")
    cli.add_argument("--reference-lead", type=float, default=3600.0, help="warmup: reference's, s")
    cli.add_argument("--measure-memory", type=Path, help=argparse.SUPPRESS)
    args = cli.parse_args()
    if args.measure_memory:
        measure_memory(args.measure_memory, args.gzip_lines)
        return
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for name in args.sections.split(","):
            print(f"== {name}")
            SECTIONS[name](args, folder)


if __name__ == "__main__":
    main()

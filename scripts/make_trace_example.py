"""Write ``workloads/examples/trace-replay.log.gz``: four minutes of synthetic keep-alive traffic
in the planning log format (``mpmsim``), the log the ``trace-replay`` example replays.

    python scripts/make_trace_example.py

The traffic comes from ``tests/logs.py`` (seeded): 6 connections a second, 4 requests each on
average, 2 s think times, lognormal %D of mean 20 ms; 6,000 lines, about 190 KB gzipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.logs import Traffic, write_log  # noqa: E402

TRAFFIC = Traffic(
    connections_per_s=6.0,
    requests_per_connection=4.0,
    think_time_s=2.0,
    duration_ms=20.0,
    duration_cv=2.0,
    clients=400,
    start_s=1_717_000_000.0,
)
LINES = 6_000
TARGET = ROOT / "workloads" / "examples" / "trace-replay.log.gz"


def main() -> None:
    """Write the log."""
    write_log(TARGET, TRAFFIC, LINES, "mpmsim", seed=7, compress=True)
    print(f"wrote {TARGET} ({TARGET.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()

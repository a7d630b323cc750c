"""Readers of benchmark results: load-tool outputs, mod_status and the measurement CSV."""

from __future__ import annotations

from mpmsim.workloads.readers.ab import read_ab_gnuplot, read_ab_percentiles, read_ab_text
from mpmsim.workloads.readers.h2load import read_h2load_text
from mpmsim.workloads.readers.jmeter import read_jtl_csv
from mpmsim.workloads.readers.k6 import read_k6_summary
from mpmsim.workloads.readers.locust import read_locust_history, read_locust_stats
from mpmsim.workloads.readers.measurements import (
    KINDS_OF_FILE,
    MEASUREMENT_COLUMNS,
    REQUIRED_COLUMNS,
    MeasuredRun,
    read_measurements,
    sniff,
    write_measurements,
)
from mpmsim.workloads.readers.mod_status import SCOREBOARD_KEYS, read_mod_status
from mpmsim.workloads.readers.tool_result import ToolResult
from mpmsim.workloads.readers.wrk import read_wrk_text

__all__ = [
    "KINDS_OF_FILE",
    "MEASUREMENT_COLUMNS",
    "REQUIRED_COLUMNS",
    "SCOREBOARD_KEYS",
    "MeasuredRun",
    "ToolResult",
    "read_ab_gnuplot",
    "read_ab_percentiles",
    "read_ab_text",
    "read_h2load_text",
    "read_jtl_csv",
    "read_k6_summary",
    "read_locust_history",
    "read_locust_stats",
    "read_measurements",
    "read_mod_status",
    "read_wrk_text",
    "sniff",
    "write_measurements",
]

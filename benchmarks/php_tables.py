"""The tables of measurements/php/README.md, from its runs.csv and memory.csv.

    python benchmarks/php_tables.py measurements/php

Prints Markdown: one line per set-up x script x concurrency (mean of the repetitions and their
spread), the CPU per request split between Apache and PHP at low concurrency, and the memory
series with the slopes of a least-squares line (memory per added PHP process; growth per
request).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

RUN_COLUMNS = {
    "req_per_s": "req/s",
    "lat_p50_ms": "p50 ms",
    "lat_p95_ms": "p95 ms",
    "server_cpu_ms_per_req": "server CPU ms/req",
    "apache_sched_cpu_ms_per_req": "Apache",
    "fpm_cpu_ms_per_req": "FPM",
    "peak_procs": "Apache procs",
    "fpm_peak_procs": "FPM procs",
    "peak_pss_mb": "Apache PSS MB",
    "fpm_peak_pss_mb": "FPM PSS MB",
    "cpu1_busy_pct": "CPU 1 %",
    "failed": "failed",
}


def markdown(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([head, rule, *body])


def _cell(value: object) -> str:
    if isinstance(value, float):
        if np.isnan(value):
            return ""
        return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def runs_table(runs: pd.DataFrame) -> str:
    """Means over repetitions, with the throughput's spread (max-min over mean)."""
    keys = ["php", "pm_max_children", "content", "concurrency"]
    runs = runs.assign(pm_max_children=runs["pm_max_children"].fillna(0).astype(int))
    grouped = runs.groupby(keys, sort=True)
    table = grouped[list(RUN_COLUMNS)].mean()
    spread = grouped["req_per_s"].agg(lambda s: (s.max() - s.min()) / s.mean() * 100)
    table.insert(1, "spread %", spread)
    table = table.rename(columns=RUN_COLUMNS).reset_index()
    table["pm_max_children"] = table["pm_max_children"].map(lambda n: n or "")
    return markdown(table.rename(columns={"pm_max_children": "max_children"}))


def cpu_split(runs: pd.DataFrame) -> str:
    """CPU per request beyond the script's, by set-up and script (rows at c <= 10)."""
    low = runs[runs["concurrency"] <= 10].copy()
    low["beyond script"] = low["server_cpu_ms_per_req"] - low["script_cpu_ms"]
    low["PHP beyond script"] = low["fpm_cpu_ms_per_req"] - low["script_cpu_ms"]
    cols = ["server_cpu_ms_per_req", "beyond script", "apache_sched_cpu_ms_per_req",
            "fpm_cpu_ms_per_req", "PHP beyond script", "apache_cpu_ms_per_req"]  # fmt: skip
    table = low.groupby(["php", "content", "concurrency"])[cols].mean().reset_index()
    return markdown(table)


def _slope(x: pd.Series, y: pd.Series) -> tuple[float, float]:
    slope, intercept = np.polyfit(x.astype(float), y.astype(float), 1)
    return float(slope), float(intercept)


def memory_tables(memory: pd.DataFrame) -> str:
    """The growth series and the pool series, with their fitted lines."""
    out = []
    growth = memory[memory["series"] == "growth"]
    cols = ["php", "php_requests", "script_mem_kb", "php_peak_bytes", "rss_kb", "pss_kb",
            "private_kb", "shared_kb", "pool_pss_kb", "apache_pss_kb"]  # fmt: skip
    out.append(markdown(growth[cols]))
    for php, part in growth[growth["script_mem_kb"] == 0].groupby("php"):
        slope, _ = _slope(part["php_requests"], part["private_kb"])
        out.append(f"\n{php}: private memory grows {slope * 1000:.1f} kB per 1000 requests")
    pool = memory[memory["series"] == "pool"]
    out.append("\n" + markdown(pool[["php", "processes", "pool_procs", "pool_pss_kb", "pool_rss_kb",
                                "apache_procs", "apache_pss_kb"]]))  # fmt: skip
    for php, part in pool.groupby("php"):
        slope, intercept = _slope(part["processes"], part["pool_pss_kb"])
        out.append(
            f"\n{php}: pool PSS = {intercept / 1024:.2f} MiB + {slope / 1024:.3f} MiB x processes"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    runs = pd.read_csv(args.folder / "runs.csv")
    print("## Runs\n\n" + runs_table(runs) + "\n\n## CPU per request at c <= 10\n")
    print(cpu_split(runs))
    memory_csv = args.folder / "memory.csv"
    if memory_csv.exists():
        print("\n## Memory\n\n" + memory_tables(pd.read_csv(memory_csv)))


if __name__ == "__main__":
    main()

"""Load-tool outputs read as runs to simulate: each with the scenario it ran, its load the tool's.

ab's and wrk's texts say the closed loop they ran (clients, keep-alive, extent): it replaces the
scenario's load. A JMeter JTL or a k6 summary does not say what its users did between requests
(the test plan's think time, keep-alive): the scenario's own closed load runs for the output's
duration, its clients must be the users the output counted, and :func:`implied_think_s` gives
the pause the output's figures imply (Little's law) beside the scenario's. Other kinds are
refused with the reason (:data:`REFUSED`). The fit is :mod:`mpmsim.calibration.from_tools`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpmsim.errors import InputError
from mpmsim.spec.reading import load_scenario
from mpmsim.workloads.readers import (
    ToolResult,
    read_ab_text,
    read_jtl_csv,
    read_k6_summary,
    read_wrk_text,
)

#: Load-tool outputs whose text says the closed loop they ran (clients, keep-alive, extent).
READERS: dict[str, Callable[[Path], ToolResult]] = {"ab": read_ab_text, "wrk": read_wrk_text}

#: Outputs of tools whose users pause between requests as their test plan says, which the
#: output does not: the scenario's own closed load (clients, think time, keep-alive) runs, for
#: the output's duration, and its users must be the scenario's clients.
SUMMARIES: dict[str, Callable[[Path], ToolResult]] = {
    "jmeter": read_jtl_csv,
    "k6": read_k6_summary,
}

#: Why the other kinds of file ``sniff`` knows cannot be simulated from their text alone.
REFUSED: dict[str, str] = {
    "h2load": "h2load's summary does not say whether it spoke HTTP/1.1 (--h1) or paced its "
    "clients (--rps); give it as a measurement CSV row with tool_cmd",
    "locust_stats": "Locust's statistics do not say its users' count or wait time; give the run "
    "as a measurement CSV row",
    "locust_history": "Locust's history does not say its users' wait time; give the run as a "
    "measurement CSV row",
    "ab_percentiles": "ab's -e file holds latencies only; give ab's text report",
    "ab_gnuplot": "ab's -g file holds per-request times only; give ab's text report",
    "mod_status": "a mod_status page is a reading of the server, not a load; give the load "
    "tool's output",
}

#: The clients' timeouts the texts do not print: ab -s (30 s) and wrk --timeout (2 s) defaults.
_TIMEOUT_S = {"ab": 30.0, "wrk": 2.0}

#: The load keys of the scenario that describe the network and the start, kept as written.
_NETWORK_KEYS = ("network_rtt_ms", "client_bandwidth_kbps", "syn_retries", "start_s")


@dataclass(frozen=True)
class ToolRun:
    """One load-tool output and the scenario it ran, its load replaced by the tool's."""

    label: str
    result: ToolResult
    scenario: dict[str, Any]
    source: str
    base_dir: Path | None


def tool_run(path: Path, kind: str, scenario_path: Path) -> ToolRun:
    """Read ``path`` (a ``kind`` output) and the scenario it ran."""
    if kind not in READERS and kind not in SUMMARIES:
        reason = REFUSED.get(kind, f"{kind} output cannot be simulated")
        raise InputError(f"is {kind} output: {reason}", file=str(path))
    scenario = load_scenario(scenario_path)
    raw = scenario.model_dump(mode="json", exclude_unset=True)
    if kind in READERS:
        result = READERS[kind](path)
        raw["load"] = tool_load(result, raw.get("load", {}), str(path))
    else:
        result = SUMMARIES[kind](path)
        raw["load"] = plan_load(result, raw.get("load", {}), str(path), str(scenario_path))
    raw["warmup_s"] = 0.0  # the tool's figures cover its whole run
    raw.pop("duration_s", None)  # the tool's own extent ends the run
    return ToolRun(
        label=path.name,
        result=result,
        scenario=raw,
        source=str(scenario_path),
        base_dir=scenario_path.resolve().parent,
    )


def tool_load(result: ToolResult, load: dict[str, Any], source: str) -> dict[str, Any]:
    """The closed loop ``result``'s tool ran, with the network of the scenario's ``load``."""
    if not result.concurrency:
        raise InputError("the output does not say how many clients ran", file=source)
    out: dict[str, Any] = {
        "kind": "closed",
        "clients": int(result.concurrency),
        "keepalive": bool(result.keepalive),
        "timeout_s": _TIMEOUT_S[result.tool],
        **{k: load[k] for k in _NETWORK_KEYS if k in load},
    }
    if result.tool == "ab":
        done = result.requests_completed or 0  # ab's "Complete requests" counts failed ones
        if done < 1:
            raise InputError("ab completed no request", file=source)
        out["requests"] = done
    else:
        if not result.duration_s:
            raise InputError("the output does not say how long it ran", file=source)
        out["duration_s"] = float(result.duration_s)
    if not result.req_per_s:
        raise InputError("the output has no requests per second", file=source)
    return out


def plan_load(
    result: ToolResult, load: dict[str, Any], source: str, scenario: str
) -> dict[str, Any]:
    """The scenario's own closed ``load`` (its clients' think time and keep-alive are the test
    plan's), run for ``result``'s duration; its clients must be the users ``result`` ran."""
    if load.get("kind") != "closed":
        raise InputError(
            f"a {result.tool} run is a closed loop of users: the scenario's load must be kind "
            "closed, with the users' think time (think_time_s) and keep-alive",
            file=scenario,
            field="load.kind",
        )
    users = result.concurrency
    if users and users != load.get("clients"):
        raise InputError(
            f"{source} ran {users} users; the scenario's load has {load.get('clients')} clients",
            file=scenario,
            field="load.clients",
        )
    if not result.duration_s or not result.req_per_s:
        raise InputError("the output does not say how long it ran and at what rate", file=source)
    out = {k: v for k, v in load.items() if k != "requests"}
    out["duration_s"] = float(result.duration_s)
    return out


def implied_think_s(run: ToolRun) -> tuple[float | None, float | None]:
    """The users' mean pause between a response and their next request that ``run``'s output
    implies (a closed loop: users = rate x (response time + pause), Little's law), and the
    scenario's mean think time (None where it has no mean: a think-time it cannot read)."""
    r, load = run.result, run.scenario["load"]
    implied = None
    if r.req_per_s and r.lat_mean_ms is not None and load.get("clients"):
        implied = max(0.0, load["clients"] / r.req_per_s - r.lat_mean_ms / 1000.0)
    think = load.get("think_time_s", 0.0)
    if isinstance(think, dict):
        think = think.get("mean", think.get("value"))
    return implied, (float(think) if isinstance(think, int | float) else None)

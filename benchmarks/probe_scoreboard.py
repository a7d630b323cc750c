"""``probe_children.py scoreboard``: mod_status's scoreboard of a real server by state, what
the parent's maintenance counts as idle.

The campaigns' warm-steady (or ``--cpu``: cpu-bound) point of an MPM on a fresh server under ab:
each second the processes and the workers by state letter, or, sampled under a second apart,
their spread (:func:`_swings`) with the parent's own idle count at its forks of 8 or more
(:func:`_parent_counts`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence

import campaigns
from probe_apache import _deciles, _load_while, _rate, _timed_load

from mpmsim.bench.processes import apache_pid, apache_pids
from mpmsim.bench.target import fetch_status
from mpmsim.workloads.readers.mod_status import SCOREBOARD_KEYS


def scoreboard(
    mpm: str, clients: int, seconds: float, lua: bool, every_s: float = 1.0, cpu: bool = False
) -> str:
    """The warm-steady point of ``mpm`` at ``clients`` ab clients (the seed block, no
    keep-alive; ``cpu``: the cpu-bound point, its /cpu handler instead of the page) on a fresh
    server: req/s and, every ``every_s``, the processes with the scoreboard's workers by state
    (mod_status ``?auto``; ``lua``: mod_lua loaded as ``campaigns.py --lua-always`` loads it);
    under a second apart, their summary (:func:`_swings`)."""
    point = (
        campaigns.Point("cpu-bound", mpm, 0, clients, content="cpu")
        if cpu
        else campaigns.Point("warm-steady", mpm, 0, clients)
    )
    setup = dataclasses.replace(campaigns.STRICT, lua_always=lua)
    seen: list[tuple[int, dict[str, int]]] = []
    os.sched_setaffinity(0, {0})  # the probe's status requests stay off Apache's CPU
    # the parent's "server seems busy ... there are N idle" lines (prefork.c, worker.c, event.c)
    info = [f"LogLevel warn mpm_{mpm}:info"]
    with (
        campaigns._scratch() as root,
        campaigns._server(point, campaigns.LUA_ITERATIONS, root, setup, info) as srv,
    ):
        campaigns.boost(srv.pid)
        parent = apache_pid(srv.pid_file)

        def snap() -> None:
            seen.append((len(apache_pids(parent)), scoreboard_states(srv.status_url)))

        url = srv.url.replace("/test.html", "/cpu") if cpu else srv.url
        out = _load_while(_timed_load(clients, seconds, False, url), every_s, snap)
        log = srv.error_log.read_text(encoding="utf-8", errors="replace")
    head = f"{mpm}, {clients} clients{', /cpu' if cpu else ''}: {_rate(out)} req/s"
    if every_s >= 1.0:
        return f"{head}; each second: " + "; ".join(
            f"{n} [{_states_text(states)}]" for n, states in seen
        )
    spare = point.directives.get("MinSpareServers", point.directives.get("MinSpareThreads"))
    return f"{head}; {_swings(seen, int(str(spare)), every_s)}; {_parent_counts(log)}"


#: the parent's count when it forks at a spawn rate of 8 or more (prefork AH00162, worker and
#: event AH00486: "... spawning N children, there are [around] M idle ...")
_SPAWNED = re.compile(r"spawning (\d+) children, there are (?:around )?(\d+) idle")


def _swings(seen: Sequence[tuple[int, dict[str, int]]], spare: int, every_s: float) -> str:
    """Samples' processes (range), idle and closing workers (p10 / median / p90 / max), and
    the share of samples with fewer idle than ``spare`` (the parent forks there)."""
    read = [(n, states) for n, states in seen if states]
    if not read:
        return "no scoreboard read"
    idle = [states.get("_", 0) for _, states in read]
    closing = [states.get("C", 0) for _, states in read]
    procs = [n for n, _ in read]
    under = sum(1 for i in idle if i < spare)
    return (
        f"{len(read)} samples {every_s:g} s apart: processes {min(procs)}-{max(procs)}, idle "
        f"{_deciles(idle)}, closing {_deciles(closing)}, idle < {spare} in {under} "
        f"({100.0 * under / len(read):.0f} %)"
    )


def _parent_counts(log: str) -> str:
    """The parent's idle count at each fork of 8 or more children, from the error log."""
    found = [(int(m.group(1)), int(m.group(2))) for m in _SPAWNED.finditer(log)]
    if not found:
        return "the parent forked no batch of 8 or more"
    return "the parent's idle count at its forks of 8+: " + ", ".join(
        f"{idle} idle (forking {n})" for n, idle in found
    )


def scoreboard_states(status_url: str) -> dict[str, int]:
    """mod_status's scoreboard (``?auto``, read as ``mpmsim bench`` reads it): the workers
    in each state letter, open slots and empty states left out (empty if the request failed)."""
    cells = fetch_status(status_url)
    return {char: int(str(cells[col])) for char, col in sorted(SCOREBOARD_KEYS.items())
            if char != "." and cells.get(col)}  # fmt: skip


def _states_text(states: dict[str, int]) -> str:
    """Each state letter with its workers, e.g. ``C6 W1 _2``."""
    return " ".join(f"{char}{n}" for char, n in states.items())

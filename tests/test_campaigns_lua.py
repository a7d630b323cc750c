"""benchmarks/campaigns.py loads mod_lua where a run needs it, or everywhere (--lua-always)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from campaigns import Point, _cpu_lines, campaigns, lua_scope


def _point(campaign: str, mpm: str) -> Point:
    return next(p for p in campaigns()[campaign] if p.mpm == mpm)


def test_the_static_page_loads_mod_lua_only_when_asked(tmp_path: Path) -> None:
    static = _point("warm-steady", "worker")
    assert _cpu_lines(static, tmp_path) == []
    lines = _cpu_lines(static, tmp_path, lua_always=True)
    assert lines[0].startswith("LoadModule lua_module")
    assert "LuaScope server 1 25" in lines  # the shared set's: a state per thread at most
    assert any(line.startswith("LuaMapHandler ^/cpu$") for line in lines)


def test_the_cpu_handler_always_loads_it_one_state_per_prefork_child(tmp_path: Path) -> None:
    cpu = _point("cpu-bound", "prefork")
    assert "LuaScope server 1 1" in _cpu_lines(cpu, tmp_path)
    assert lua_scope(_point("crowding", "event")) == "server 1 25"

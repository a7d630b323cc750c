"""The real PHP fixtures (tests/php.py): prefork + mod_php and event + PHP-FPM on loopback."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.apache import live_group_members
from tests.php import (
    PHP_FPM_BIN,
    PHP_MODULE,
    Burn,
    PhpServer,
    burn,
    modphp_refusal,
    render_fpm_conf,
    running_apache_fpm,
    running_modphp,
)

MODPHP = pytest.mark.requires_apache(str(PHP_MODULE))
FPM = pytest.mark.requires_apache(str(PHP_FPM_BIN))

CPU_MS = 8.0
SLEEP_MS = 30.0


def _parent(pid: int) -> int:
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rindex(")") + 2 :].split()[1])


def _check_burn(got: Burn, sapi: str) -> None:
    assert got.status == 200
    assert got.sapi == sapi
    # the loop stops at the first getrusage reading past the target: a few tens of us late
    assert CPU_MS <= got.burn_cpu_ms < CPU_MS + 1.0
    assert got.burn_cpu_ms <= got.script_cpu_ms < CPU_MS + 3.0
    assert got.script_wall_ms >= CPU_MS + SLEEP_MS
    assert 100_000 < got.peak_bytes < 64 << 20


@MODPHP
def test_modphp_burns_in_the_apache_child(tmp_path: Path) -> None:
    with running_modphp({"StartServers": 2}, tmp_path) as server:
        got = burn(server.burn_url(CPU_MS, SLEEP_MS))
        _check_burn(got, "apache2handler")
        assert server.apache.pid is not None
        assert _parent(got.pid) == server.apache.pid  # PHP ran inside an Apache child
        parent = server.apache.pid
    assert live_group_members(parent) == []


@MODPHP
def test_mem_kb_raises_the_scripts_peak(tmp_path: Path) -> None:
    with running_modphp({"StartServers": 1}, tmp_path) as server:
        small = burn(server.burn_url())
        big = burn(server.burn_url(mem_kb=4096))
    assert big.peak_bytes - small.peak_bytes >= 0.95 * 4096 * 1024  # the string, less reuse


@FPM
def test_fpm_burns_in_a_pool_child_and_everything_stops(tmp_path: Path) -> None:
    with running_apache_fpm({"StartServers": 1}, {"pm.max_children": 2}, tmp_path) as server:
        assert server.fpm is not None
        got = burn(server.burn_url(CPU_MS, SLEEP_MS))
        _check_burn(got, "fpm-fcgi")
        assert _parent(got.pid) == server.fpm.pid  # PHP ran in a child of the FPM master
        pids = (server.fpm.pid, server.apache.pid)
        sock_dir = server.fpm.socket_path.parent
    assert all(p is not None and live_group_members(p) == [] for p in pids)
    assert not sock_dir.exists()


def _parallel(server: PhpServer, n: int, sleep_ms: float) -> tuple[list[Burn], float]:
    started = time.monotonic()
    with ThreadPoolExecutor(n) as pool:
        got = list(pool.map(lambda _: burn(server.burn_url(0, sleep_ms)), range(n)))
    return got, time.monotonic() - started


@FPM
def test_fpm_max_children_queues_the_rest(tmp_path: Path) -> None:
    pool = {"pm": "static", "pm.max_children": 2}
    with running_apache_fpm({"StartServers": 1}, pool, tmp_path) as server:
        got, wall_s = _parallel(server, 6, 200.0)
    assert len({b.pid for b in got}) <= 2
    assert wall_s >= 3 * 0.2 - 0.02  # 6 requests of 200 ms through 2 children: 3 rounds


@MODPHP
def test_modphp_refusal_returns_apaches_message_under_threaded_mpms(tmp_path: Path) -> None:
    assert modphp_refusal("prefork", tmp_path / "prefork") is None
    message = modphp_refusal("worker", tmp_path / "worker")
    assert message is not None
    assert "Apache is running a threaded MPM" in message
    assert "AH00013" in message


def test_fpm_conf_refuses_bad_settings(tmp_path: Path) -> None:
    text = render_fpm_conf({"pm": "dynamic", "pm.max_children": 7}, tmp_path, tmp_path / "s")
    assert "pm = dynamic" in text and "pm.max_children = 7" in text
    with pytest.raises(ValueError, match="bad pool setting"):
        render_fpm_conf({"pm\nuser": "root"}, tmp_path, tmp_path / "s")

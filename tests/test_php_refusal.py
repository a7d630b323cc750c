"""The refusals mpmsim copies from the real software, checked against it on this machine.

mod_php under worker or event: Apache's own start-up failure (``models/apache/rules.py``), and
the pools PHP-FPM refuses (``models/php/pool.py``): each message compared with what
``apache2 -k start`` and ``php-fpm -t`` print. Skipped without the packages, failed under CI.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mpmsim.errors import InputError
from mpmsim.models.apache.rules import MOD_PHP_THREADED_REFUSAL, module_refusal
from mpmsim.models.php.pool import make_pool
from tests.helpers import prepared
from tests.php import PHP_FPM_BIN, PHP_MODULE, modphp_refusal, render_fpm_conf

PHP_CLASS = [{"name": "php", "cpu_ms": 1.0, "backend": "mod_php"}]


def _words(text: str) -> str:
    """The message without the log prefix Apache puts before it (time, pid)."""
    return text.split("] ")[-1] if "] " in text else text


@pytest.mark.requires_apache(str(PHP_MODULE))
@pytest.mark.parametrize("mpm", ["worker", "event"])
def test_modphp_refusal_is_the_real_apaches_message(tmp_path: Path, mpm: str) -> None:
    real = modphp_refusal(mpm, tmp_path)
    assert real is not None, f"Apache {mpm} started with mod_php"
    first, second = (line.strip() for line in real.splitlines()[:2])
    assert "[php:crit]" in first
    simulated = module_refusal(mpm, ["php"])
    assert simulated == MOD_PHP_THREADED_REFUSAL
    # the same words, in the same order: '[php:crit] TEXT AH00013: Pre-configuration failed'
    assert simulated == f"[php:crit] {_words(first)} {second}"
    with pytest.raises(InputError) as info:
        prepared(server={"mpm": mpm, "modules": ["php"]}, mix=PHP_CLASS)
    assert _words(first) in str(info.value) and second in str(info.value)
    assert modphp_refusal("prefork", tmp_path / "prefork") is None
    assert module_refusal("prefork", ["php"]) is None


@pytest.mark.requires_apache(str(PHP_FPM_BIN))
@pytest.mark.parametrize(
    "pool",
    [
        {"pm": "dynamic", "pm.max_children": 5, "pm.min_spare_servers": 2,
         "pm.max_spare_servers": 6},
        {"pm": "dynamic", "pm.max_children": 9, "pm.min_spare_servers": 4,
         "pm.max_spare_servers": 3},
        {"pm": "dynamic", "pm.max_children": 9, "pm.min_spare_servers": 2,
         "pm.max_spare_servers": 4, "pm.start_servers": 6},
        {"pm": "ondemand", "pm.max_children": 3, "pm.process_idle_timeout": "0s"},
    ],
)  # fmt: skip
def test_fpm_refuses_the_pools_mpmsim_refuses_with_the_same_words(
    tmp_path: Path, pool: dict[str, object]
) -> None:
    conf = tmp_path / "php-fpm.conf"
    (tmp_path / "run").mkdir()
    (tmp_path / "logs").mkdir()
    conf.write_text(render_fpm_conf(pool, tmp_path, tmp_path / "fpm.sock"))
    real = subprocess.run(
        [str(PHP_FPM_BIN), "-t", "-n", "-y", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert real.returncode != 0
    with pytest.raises(InputError) as info:
        make_pool(pool, name="www")
    ours = info.value.detail.removesuffix(" (php-fpm refuses to start)")
    assert ours in real.stderr + real.stdout

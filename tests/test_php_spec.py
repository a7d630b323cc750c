"""PHP in the scenario file: server.modules, backends (php_fpm, proxy), www.conf, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mpmsim.errors import InputError
from mpmsim.models.php.ini import read_fpm_pool
from mpmsim.models.php.pool import make_pool
from mpmsim.models.php.units import parse_duration_s, parse_size_mib
from mpmsim.spec.php import FpmBackend
from tests.helpers import Cli, prepared, scenario_dict

PHP_CLASS = [{"name": "php", "cpu_ms": 1.0, "backend": "www"}]


def _pool(**keys: object) -> dict[str, object]:
    return {"www": {"kind": "php_fpm", "pm.max_children": 5, **keys}}


def test_units_as_php_and_fpm_write_them() -> None:
    assert parse_size_mib("128M", field="x") == 128.0
    assert parse_size_mib("1G", field="x") == 1024.0
    assert parse_size_mib("512k", field="x") == 0.5
    assert parse_size_mib(134217728, field="x", bare="bytes") == 128.0
    assert parse_size_mib("-1", field="x") is None
    assert parse_duration_s("10s", field="x") == 10.0
    assert parse_duration_s("2m", field="x") == 120.0
    assert parse_duration_s(5, field="x") == 5.0
    for bad in ("12Q", "0", "-5M", True):
        with pytest.raises(ValueError, match="x"):
            parse_size_mib(bad, field="x")
    with pytest.raises(ValueError, match="s, m, h or d"):
        parse_duration_s("20ms", field="x")


def test_fpm_defaults_and_its_notice() -> None:
    pool, notes = make_pool(
        {"pm": "dynamic", "pm.max_children": "10", "pm.min_spare_servers": 2,
         "pm.max_spare_servers": "7"}
    )  # fmt: skip
    assert (pool.start_servers, pool.max_spawn_rate, pool.max_requests) == (4, 32, 0)
    assert pool.listen_backlog == -1 and pool.backlog(4096) == 4096
    assert pool.memory_limit_mib == 128.0 and pool.process_idle_timeout_s == 10.0
    assert notes == ["php-fpm: pm.start_servers is not set. It's been set to 4."]
    static, _ = make_pool({"pm": "static", "pm.max_children": 3, "listen.backlog": 9000})
    assert static.start_servers == 3 and static.backlog(4096) == 4096
    assert "pm.max_requests = 0" in static.ini_block()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"pm": "dynamic", "pm.max_children": 5, "pm.min_spare_servers": 2,
          "pm.max_spare_servers": 6}, "cannot be greater than pm.max_children(5)"),
        ({"pm": "dynamic", "pm.max_children": 9, "pm.min_spare_servers": 4,
          "pm.max_spare_servers": 3}, "pm.max_spare_servers(3) must not be less than"),
        ({"pm": "dynamic", "pm.max_children": 9, "pm.min_spare_servers": 2,
          "pm.max_spare_servers": 4, "pm.start_servers": 6},
         "pm.start_servers(6) must not be less than pm.min_spare_servers(2) and not greater"),
        ({"pm": "dynamic", "pm.max_children": 9}, "pm.min_spare_servers(0) must be a positive"),
        ({"pm": "static"}, "pm.max_children must be a positive value"),
        ({"pm": "ondemand", "pm.max_children": 2, "pm.process_idle_timeout": "0s"},
         "must be greater than 0s"),
        ({"pm": "sometimes", "pm.max_children": 2}, "static, dynamic or ondemand"),
        ({"pm": "static", "pm.max_children": "many"}, "whole number"),
    ],
)  # fmt: skip
def test_pools_fpm_refuses(keys: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_pool(keys, source="f.yaml", prefix="backends.www.")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_reading_a_pool_from_fpm_files_with_include(tmp_path: Path) -> None:
    main = _write(
        tmp_path / "php-fpm.conf",
        "[global]\npid = /run/x.pid ; a comment\ninclude=pool.d/*.conf\n",
    )
    _write(
        tmp_path / "pool.d" / "www.conf",
        "; Debian's pool\n[www]\nuser = www-data\npm = dynamic\npm.max_children = 12\n"
        "pm.start_servers = 3\npm.min_spare_servers = 2\npm.max_spare_servers = 4\n"
        ";pm.max_requests = 500\npm.process_idle_timeout = 10s;\n"
        'php_admin_value[memory_limit] = 256M\nlisten.backlog = "100"\n',
    )
    name, values, files = read_fpm_pool(main)
    assert name == "www" and len(files) == 2
    assert values == {
        "pm": "dynamic", "pm.max_children": "12", "pm.start_servers": "3",
        "pm.min_spare_servers": "2", "pm.max_spare_servers": "4",
        "pm.process_idle_timeout": "10s", "memory_limit": 256.0, "listen.backlog": "100",
    }  # fmt: skip
    _write(tmp_path / "pool.d" / "api.conf", "[api]\npm = static\npm.max_children = 2\n")
    with pytest.raises(InputError, match="several pools"):
        read_fpm_pool(main)
    assert read_fpm_pool(main, "api")[1]["pm.max_children"] == "2"
    with pytest.raises(InputError, match=r"no pool \[nope\]"):
        read_fpm_pool(main, "nope")


def test_bad_fpm_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_fpm_pool(tmp_path / "missing.conf")
    bad = _write(tmp_path / "bad.conf", "[www]\npm dynamic\n")
    with pytest.raises(InputError, match=r"bad.conf:2.*key = value"):
        read_fpm_pool(bad)
    empty = _write(tmp_path / "empty.conf", "[global]\npid = x\n")
    with pytest.raises(InputError, match="no pool section"):
        read_fpm_pool(empty)
    loop = _write(tmp_path / "loop.conf", f"include = {tmp_path}/loop.conf\n")
    with pytest.raises(InputError, match="loop"):
        read_fpm_pool(loop)
    limit = _write(tmp_path / "limit.conf", "[www]\nphp_value[memory_limit] = lots\n")
    with pytest.raises(InputError, match="memory_limit"):
        read_fpm_pool(limit)


def test_a_scenario_pool_from_a_config_file_its_keys_winning(tmp_path: Path) -> None:
    conf = _write(
        tmp_path / "www.conf",
        "[www]\npm = dynamic\npm.max_children = 12\npm.min_spare_servers = 2\n"
        "pm.max_spare_servers = 4\n",
    )
    pool = {"www": {"kind": "php_fpm", "config_file": str(conf), "pm.max_children": 20}}
    prep = prepared(server={"mpm": "event"}, backends=pool, mix=PHP_CLASS)
    backend = prep.php.backend("www")
    assert isinstance(backend, FpmBackend)
    assert (backend.pool.max_children, backend.pool.max_spare_servers) == (20, 4)
    assert "pm.start_servers is not set" in " ".join(prep.warnings)
    assert backend.child_base_mib == prep.costs.fpm_child_mib  # from the cost model


def test_modphp_from_an_apache_config_file_is_refused_under_event(tmp_path: Path) -> None:
    conf = _write(
        tmp_path / "apache2.conf",
        "LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so\n"
        "LoadModule php_module /usr/lib/apache2/modules/libphp8.2.so\n",
    )
    with pytest.raises(InputError, match="threaded MPM") as info:
        prepared(server={"config_file": str(conf)})
    assert info.value.field == "server.modules"
    prefork = prepared(server={"config_file": str(conf), "mpm": "prefork"})
    assert prefork.php.modules == ("php",) and prefork.php.mod_php is not None
    base = prepared(server={"mpm": "prefork"}).costs
    assert prefork.costs.process_mib == base.process_mib + base.modphp_child_mib
    assert prefork.costs.shared_mib == base.shared_mib + base.modphp_shared_mib


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"mix": [{"name": "php", "cpu_ms": 1, "backend": "nope"}]}, "mix[0].backend",
         "no backend 'nope' (allowed: www, mod_php, php)"),
        ({"mix": [{"name": "php", "cpu_ms": 1, "backend": "mod_php"}]}, "mix[0].backend",
         "mod_php is not loaded"),
        ({"backends": {"mod_php": {"kind": "proxy", "concurrency": 1}}}, "backends.mod_php",
         "reserved"),
        ({"server": {"mpm": "event"}, "backends": {},
          "mix": [{"name": "php", "cpu_ms": 1, "backend": "php"}]}, "mix[0].backend",
         "give exactly one"),
        ({"backends": _pool(**{"pm.max_childs": 3})}, "backends.www.pm.max_childs",
         "did you mean 'pm.max_children'"),
        ({"backends": {"www": {"kind": "fastcgi"}}}, "backends.www", "php_fpm"),
        ({"server": {"mpm": "prefork", "php": {"memory_limit": "x"}}},
         "server.php.memory_limit", "expected a size"),
        ({"server": {"mpm": "prefork", "modules": ["perl"]}}, "server.modules", "php"),
        ({"backends": {"www": {"kind": "proxy", "concurrency": 0}}},
         "backends.www.concurrency", "greater than or equal to 1"),
    ],
)  # fmt: skip
def test_bad_php_input_is_one_line_naming_the_field(
    mpmsim: Cli, tmp_path: Path, change: dict[str, object], field: str, message: str
) -> None:
    data = scenario_dict(backends=_pool(), mix=PHP_CLASS)
    data.update(change)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    out = mpmsim("run", str(path))
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert f"{path}: {field}" in out.stderr
    assert message in out.stderr


def test_backend_php_runs_as_the_mpm_can() -> None:
    """``backend: php``: mod_php (loaded for it) under prefork, the pool under event."""
    mix = [{"name": "php", "cpu_ms": 1.0, "backend": "php"}]
    prefork = prepared(server={"mpm": "prefork"}, backends=_pool(pm="static"), mix=mix)
    assert prefork.php.modules == ("php",) and prefork.php.class_backends == ("mod_php",)
    assert prefork.php.backends == ()  # the pool no class uses is not simulated
    event = prepared(server={"mpm": "event"}, backends=_pool(pm="static"), mix=mix)
    assert event.php.mod_php is None and event.php.class_backends == ("www",)


def test_set_reaches_a_pool_key_by_its_dotted_name(mpmsim: Cli, tmp_path: Path) -> None:
    data = scenario_dict(server={"mpm": "event"}, backends=_pool(pm="static"), mix=PHP_CLASS)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    out = mpmsim("run", str(path), "--json", "--set", "backends.www.pm.max_children=7")
    assert out.returncode == 0, out.stderr
    assert '"pm.max_children": 7' in out.stdout
    bad = mpmsim("run", str(path), "--set", "backends.www.pm.max_children=0")
    assert bad.returncode == 2 and "backends.www.pm.max_children" in bad.stderr

"""Config trees: Include/IncludeOptional, Define and ${VAR}, <IfModule> against LoadModule lines.

The fixture ``fixtures/apache/debian`` is Debian 12's /etc/apache2 as installed; the last tests
read the real /etc/apache2 and compare with what ``apache2ctl -M`` and ``-V`` say.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mpmsim.errors import InputError
from mpmsim.models.apache.config_file import read_apache_config, read_apache_tree
from mpmsim.models.apache.envvars import parse_envvars, read_envvars
from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.resolve import prepare
from tests.helpers import scenario_dict

DEBIAN = Path(__file__).resolve().parent / "fixtures" / "apache" / "debian"
#: mods-available/mpm_event.conf as Debian ships it.
EVENT_CONF = {
    "StartServers": "2",
    "MinSpareThreads": "25",
    "MaxSpareThreads": "75",
    "ThreadLimit": "64",
    "ThreadsPerChild": "25",
    "MaxRequestWorkers": "150",
    "MaxConnectionsPerChild": "0",
}
#: apache2.conf's own directives that mpmsim models.
MAIN_CONF = {"Timeout": "300", "KeepAlive": "On", "MaxKeepAliveRequests": "100"}


@pytest.fixture
def debian(tmp_path: Path) -> Path:
    """A writable copy of the Debian tree; returns its apache2.conf."""
    root = tmp_path / "apache2"
    shutil.copytree(DEBIAN, root)
    return root / "apache2.conf"


def test_debian_tree_reads_the_enabled_mpm_conf() -> None:
    """apache2.conf alone names no MPM; its mods-enabled/*.load and *.conf supply it."""
    config = read_apache_tree(DEBIAN / "apache2.conf")
    assert config.mpm == "event"
    assert config.directives == {**MAIN_CONF, "KeepAliveTimeout": "5", **EVENT_CONF}
    assert config.listen == ("80",)  # ports.conf; its Listen 443 needs ssl_module, not loaded
    assert "mpm_event_module" in config.modules and "status_module" in config.modules
    names = [str(Path(f).relative_to(DEBIAN)) for f in config.files]
    # Apache's order: the top file, *.load sorted, *.conf sorted, ports.conf, conf-, sites-enabled.
    loads = sorted(p.name for p in (DEBIAN / "mods-enabled").glob("*.load"))
    assert names[: 1 + len(loads)] == ["apache2.conf", *(f"mods-enabled/{n}" for n in loads)]
    assert names.index("ports.conf") < names.index("conf-enabled/charset.conf")
    assert names[-1] == "sites-enabled/000-default.conf"


def test_scenario_config_file_follows_includes() -> None:
    """server.config_file = apache2.conf: Debian's MaxRequestWorkers 150, not the default 400."""
    data = scenario_dict(server={"config_file": str(DEBIAN / "apache2.conf")})
    prep = prepare(load_scenario_data(data))
    assert prep.mpm == "event"
    assert (prep.directives.MaxRequestWorkers, prep.directives.StartServers) == (150, 2)


def test_switching_the_mpm_like_a2enmod(debian: Path) -> None:
    """With mpm_prefork enabled instead, its block applies and the event one does not."""
    enabled, available = debian.parent / "mods-enabled", debian.parent / "mods-available"
    for suffix in (".load", ".conf"):
        (enabled / f"mpm_event{suffix}").unlink()
        shutil.copy(available / f"mpm_prefork{suffix}", enabled)
    config = read_apache_tree(debian)
    assert config.mpm == "prefork"
    assert config.directives["MaxRequestWorkers"] == "150"
    assert config.directives["MinSpareServers"] == "5"
    assert "ThreadsPerChild" not in config.directives


def test_later_include_overrides_and_ifmodule_tests_loaded_modules(debian: Path) -> None:
    """A conf-enabled file read after mods-enabled wins; <IfModule> holds only for loaded ones."""
    (debian.parent / "conf-enabled" / "tuning.conf").write_text(
        "<IfModule mod_status.c>\n  MaxRequestWorkers 200\n</IfModule>\n"
        "<IfModule ssl_module>\n  MaxRequestWorkers 999\n</IfModule>\n"
        "<IfModule log_config_module>\n  KeepAliveTimeout 3\n</IfModule>\n"  # compiled in
        "<IfModule !mod_deflate.c>\n  Timeout 1\n</IfModule>\n"
    )
    config = read_apache_tree(debian)
    assert config.directives["MaxRequestWorkers"] == "200"
    assert config.directives["KeepAliveTimeout"] == "3"
    assert config.directives["Timeout"] == "300"


def test_ifmodule_names_of_a_shared_module(tmp_path: Path) -> None:
    """A module answers to its identifier, mod_NAME.c and its .so file's name, once loaded."""
    conf = tmp_path / "httpd.conf"
    conf.write_text(
        "<IfModule mod_php.c>\n  MaxRequestWorkers 1\n</IfModule>\n"  # not loaded yet
        "LoadModule php_module /usr/lib/apache2/modules/libphp8.2.so\n"
        "<IfModule php_module>\n  ServerLimit 3\n</IfModule>\n"
        "<IfModule mod_php.c>\n  StartServers 4\n</IfModule>\n"
        "<IfModule libphp8.2.c>\n  ListenBacklog 5\n</IfModule>\n"
        "<IfModule !mod_ssl.c>\n  Timeout 6\n</IfModule>\n"
    )
    assert read_apache_config(conf, "prefork")[1] == {
        "ServerLimit": "3",
        "StartServers": "4",
        "ListenBacklog": "5",
        "Timeout": "6",
    }


def test_define_and_variables(debian: Path) -> None:
    """Define NAME sets <IfDefine NAME>; Define NAME VALUE and envvars supply ${NAME}."""
    envvars = debian.parent / "envvars"
    envvars.write_text(envvars.read_text() + "export TUNING_DIR=tuning\n")
    (debian.parent / "tuning").mkdir()
    (debian.parent / "tuning" / "limits.conf").write_text(
        "Define BIG\nDefine WORKERS 300\n<IfDefine BIG>\n  MaxRequestWorkers ${WORKERS}\n"
        "</IfDefine>\n<IfDefine !BIG>\n  MaxRequestWorkers 5\n</IfDefine>\n"
    )
    with debian.open("a") as conf:
        conf.write("Include ${TUNING_DIR}/*.conf\n")
    assert read_apache_tree(debian).directives["MaxRequestWorkers"] == "300"
    # Debian's serve-cgi-bin.conf Defines ENABLE_USR_LIB_CGI_BIN only with mod_cgi(d) loaded.
    with debian.open("a") as conf:
        conf.write("<IfDefine ENABLE_USR_LIB_CGI_BIN>\n  KeepAliveTimeout 9\n</IfDefine>\n")
    assert read_apache_tree(debian).directives["KeepAliveTimeout"] == "5"


def test_debian_envvars() -> None:
    """The SUFFIX set inside `if` is unset for /etc/apache2, so it expands to nothing."""
    env = read_envvars(DEBIAN / "envvars")
    assert env["APACHE_LOG_DIR"] == "/var/log/apache2"
    assert env["APACHE_PID_FILE"] == "/var/run/apache2/apache2.pid"
    assert env["APACHE_RUN_USER"] == "www-data"
    assert "SUFFIX" not in env and "HOME" not in env


def test_envvars_quoting_and_commands() -> None:
    """Quotes as in the shell; values only a shell could compute are left out."""
    text = "A=one\nexport B=\"$A two\"\nC='$A'\nD=$(hostname)\nE=${A%%e}\nF=x cmd\n"
    assert parse_envvars(text) == {"A": "one", "B": "one two", "C": "$A"}


def test_include_of_a_missing_file_names_the_including_line(tmp_path: Path) -> None:
    """Include of a missing file is an error at its line; IncludeOptional is silently fine."""
    conf = tmp_path / "httpd.conf"
    conf.write_text(
        "IncludeOptional nothing.conf\nIncludeOptional none/*.conf\nInclude gone.conf\n"
    )
    with pytest.raises(InputError) as info:
        read_apache_tree(conf)
    assert (info.value.file, info.value.field) == (str(conf), "line 3")
    assert "gone.conf" in str(info.value)
    conf.write_text("IncludeOptional nothing.conf\nInclude ${UNSET}/x.conf\n")
    with pytest.raises(InputError, match=r"\$\{UNSET\}") as info:
        read_apache_tree(conf)
    assert info.value.field == "line 2"


def test_wildcard_without_matches(tmp_path: Path) -> None:
    """Include with a wildcard that matches nothing fails, as Apache's does."""
    (tmp_path / "conf.d").mkdir()
    conf = tmp_path / "httpd.conf"
    conf.write_text("Include conf.d/*.conf\n")
    with pytest.raises(InputError, match="no matches"):
        read_apache_tree(conf)


def test_directories_wildcards_and_dotfiles(tmp_path: Path) -> None:
    """A directory means all its files, subfolders too, alphabetically; `*` skips dotfiles."""
    (tmp_path / "d" / "b").mkdir(parents=True)
    (tmp_path / "d" / "a.conf").write_text("MaxRequestWorkers 10\n")
    (tmp_path / "d" / "b" / "c.conf").write_text("MaxRequestWorkers 20\nKeepAliveTimeout 4\n")
    (tmp_path / "d" / "z.txt").write_text("MaxRequestWorkers 30\n")
    for site, limit in (("a", 4), ("b", 12)):
        (tmp_path / "sites" / site).mkdir(parents=True)
        (tmp_path / "sites" / site / "mpm.conf").write_text(f"ServerLimit {limit}\n")
    (tmp_path / "sites" / "b" / ".hidden.conf").write_text("ServerLimit 1\n")
    conf = tmp_path / "httpd.conf"
    conf.write_text("Include d\nInclude sites/*/mpm.conf\nInclude sites/b/*.conf\n")
    config = read_apache_tree(conf)
    assert [Path(f).relative_to(tmp_path).as_posix() for f in config.files[1:4]] == [
        "d/a.conf",
        "d/b/c.conf",
        "d/z.txt",
    ]
    assert config.directives["MaxRequestWorkers"] == "30"
    assert config.directives["KeepAliveTimeout"] == "4"
    names = [Path(f).relative_to(tmp_path).as_posix() for f in config.files[4:]]
    assert names == ["sites/a/mpm.conf", "sites/b/mpm.conf", "sites/b/mpm.conf"]  # no dotfile
    assert config.directives["ServerLimit"] == "12"


def test_include_cycle(tmp_path: Path) -> None:
    """A file that includes itself through another is reported at the closing Include."""
    (tmp_path / "a.conf").write_text("Include b.conf\n")
    (tmp_path / "b.conf").write_text("KeepAlive On\nInclude a.conf\n")
    with pytest.raises(InputError, match="cycle") as info:
        read_apache_tree(tmp_path / "a.conf")
    assert (info.value.file, info.value.field) == (str(tmp_path / "b.conf"), "line 2")


def test_includes_in_other_scopes_are_not_followed(tmp_path: Path) -> None:
    """An Include in a <VirtualHost> or a false <IfModule> is not read (nor checked)."""
    (tmp_path / "limits.conf").write_text("MaxRequestWorkers 7\n")
    conf = tmp_path / "httpd.conf"
    conf.write_text(
        "LoadModule mpm_event_module mod_mpm_event.so\n"
        "<VirtualHost *:80>\n  Include missing.conf\n  Include limits.conf\n</VirtualHost>\n"
        "<IfModule mpm_prefork_module>\n  Include limits.conf\n</IfModule>\n"
    )
    assert read_apache_config(conf, None) == ("event", {})


def test_serverroot_directive_moves_relative_includes(tmp_path: Path) -> None:
    """Relative Include paths follow the ServerRoot in force where the Include stands."""
    (tmp_path / "root" / "conf").mkdir(parents=True)
    (tmp_path / "root" / "conf" / "mpm.conf").write_text("ThreadsPerChild 30\n")
    conf = tmp_path / "httpd.conf"
    conf.write_text(f'ServerRoot "{tmp_path / "root"}"\nInclude conf/mpm.conf\n')
    assert read_apache_config(conf, "worker")[1] == {"ThreadsPerChild": "30"}


def test_errors_in_an_included_file_name_that_file(tmp_path: Path) -> None:
    """A bad line in an included file names the included file and its line."""
    (tmp_path / "bad.conf").write_text("# a comment\nMaxRequestWorkers 400 # no such comment\n")
    conf = tmp_path / "httpd.conf"
    conf.write_text("Include bad.conf\n")
    with pytest.raises(InputError) as info:
        read_apache_tree(conf)
    assert (info.value.file, info.value.field) == (str(tmp_path / "bad.conf"), "line 2")


# ---------------------------------------------------------------------------------------------
# The real Apache's /etc/apache2 (Debian layout, untouched).

ETC = Path("/etc/apache2/apache2.conf")


def _apache2ctl(flag: str) -> str:
    result = subprocess.run(
        ["apache2ctl", flag], capture_output=True, text=True, timeout=30, check=True
    )
    return result.stdout


@pytest.mark.requires_apache()
def test_real_debian_config_matches_apache2ctl() -> None:
    """The tree's MPM and modules are what apache2ctl -V and -M report; the MPM's directives
    are those of /etc/apache2/mods-enabled/mpm_*.conf."""
    config = read_apache_tree(ETC)
    version = _apache2ctl("-V")
    server_mpm = next(ln for ln in version.splitlines() if ln.startswith("Server MPM:"))
    assert config.mpm == server_mpm.split(":", 1)[1].strip()
    shared = [
        ln.split()[0] for ln in _apache2ctl("-M").splitlines() if ln.strip().endswith("(shared)")
    ]
    assert sorted(config.modules) == sorted(shared)
    mpm_conf = ETC.parent / "mods-enabled" / f"mpm_{config.mpm}.conf"
    _, alone = read_apache_config(mpm_conf, config.mpm)
    assert alone
    assert {k: config.directives[k] for k in alone} == alone

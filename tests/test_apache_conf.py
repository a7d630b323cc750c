"""Reading Apache config files: sections, comments, continuations, the MPM, and real configs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mpmsim.errors import InputError
from mpmsim.models.apache.config_file import read_apache_config, read_apache_tree
from mpmsim.models.apache.directives import apply_apache_rules, normalize_directives

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "apache"
REPO = Path(__file__).resolve().parent.parent
# The real measurements: shipped in the repo's data/ or in the shared reference tree.
BENCH_DIRS = [REPO / "data" / "apache-bench", Path("/work/shared/data/apache-bench")]
BENCH = next((d for d in BENCH_DIRS if (d / "runs.csv").is_file()), None)


def test_debian_mpm_event_conf_without_loadmodule() -> None:
    """Debian's mods-available/mpm_event.conf alone: no LoadModule, its IfModule block is read."""
    mpm, values = read_apache_config(FIXTURES / "mpm_event.conf", None)
    assert mpm is None
    assert values == {
        "StartServers": "2",
        "MinSpareThreads": "25",
        "MaxSpareThreads": "75",
        "ThreadLimit": "64",
        "ThreadsPerChild": "25",
        "MaxRequestWorkers": "150",
        "MaxConnectionsPerChild": "0",
    }


def test_mpm_event_conf_for_another_mpm_reads_nothing() -> None:
    """With the MPM chosen, a block for another MPM does not apply."""
    assert read_apache_config(FIXTURES / "mpm_event.conf", "prefork") == (None, {})


def test_multi_mpm_httpd_conf_detected_prefork() -> None:
    """LoadModule picks prefork; comments, continuations, quotes, nested and scoped sections."""
    mpm, values = read_apache_config(FIXTURES / "httpd_multi_mpm.conf", None)
    assert mpm == "prefork"
    assert values == {
        "Timeout": "300",
        # Both commented "KeepAlive Off" lines (one joined by a backslash) are skipped.
        "KeepAlive": "On",
        "MaxKeepAliveRequests": "500",  # continued over two lines
        "KeepAliveTimeout": "2",  # quoted; the <VirtualHost> value is another scope
        "ListenBacklog": "2048",  # mod_ssl counts as loaded and no -D define is set
        "StartServers": "8",
        "MinSpareServers": "5",
        "MaxSpareServers": "20",
        "ServerLimit": "256",
        "MaxRequestWorkers": "200",  # written as MaxClients
        "MaxConnectionsPerChild": "4000",  # written as MaxRequestsPerChild
    }


def test_chosen_mpm_overrides_loadmodule_for_sections() -> None:
    """The caller's MPM decides <IfModule> sections; later directives win, as in Apache."""
    mpm, values = read_apache_config(FIXTURES / "httpd_multi_mpm.conf", "worker")
    assert mpm == "prefork"  # still reports what the file loads
    assert values["StartServers"] == "4"
    assert values["ThreadsPerChild"] == "25"
    assert values["MaxRequestWorkers"] == "999"  # the later <IfModule !mpm_prefork_module> block
    assert "MinSpareServers" not in values


def test_ifdefine_chooses_the_loaded_mpm() -> None:
    """Without -D defines only <IfDefine !X> holds, so event is loaded and `event.c` matches."""
    mpm, values = read_apache_config(FIXTURES / "ifdefine_mpm.conf", None)
    assert mpm == "event"
    assert values == {
        "ThreadsPerChild": "50",
        "MaxRequestWorkers": "500",
        "AsyncRequestWorkerFactor": "1.5",
        "Timeout": "500ms",
    }
    typed, _ = normalize_directives(values, source="ifdefine_mpm.conf")
    assert typed["Timeout"] == 0.5


def test_values_feed_normalize_and_rules() -> None:
    """A file's values go through normalize_directives and apply_apache_rules unchanged."""
    mpm, raw = read_apache_config(FIXTURES / "httpd_multi_mpm.conf", None)
    assert mpm is not None
    values, notes = normalize_directives(raw, source="httpd_multi_mpm.conf")
    assert notes == []  # old names come back under their new names
    eff, warnings = apply_apache_rules(mpm, values)
    assert (eff.MaxRequestWorkers, eff.MaxConnectionsPerChild, eff.KeepAliveTimeout) == (
        200,
        4000,
        2.0,
    )
    assert warnings == []


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    """A missing file names the file."""
    missing = tmp_path / "nope.conf"
    with pytest.raises(InputError) as info:
        read_apache_config(missing, None)
    assert info.value.file == str(missing)
    assert "cannot read" in str(info.value)


def test_directory_is_an_input_error(tmp_path: Path) -> None:
    """A directory instead of a file is reported, not a traceback."""
    with pytest.raises(InputError):
        read_apache_config(tmp_path, None)


def test_unclosed_section() -> None:
    """Apache refuses a section left open at end of file ("Expected </IfModule>")."""
    with pytest.raises(InputError, match="not closed"):
        read_apache_config(FIXTURES / "unclosed.conf", None)


def test_stray_closing_tag(tmp_path: Path) -> None:
    """A closing tag that does not match the open section names its line."""
    conf = tmp_path / "stray.conf"
    conf.write_text("<IfModule mpm_event_module>\nStartServers 2\n</Directory>\n")
    with pytest.raises(InputError) as info:
        read_apache_config(conf, "event")
    assert info.value.field == "line 3"


def test_two_mpms_loaded() -> None:
    """Apache runs exactly one MPM; a file loading two is an error."""
    with pytest.raises(InputError, match="more than one MPM"):
        read_apache_config(FIXTURES / "two_mpms.conf", None)


def test_extra_argument_is_an_error() -> None:
    """Apache has no end-of-line comments: `MaxRequestWorkers 400 # x` takes one argument only."""
    with pytest.raises(InputError, match="takes one argument") as info:
        read_apache_config(FIXTURES / "two_args.conf", None)
    assert info.value.field == "line 2"


def test_case_insensitive_names_and_tabs(tmp_path: Path) -> None:
    """Directive and section names match in any case; tabs separate arguments."""
    conf = tmp_path / "case.conf"
    conf.write_text(
        "loadmodule MPM_WORKER_MODULE x.so\n<ifmodule MPM_WORKER_MODULE>\n"
        "threadsperchild\t40\n</IFMODULE>\n"
    )
    assert read_apache_config(conf, None) == ("worker", {"ThreadsPerChild": "40"})


def _bench_rows() -> list[dict[str, str]]:
    """Rows of the real measurements' runs.csv (empty when the data is not available)."""
    if BENCH is None:
        return []
    with (BENCH / "runs.csv").open(newline="") as fh:
        return [row for row in csv.DictReader(fh) if row["run_id"]]


@pytest.mark.skipif(BENCH is None, reason="real Apache measurements not available")
def test_real_configs_reproduce_measured_effective_directives() -> None:
    """Each real run's httpd.conf, through our rules, gives the MaxRequestWorkers Apache applied.

    runs.csv records ``mrw_effective`` (what Apache 2.4.71 ran with), ThreadsPerChild and
    ServerLimit for every run of data/apache-bench.
    """
    assert BENCH is not None
    rows = _bench_rows()
    assert rows
    for row in rows:
        conf = BENCH / "raw" / row["scenario"] / f"{row['run_id']}.httpd.conf"
        mpm, raw = read_apache_config(conf, None)
        assert mpm == row["mpm"], conf
        values, notes = normalize_directives(raw, source=str(conf))
        assert notes == []
        eff, warnings = apply_apache_rules(mpm, values, vcpus=2)
        assert eff.MaxRequestWorkers == int(row["mrw_effective"]), conf
        assert eff.ThreadsPerChild == int(row["threads_per_child"]), conf
        assert eff.ServerLimit == int(row["server_limit"]), conf
        # The harness wrote multiples of ThreadsPerChild, so Apache adjusted nothing.
        assert int(raw.get("MaxRequestWorkers", eff.MaxRequestWorkers)) == eff.MaxRequestWorkers
        assert warnings == [], (conf, warnings)


def test_a_misspelled_mpm_directive_is_apache_s_invalid_command(tmp_path: Path) -> None:
    """httpd refuses to start on an unknown directive; one close to a modelled one is named
    (a directive mpmsim does not model, e.g. DocumentRoot, is read past)."""
    conf = tmp_path / "mpm.conf"
    conf.write_text(
        "DocumentRoot /var/www\n<IfModule mpm_event_module>\n    MaxRequestWrkers 20\n</IfModule>\n"
    )
    with pytest.raises(InputError) as info:
        read_apache_config(conf, "event")
    assert str(info.value) == (
        f"{conf}: line 3: Invalid command 'MaxRequestWrkers' (Apache would not start): did you "
        "mean 'MaxRequestWorkers'?"
    )


def test_a_bad_value_in_the_config_file_names_that_file(tmp_path: Path) -> None:
    from mpmsim.spec.reading import load_scenario_data
    from mpmsim.spec.resolve import prepare
    from tests.helpers import scenario_dict

    conf = tmp_path / "mpm.conf"
    conf.write_text("<IfModule mpm_event_module>\n    ThreadsPerChild -5\n</IfModule>\n")
    data = scenario_dict(server={"mpm": "event", "config_file": str(conf)})
    with pytest.raises(InputError) as info:
        prepare(load_scenario_data(data, source="s.yaml"))
    assert str(info.value) == f"{conf}: ThreadsPerChild: must be >= 0, got -5"


def test_old_names_in_the_config_file_give_apache_s_notes(tmp_path: Path) -> None:
    """MaxClients read from a file is Apache's MaxRequestWorkers with its note (AH00188 ...),
    as it is written in server.directives: the run's warnings say so."""
    from mpmsim.spec.reading import load_scenario_data
    from mpmsim.spec.resolve import prepare
    from tests.helpers import scenario_dict

    conf = tmp_path / "mpm.conf"
    conf.write_text(
        "<IfModule mpm_worker_module>\n    MaxClients 300\n    MaxRequestsPerChild 1000\n"
        "</IfModule>\n"
    )
    config = read_apache_tree(conf, "worker")
    assert config.directives == {"MaxRequestWorkers": "300", "MaxConnectionsPerChild": "1000"}
    assert [n.split()[0] for n in config.renamed] == ["MaxClients", "MaxRequestsPerChild"]
    data = scenario_dict(server={"mpm": "worker", "config_file": str(conf)})
    prep = prepare(load_scenario_data(data, source="s.yaml"))
    assert prep.directives.MaxRequestWorkers == 300
    assert [w for w in prep.warnings if "deprecated" in w] == list(config.renamed)

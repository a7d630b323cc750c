"""Apache's directive parsing: names in any case, old names, values with units, bad input.

Source locations are those of ``reference/apache-mpm-facts.md`` (apache/httpd 2.4.x, f45abec).
"""

from __future__ import annotations

import pytest

from mpmsim.errors import InputError
from mpmsim.models.apache.directives import (
    canonical_name,
    normalize_directives,
)

# --- normalize_directives ---------------------------------------------------------------------


def norm(**raw: object) -> tuple[dict[str, int | float | bool], list[str]]:
    """normalize_directives on keyword directives, from a file named s.yaml."""
    return normalize_directives(raw, source="s.yaml")


def test_names_match_any_case_and_come_back_canonical() -> None:
    """Apache matches directive names case-insensitively (config.c ap_find_command)."""
    values, notes = normalize_directives(
        {"maxrequestworkers": "150", "KEEPALIVE": "off"}, source="s.yaml"
    )
    assert values == {"MaxRequestWorkers": 150, "KeepAlive": False}
    assert notes == []
    assert canonical_name("threadsPERchild") == "ThreadsPerChild"
    assert canonical_name("Listen") is None


def test_old_names_with_deprecation_notes() -> None:
    """MaxClients (prefork AH00188, worker AH00324, event AH00521) and MaxRequestsPerChild
    (mpm_common.c l.322-338 AH00545) are accepted under their new names (facts §4 rule 11)."""
    values, notes = norm(MaxClients=150, maxrequestsperchild="1000")
    assert values == {"MaxRequestWorkers": 150, "MaxConnectionsPerChild": 1000}
    assert notes == [
        "MaxClients is deprecated, use MaxRequestWorkers instead "
        "(AH00188 prefork, AH00324 worker, AH00521 event)",
        "MaxRequestsPerChild is deprecated, use MaxConnectionsPerChild instead (AH00545)",
    ]


@pytest.mark.parametrize(
    ("raw", "expected"), [(True, True), (False, False), ("On", True), ("off", False), ("ON", True)]
)
def test_keepalive_values(raw: object, expected: bool) -> None:
    """KeepAlive is a FLAG directive (On/Off); YAML's true/false are accepted too."""
    assert norm(KeepAlive=raw)[0] == {"KeepAlive": expected}


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [(5, 5.0), ("5", 5.0), ("500ms", 0.5), ("500 MS", 0.5), ("5s", 5.0), ("2mi", 120.0),
     ("1h", 3600.0), (0.25, 0.25), (0, 0.0)],
)  # fmt: skip
def test_timeouts_in_seconds(raw: object, seconds: float) -> None:
    """KeepAliveTimeout/Timeout take seconds or Apache's unit suffixes (util.c
    ap_timeout_parameter_parse; config.c l.2235) and are stored as seconds."""
    assert norm(KeepAliveTimeout=raw, Timeout=raw)[0] == {
        "KeepAliveTimeout": seconds,
        "Timeout": seconds,
    }


@pytest.mark.parametrize(("raw", "value"), [(150, 150), ("150", 150), (" 150 ", 150), (150.0, 150)])
def test_whole_numbers(raw: object, value: int) -> None:
    """Counts are YAML ints or strings as in httpd.conf."""
    assert norm(MaxRequestWorkers=raw)[0] == {"MaxRequestWorkers": value}


def test_async_factor_parses_as_float() -> None:
    """AsyncRequestWorkerFactor is parsed like strtod (event.c set_worker_factor)."""
    assert norm(AsyncRequestWorkerFactor="1.5")[0] == {"AsyncRequestWorkerFactor": 1.5}
    assert norm(AsyncRequestWorkerFactor=2)[0] == {"AsyncRequestWorkerFactor": 2.0}


def test_unknown_directive_suggests_nearest() -> None:
    """An unknown name is an error naming the file, the field and the nearest known name."""
    with pytest.raises(InputError) as info:
        norm(MaxRequestWorker=150)
    err = info.value
    assert (err.file, err.field) == ("s.yaml", "server.directives.MaxRequestWorker")
    assert "unknown directive 'MaxRequestWorker'; did you mean 'MaxRequestWorkers'?" in str(err)
    assert "Known: AsyncRequestWorkerFactor, KeepAlive" in str(err)


def test_unknown_directive_without_close_match() -> None:
    """No suggestion when nothing is close."""
    with pytest.raises(InputError) as info:
        norm(DocumentRoot="/srv")
    assert "did you mean" not in str(info.value)


def test_field_prefix_is_used() -> None:
    """Errors name the field under the caller's prefix."""
    with pytest.raises(InputError) as info:
        normalize_directives({"StartServers": "x"}, source="f.conf", field_prefix="config")
    assert info.value.field == "config.StartServers"


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("StartServers", "abc", "expected a whole number >= 0, got 'abc'"),
        ("StartServers", "1.5", "expected a whole number >= 0, got '1.5'"),
        ("ServerLimit", 2.5, "expected a whole number >= 0, got 2.5"),
        ("StartServers", -1, "must be >= 0, got -1"),
        ("MaxRequestWorkers", "-150", "must be >= 0, got -150"),
        ("ThreadStackSize", -8192, "must be >= 0, got -8192"),
        ("ServerLimit", True, "expected a whole number >= 0, got True"),
        ("ListenBacklog", 0, "must be >= 1, got 0"),
        ("AsyncRequestWorkerFactor", 0, "must be a positive number, got 0"),
        ("AsyncRequestWorkerFactor", "-1", "must be a positive number, got '-1'"),
        ("AsyncRequestWorkerFactor", "two", "expected a positive number, got 'two'"),
        ("AsyncRequestWorkerFactor", False, "expected a positive number, got False"),
        ("KeepAlive", "yes", "expected On or Off, got 'yes'"),
        ("KeepAlive", 1, "expected On or Off, got 1"),
        ("KeepAliveTimeout", "5x", "expected seconds as a number >= 0"),
        ("Timeout", -5, "must be >= 0, got -5"),
        ("Timeout", "-5", "must be >= 0, got '-5'"),
        ("Timeout", True, "expected seconds as a number >= 0"),
    ],
)
def test_bad_values(name: str, raw: object, message: str) -> None:
    """Values that do not parse, negative counts, Apache's own config errors (ListenBacklog < 1:
    listen.c l.911; AsyncRequestWorkerFactor <= 0: event.c l.4105-4127; negative ThreadStackSize:
    mpm_common.c) and booleans for numbers are errors naming the field."""
    with pytest.raises(InputError) as info:
        norm(**{name: raw})
    assert message in str(info.value)
    assert info.value.field == f"server.directives.{name}"


@pytest.mark.parametrize(
    "raw",
    [
        {"MaxClients": 150, "MaxRequestWorkers": 150},
        {"MaxRequestsPerChild": 0, "MaxConnectionsPerChild": 0},
        {"KeepAlive": "On", "keepalive": "Off"},
    ],
)
def test_same_directive_twice_is_an_error(raw: dict[str, object]) -> None:
    """One directive under two spellings is ambiguous in a mapping."""
    with pytest.raises(InputError, match="given twice"):
        normalize_directives(raw, source="s.yaml")


def test_non_string_key() -> None:
    """A YAML key that is not a string is an unknown directive."""
    with pytest.raises(InputError, match="unknown directive '150'"):
        normalize_directives({150: 1}, source="s.yaml")  # type: ignore[dict-item]

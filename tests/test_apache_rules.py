"""Apache's directive arithmetic: defaults per MPM and every start-up adjustment, with properties.

Source locations are those of ``reference/apache-mpm-facts.md`` (apache/httpd 2.4.x, f45abec).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpmsim.errors import InputError
from mpmsim.models.apache.directives import (
    DIRECTIVES,
    EffectiveDirectives,
    apply_apache_rules,
    normalize_directives,
)
from mpmsim.models.apache.rules import NOT_FOR_MPM

THREADED = ["worker", "event"]
# AH codes of the start-up messages of worker_check_config / event_check_config (facts §4).
AH = {
    "worker": {
        "sl_max": "AH00300",
        "sl_min": "AH00302",
        "tl_max": "AH00305",
        "tl_min": "AH00307",
        "tpc_max": "AH00310",
        "tpc_min": "AH00312",
        "mrw_min": "AH00314",
        "multiple": "AH00316",
        "servers": "AH00318",
        "start": "AH00320",
        "min_spare": "AH00322",
    },
    "event": {
        "sl_max": "AH00497",
        "sl_min": "AH00499",
        "tl_max": "AH00502",
        "tl_min": "AH00504",
        "tpc_max": "AH00507",
        "tpc_min": "AH00509",
        "mrw_min": "AH00511",
        "multiple": "AH00513",
        "servers": "AH00515",
        "start": "AH00517",
        "min_spare": "AH00519",
    },
}


def apply(mpm: str, vcpus: int = 1, **values: Any) -> tuple[EffectiveDirectives, list[str]]:
    """apply_apache_rules on keyword directives."""
    return apply_apache_rules(mpm, values, vcpus=vcpus)


def only(warnings: list[str], code: str) -> str:
    """The single warning, checking that it carries ``code``."""
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"{code}: "), warnings
    return warnings[0]


# --- defaults (facts §3) ---------------------------------------------------------------------


def test_prefork_defaults() -> None:
    """prefork.c prefork_pre_config l.1339, prefork/mpm_default.h, prefork.c l.75 (facts §3)."""
    eff, warnings = apply("prefork")
    assert warnings == []
    assert eff.as_dict() == {
        "StartServers": 5,
        "MinSpareServers": 5,
        "MaxSpareServers": 10,
        "ThreadsPerChild": 1,
        "ThreadLimit": 1,
        "ServerLimit": 256,
        "MaxRequestWorkers": 256,
        "MaxConnectionsPerChild": 0,
        "KeepAlive": "On",
        "KeepAliveTimeout": 5,
        "MaxKeepAliveRequests": 100,
        "ListenBacklog": 511,
        "Timeout": 60,
        "ListenCoresBucketsRatio": 0,
    }
    assert (eff.process_limit, eff.buckets) == (256, 1)


@pytest.mark.parametrize("mpm", THREADED)
def test_threaded_defaults(mpm: str) -> None:
    """worker.c worker_pre_config l.2107-2113, event.c event_pre_config l.3680-3686 (facts §3)."""
    eff, warnings = apply(mpm)
    assert warnings == []
    expected: dict[str, int | float | str] = {
        "StartServers": 3,
        "MinSpareThreads": 75,
        "MaxSpareThreads": 250,
        "ThreadsPerChild": 25,
        "ThreadLimit": 64,
        "ServerLimit": 16,
        "MaxRequestWorkers": 400,
        "MaxConnectionsPerChild": 0,
        "KeepAlive": "On",
        "KeepAliveTimeout": 5,
        "MaxKeepAliveRequests": 100,
        "ListenBacklog": 511,
        "Timeout": 60,
        "ThreadStackSize": 0,
        "ListenCoresBucketsRatio": 0,
    }
    if mpm == "event":
        expected["AsyncRequestWorkerFactor"] = 2.0
    assert eff.as_dict() == expected
    assert (eff.process_limit, eff.buckets, eff.async_factor_effective) == (16, 1, 2)


@pytest.mark.parametrize("mpm", THREADED)
def test_default_max_request_workers_ignores_user_threads_per_child(mpm: str) -> None:
    """pre_config sets max_workers = 16 x 25 before the config is read (worker l.2113, event
    l.3686), so ThreadsPerChild 64 alone gives 400 rounded down to 384 (AH00316/AH00513)."""
    eff, warnings = apply(mpm, ThreadsPerChild=64)
    assert (eff.MaxRequestWorkers, eff.process_limit) == (384, 6)
    only(warnings, AH[mpm]["multiple"])


def test_prefork_default_max_request_workers_ignores_user_server_limit() -> None:
    """prefork_pre_config l.1339: ap_daemons_limit = DEFAULT_SERVER_LIMIT, not the user's."""
    eff, warnings = apply("prefork", ServerLimit=1000)
    assert (eff.ServerLimit, eff.MaxRequestWorkers, eff.process_limit) == (1000, 256, 256)
    assert warnings == []


def test_unknown_mpm() -> None:
    """Only prefork, worker and event are modelled."""
    with pytest.raises(InputError, match="unknown MPM"):
        apply("winnt")


# A value for every directive, other than every MPM's default, that no start-up rule adjusts.
NON_DEFAULT: dict[str, int | float | bool] = {
    "StartServers": 2,
    "MinSpareServers": 3,
    "MaxSpareServers": 12,
    "MinSpareThreads": 50,
    "MaxSpareThreads": 200,
    "ThreadsPerChild": 50,
    "ThreadLimit": 100,
    "ServerLimit": 300,
    "MaxRequestWorkers": 100,
    "MaxConnectionsPerChild": 1000,
    "AsyncRequestWorkerFactor": 3.0,
    "KeepAlive": False,
    "KeepAliveTimeout": 7.0,
    "MaxKeepAliveRequests": 50,
    "ListenBacklog": 128,
    "Timeout": 30.0,
    "ThreadStackSize": 1048576,
    "ListenCoresBucketsRatio": 2,
}


@pytest.mark.parametrize("mpm", ["prefork", "worker", "event"])
def test_every_directive_is_taken_as_written(mpm: str) -> None:
    """Each directive the MPM has, given alone with a value no rule adjusts, reaches the
    effective directives unchanged: none is parsed and then left at its default."""
    assert set(NON_DEFAULT) == set(DIRECTIVES)
    default, _ = apply(mpm)
    for name, value in NON_DEFAULT.items():
        if name in NOT_FOR_MPM[mpm]:
            continue
        eff, warnings = apply_apache_rules(mpm, {name: value})
        assert getattr(default, name) != value
        assert getattr(eff, name) == value, name
        assert warnings == []


# --- prefork rules (facts §4, prefork_check_config l.1345-1443, prefork_run l.921-944) -------


def test_prefork_rule1_server_limit_above_compile_limit() -> None:
    """prefork_check_config AH00175/00176: ServerLimit > 200000 -> 200000 (prefork.c l.82)."""
    eff, warnings = apply("prefork", ServerLimit=300000)
    assert eff.ServerLimit == 200000
    assert only(warnings, "AH00175") == (
        "AH00175: ServerLimit of 300000 exceeds compile-time limit of 200000 servers, "
        "decreasing to 200000."
    )


def test_prefork_rule1_server_limit_below_one() -> None:
    """prefork_check_config AH00177/00178: ServerLimit < 1 -> 1."""
    eff, warnings = apply("prefork", ServerLimit=0, MaxRequestWorkers=1)
    assert eff.ServerLimit == 1
    assert only(warnings, "AH00177") == "AH00177: ServerLimit of 0 not allowed, increasing to 1."


def test_prefork_rule3_max_request_workers_above_server_limit() -> None:
    """prefork_check_config AH00180/00181: MaxRequestWorkers > ServerLimit -> ServerLimit."""
    eff, warnings = apply("prefork", MaxRequestWorkers=400)
    assert (eff.MaxRequestWorkers, eff.process_limit) == (256, 256)
    assert only(warnings, "AH00180") == (
        "AH00180: MaxRequestWorkers of 400 exceeds ServerLimit value of 256 servers, decreasing "
        "MaxRequestWorkers to 256. To increase, please see the ServerLimit directive."
    )


def test_prefork_rule3_max_request_workers_below_one() -> None:
    """prefork_check_config AH00182/00183: MaxRequestWorkers < 1 -> 1."""
    eff, warnings = apply("prefork", MaxRequestWorkers=0)
    assert eff.MaxRequestWorkers == 1
    assert only(warnings, "AH00182").endswith(
        "MaxRequestWorkers of 0 not allowed, increasing to 1."
    )


def test_prefork_rule4_start_servers_below_one() -> None:
    """prefork_check_config AH00184/00185: StartServers < 1 -> 1."""
    eff, warnings = apply("prefork", StartServers=0)
    assert eff.StartServers == 1
    assert only(warnings, "AH00184") == "AH00184: StartServers of 0 not allowed, increasing to 1."


def test_prefork_rule4_start_servers_capped_silently() -> None:
    """prefork_run l.945-954 forks min(StartServers, MaxRequestWorkers): silent (facts §2.1)."""
    eff, warnings = apply("prefork", StartServers=20, MaxRequestWorkers=8)
    assert eff.StartServers == 8
    assert warnings == []


def test_prefork_rule5_min_spare_servers_below_one() -> None:
    """prefork_check_config AH00186/00187: MinSpareServers < 1 -> 1, "read the documentation"."""
    eff, warnings = apply("prefork", MinSpareServers=0)
    assert eff.MinSpareServers == 1
    assert only(warnings, "AH00186") == (
        "AH00186: MinSpareServers of 0 not allowed, increasing to 1 to avoid almost certain "
        "server failure. Please read the documentation."
    )


def test_prefork_rule6_max_spare_servers_raised_silently() -> None:
    """prefork_run l.937-938: MaxSpareServers >= MinSpareServers + buckets, no message."""
    eff, warnings = apply("prefork", MinSpareServers=10, MaxSpareServers=4)
    assert (eff.MinSpareServers, eff.MaxSpareServers) == (10, 11)
    assert warnings == []


def test_prefork_rule6_buckets_raise_silently() -> None:
    """prefork_run l.921-944: MaxRequestWorkers, StartServers, MinSpareServers >= buckets.

    Buckets = cores // ListenCoresBucketsRatio (listen.c l.679-706): 16 // 2 = 8.
    """
    eff, warnings = apply(
        "prefork",
        vcpus=16,
        ListenCoresBucketsRatio=2,
        MaxRequestWorkers=4,
        StartServers=1,
        MinSpareServers=1,
        MaxSpareServers=2,
    )
    assert eff.buckets == 8
    assert (eff.MaxRequestWorkers, eff.process_limit, eff.StartServers) == (8, 8, 8)
    assert (eff.MinSpareServers, eff.MaxSpareServers) == (8, 16)
    assert warnings == []


def test_prefork_buckets_beyond_server_limit_are_capped() -> None:
    """Not Apache: more buckets than ServerLimit would overrun the scoreboard; mpmsim caps it."""
    eff, warnings = apply("prefork", vcpus=8, ListenCoresBucketsRatio=1, ServerLimit=4)
    assert (eff.MaxRequestWorkers, eff.process_limit, eff.StartServers) == (4, 4, 4)
    assert len(warnings) == 2  # AH00180 (256 > 4) and the mpmsim cap
    assert warnings[1].startswith("mpmsim: 8 listener buckets exceed ServerLimit of 4")


# --- worker / event rules (facts §4; worker_check_config l.2120-2332, event_check_config
# l.3776-3989, worker_run l.1782-1785, event_run l.3293-3296) -------------------------------


@pytest.mark.parametrize("mpm", THREADED)
def test_threaded_rule1_server_limit_above_compile_limit(mpm: str) -> None:
    """Rule 1: ServerLimit > 20000 -> 20000 (worker AH00300/00301, event AH00497/00498)."""
    eff, warnings = apply(mpm, ServerLimit=25000)
    assert eff.ServerLimit == 20000
    assert only(warnings, AH[mpm]["sl_max"]).endswith(
        "ServerLimit of 25000 exceeds compile-time limit of 20000 servers, decreasing to 20000."
    )


@pytest.mark.parametrize("mpm", THREADED)
def test_threaded_rule1_server_limit_below_one(mpm: str) -> None:
    """Rule 1: ServerLimit < 1 -> 1 (worker AH00302/00303, event AH00499/00500)."""
    eff, warnings = apply(mpm, ServerLimit=0, MaxRequestWorkers=25)
    assert eff.ServerLimit == 1
    assert only(warnings, AH[mpm]["sl_min"]).endswith(
        "ServerLimit of 0 not allowed, increasing to 1."
    )


@pytest.mark.parametrize(("mpm", "limit"), [("worker", 20000), ("event", 100000)])
def test_threaded_rule2_thread_limit_above_compile_limit(mpm: str, limit: int) -> None:
    """Rule 2: ThreadLimit above MAX_THREAD_LIMIT (worker.c l.112: 20000; event.c l.140: 100000)
    is lowered (worker AH00305/00306, event AH00502/00503)."""
    eff, warnings = apply(mpm, ThreadLimit=limit + 1)
    assert eff.ThreadLimit == limit
    assert only(warnings, AH[mpm]["tl_max"]).endswith(
        f"ThreadLimit of {limit + 1} exceeds compile-time limit of {limit} threads, "
        f"decreasing to {limit}."
    )


def test_event_thread_limit_allows_more_than_worker() -> None:
    """Rule 2: 30000 is within event's MAX_THREAD_LIMIT (event.c l.140) but not worker's."""
    assert apply("event", ThreadLimit=30000)[1] == []
    assert apply("worker", ThreadLimit=30000)[0].ThreadLimit == 20000


@pytest.mark.parametrize("mpm", THREADED)
def test_threaded_rule2_thread_limit_below_one(mpm: str) -> None:
    """Rule 2: ThreadLimit < 1 -> 1 (worker AH00307/00308, event AH00504/00505)."""
    eff, warnings = apply(mpm, ThreadLimit=0, ThreadsPerChild=1, MaxRequestWorkers=16)
    assert eff.ThreadLimit == 1
    assert only(warnings, AH[mpm]["tl_min"]).endswith(
        "ThreadLimit of 0 not allowed, increasing to 1."
    )


@pytest.mark.parametrize("mpm", THREADED)
def test_threaded_rule3_threads_per_child_above_thread_limit(mpm: str) -> None:
    """Rule 3: ThreadsPerChild > ThreadLimit -> ThreadLimit (worker AH00310/00311, event
    AH00507/00508); MaxRequestWorkers 400 stays a multiple of 40."""
    eff, warnings = apply(mpm, ThreadLimit=40, ThreadsPerChild=100)
    assert (eff.ThreadsPerChild, eff.MaxRequestWorkers, eff.process_limit) == (40, 400, 10)
    assert only(warnings, AH[mpm]["tpc_max"]).endswith(
        "ThreadsPerChild of 100 exceeds ThreadLimit of 40 threads, decreasing to 40. "
        "To increase, please see the ThreadLimit directive."
    )


@pytest.mark.parametrize("mpm", THREADED)
def test_threaded_rule3_threads_per_child_below_one(mpm: str) -> None:
    """Rule 3: ThreadsPerChild < 1 -> 1 (worker AH00312/00313, event AH00509/00510)."""
    eff, warnings = apply(mpm, ThreadsPerChild=0, MaxRequestWorkers=16, MinSpareThreads=1)
    assert (eff.ThreadsPerChild, eff.process_limit) == (1, 16)
    assert only(warnings, AH[mpm]["tpc_min"]).endswith(
        "ThreadsPerChild of 0 not allowed, increasing to 1."
    )


@pytest.mark.parametrize("mpm", THREADED)
def test_threaded_rule4_max_request_workers_below_threads_per_child(mpm: str) -> None:
    """Rule 4: MaxRequestWorkers < ThreadsPerChild -> ThreadsPerChild (worker AH00314/00315,
    event AH00511/00512)."""
    eff, warnings = apply(mpm, MaxRequestWorkers=10)
    assert (eff.MaxRequestWorkers, eff.process_limit) == (25, 1)
    assert only(warnings, AH[mpm]["mrw_min"]).endswith(
        "MaxRequestWorkers of 10 is less than ThreadsPerChild of 25, increasing to 25. "
        "MaxRequestWorkers must be at least as large as the number of threads in a single server."
    )


@pytest.mark.parametrize("mpm", THREADED)
def test_threaded_rule5_not_a_multiple(mpm: str) -> None:
    """Rule 5: MaxRequestWorkers rounded down to a multiple of ThreadsPerChild (worker
    AH00316/00317, event AH00513/00514)."""
    eff, warnings = apply(mpm, MaxRequestWorkers=140)
    assert (eff.MaxRequestWorkers, eff.process_limit) == (125, 5)
    assert only(warnings, AH[mpm]["multiple"]) == (
        f"{AH[mpm]['multiple']}: MaxRequestWorkers of 140 is not an integer multiple of "
        "ThreadsPerChild of 25, decreasing to nearest multiple 125, for a maximum of 5 servers."
    )


@pytest.mark.parametrize("mpm", THREADED)
def test_threaded_rule6_server_limit_caps_process_limit(mpm: str) -> None:
    """Rule 6: process limit > ServerLimit -> ServerLimit (worker AH00318/00319, event
    AH00515/00516); MaxRequestWorkers reported as ServerLimit x ThreadsPerChild, as the warning
    says, although Apache keeps the configured max_workers internally (facts §4 quirk)."""
    eff, warnings = apply(mpm, MaxRequestWorkers=800)
    assert (eff.MaxRequestWorkers, eff.process_limit, eff.ServerLimit) == (400, 16, 16)
    assert only(warnings, AH[mpm]["servers"]).endswith(
        "MaxRequestWorkers of 800 would require 32 servers and would exceed ServerLimit of 16, "
        "decreasing to 400. To increase, please see the ServerLimit directive."
    )


@pytest.mark.parametrize("mpm", THREADED)
def test_threaded_rules_5_and_6_together(mpm: str) -> None:
    """Rules 5 then 6: 810 -> 800 (32 servers) -> ServerLimit 16: two warnings, in that order."""
    eff, warnings = apply(mpm, MaxRequestWorkers=810)
    assert eff.MaxRequestWorkers == 400
    assert [w.split(":")[0] for w in warnings] == [AH[mpm]["multiple"], AH[mpm]["servers"]]
    assert "MaxRequestWorkers of 800 would require 32 servers" in warnings[1]


@pytest.mark.parametrize("mpm", THREADED)
def test_threaded_rule7_start_servers_below_one(mpm: str) -> None:
    """Rule 7: StartServers < 1 -> 1 (worker AH00320/00321, event AH00517/00518)."""
    eff, warnings = apply(mpm, StartServers=0)
    assert eff.StartServers == 1
    assert only(warnings, AH[mpm]["start"]).endswith(
        "StartServers of 0 not allowed, increasing to 1."
    )


@pytest.mark.parametrize("mpm", THREADED)
def test_threaded_rule7_min_spare_threads_below_one(mpm: str) -> None:
    """Rule 7: MinSpareThreads < 1 -> 1 (worker AH00322/00323, event AH00519/00520)."""
    eff, warnings = apply(mpm, MinSpareThreads=0)
    assert eff.MinSpareThreads == 1
    assert only(warnings, AH[mpm]["min_spare"]).endswith(
        "MinSpareThreads of 0 not allowed, increasing to 1 to avoid almost certain server "
        "failure. Please read the documentation."
    )


@pytest.mark.parametrize("mpm", THREADED)
def test_threaded_rule8_max_spare_threads_raised_silently(mpm: str) -> None:
    """Rule 8 (worker_run l.1782-1785, event_run l.3293-3296): MaxSpareThreads >= MinSpareThreads
    + (ThreadsPerChild + 1) x buckets, without a message."""
    eff, warnings = apply(mpm, MinSpareThreads=75, MaxSpareThreads=80)
    assert eff.MaxSpareThreads == 75 + 26
    assert warnings == []


@pytest.mark.parametrize("mpm", THREADED)
def test_threaded_rule8_start_servers_capped_silently(mpm: str) -> None:
    """Rule 8: StartServers is capped at the process limit in *_run, without a message."""
    eff, warnings = apply(mpm, StartServers=10, MaxRequestWorkers=100)
    assert (eff.StartServers, eff.process_limit) == (4, 4)
    assert warnings == []


@pytest.mark.parametrize("mpm", THREADED)
def test_threaded_rule8_buckets(mpm: str) -> None:
    """Rule 8 with 4 buckets (16 cores / ListenCoresBucketsRatio 4, listen.c l.679-706): process
    limit and StartServers >= 4, MinSpareThreads >= 25 x 3 + 4, MaxSpareThreads >= Min + 26 x 4."""
    eff, warnings = apply(
        mpm,
        vcpus=16,
        ListenCoresBucketsRatio=4,
        MaxRequestWorkers=25,
        StartServers=1,
        MinSpareThreads=1,
        MaxSpareThreads=1,
    )
    assert eff.buckets == 4
    assert (eff.process_limit, eff.MaxRequestWorkers, eff.StartServers) == (4, 100, 4)
    assert (eff.MinSpareThreads, eff.MaxSpareThreads) == (79, 79 + 104)
    assert warnings == []


def test_buckets_need_a_ratio() -> None:
    """ListenCoresBucketsRatio 0 (default, listen.c l.811) means one bucket whatever the cores."""
    assert apply("event", vcpus=64)[0].buckets == 1
    assert apply("event", vcpus=3, ListenCoresBucketsRatio=4)[0].buckets == 1


@pytest.mark.parametrize(("given", "effective"), [(0.5, 1), (1.0, 1), (1.5, 1), (2.9, 2), (3, 3)])
def test_event_rule9_async_factor(given: float, effective: int) -> None:
    """Rule 9 (set_worker_factor l.4105-4127, connections_above_limit l.519-537): values below 1
    are raised to 1 silently and fractions have no effect; the value is kept as given."""
    eff, warnings = apply("event", AsyncRequestWorkerFactor=given)
    assert eff.AsyncRequestWorkerFactor == given
    assert eff.async_factor_effective == effective
    assert warnings == []


@pytest.mark.parametrize(
    ("mpm", "name"),
    [
        ("prefork", "ThreadsPerChild"),
        ("prefork", "MaxSpareThreads"),
        ("prefork", "ThreadStackSize"),
        ("prefork", "AsyncRequestWorkerFactor"),
        ("worker", "MinSpareServers"),
        ("worker", "AsyncRequestWorkerFactor"),
        ("event", "MaxSpareServers"),
    ],
)
def test_directives_of_another_mpm_are_ignored(mpm: str, name: str) -> None:
    """Directives the MPM lacks are ignored with a warning (Apache would only accept them inside
    an <IfModule> for another MPM)."""
    default, _ = apply(mpm)
    eff, warnings = apply(mpm, **{name: 3})
    assert eff == default
    assert warnings == [
        f"{name} has no effect with mpm_{mpm} (Apache accepts it only inside <IfModule> for "
        "another MPM)"
    ]


def test_as_dict_leaves_out_what_does_not_apply() -> None:
    """as_dict keeps Apache's names; prefork reports ThreadsPerChild 1, worker no factor."""
    prefork = apply("prefork")[0].as_dict()
    assert prefork["ThreadsPerChild"] == 1
    assert "MinSpareThreads" not in prefork and "AsyncRequestWorkerFactor" not in prefork
    worker = apply("worker", KeepAlive=False, KeepAliveTimeout=0.5)[0].as_dict()
    assert "MinSpareServers" not in worker and "AsyncRequestWorkerFactor" not in worker
    assert (worker["KeepAlive"], worker["KeepAliveTimeout"]) == ("Off", 0.5)


# --- properties -------------------------------------------------------------------------------

COUNTS = [
    "StartServers",
    "MinSpareServers",
    "MaxSpareServers",
    "MinSpareThreads",
    "MaxSpareThreads",
    "ThreadsPerChild",
    "ThreadLimit",
    "ServerLimit",
    "MaxRequestWorkers",
]

configs = st.fixed_dictionaries(
    {},
    optional={
        **{name: st.integers(min_value=0, max_value=5000) for name in COUNTS},
        "ServerLimit": st.integers(min_value=0, max_value=250000),
        "ThreadLimit": st.integers(min_value=0, max_value=120000),
        "MaxRequestWorkers": st.integers(min_value=0, max_value=10**7),
        "ListenCoresBucketsRatio": st.integers(min_value=0, max_value=8),
        "AsyncRequestWorkerFactor": st.floats(min_value=0.01, max_value=64),
    },
)


@settings(max_examples=400, deadline=None)
@given(
    mpm=st.sampled_from(["prefork", "worker", "event"]),
    values=configs,
    vcpus=st.integers(min_value=1, max_value=256),
)
def test_invariants_hold_for_any_config(mpm: str, values: dict[str, Any], vcpus: int) -> None:
    """Whatever the user writes, the result satisfies Apache's invariants (facts §4)."""
    eff, _ = apply_apache_rules(mpm, values, vcpus=vcpus)
    assert 1 <= eff.StartServers <= eff.process_limit <= eff.ServerLimit
    assert eff.buckets >= 1
    if mpm == "prefork":
        assert 1 <= eff.MaxRequestWorkers <= eff.ServerLimit
        assert eff.process_limit == eff.MaxRequestWorkers
        assert eff.MaxSpareServers > eff.MinSpareServers >= 1
        assert eff.ThreadsPerChild == 1
    else:
        tpc = eff.ThreadsPerChild
        assert 1 <= tpc <= eff.ThreadLimit
        assert eff.MaxRequestWorkers % tpc == 0
        assert eff.MaxRequestWorkers >= tpc
        assert eff.MaxRequestWorkers == eff.process_limit * tpc
        assert eff.MaxSpareThreads >= eff.MinSpareThreads + tpc + 1
        assert eff.MinSpareThreads >= 1
        assert eff.async_factor_effective >= 1


@settings(max_examples=300, deadline=None)
@given(
    mpm=st.sampled_from(["prefork", "worker", "event"]),
    values=configs,
    vcpus=st.integers(min_value=1, max_value=256),
)
def test_rules_are_idempotent(mpm: str, values: dict[str, Any], vcpus: int) -> None:
    """Feeding the effective directives back (as JSON reports them) changes nothing and makes
    Apache log no further adjustment."""
    first, _ = apply_apache_rules(mpm, values, vcpus=vcpus)
    typed, notes = normalize_directives(first.as_dict(), source="effective")
    again, warnings = apply_apache_rules(mpm, typed, vcpus=vcpus)
    assert again == first
    assert notes == []
    assert not [w for w in warnings if w.startswith("AH")]

"""Apache 2.4's directive defaults and start-up adjustments, rule by rule, as its MPMs apply them.

Sources: ``reference/apache-mpm-facts.md`` §2.4, §3 and §4, which cite ``apache/httpd`` branch
2.4.x at commit f45abec (line numbers below are that commit's). Each adjustment Apache logs gives
one warning line: the AH code of the start-up message (the one printed on the console at first
start) and its text without the leading ``WARNING:``. Silent adjustments (done in ``*_run``) are
applied without one.

The functions here work on a plain ``dict[str, int]`` of Apache names;
:mod:`mpmsim.models.apache.directives` parses user input and builds the frozen result around them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

MPMS: Final = ("prefork", "worker", "event")

# Defaults of the directives every MPM shares (facts §3).
COMMON_DEFAULTS: Final[Mapping[str, int | float | bool]] = {
    "MaxConnectionsPerChild": 0,  # mpm_common.c l.167: 0 = unlimited
    "AsyncRequestWorkerFactor": 2.0,  # event.c l.161-165 DEFAULT_WORKER_FACTOR
    "KeepAlive": True,  # config.c l.2237
    "KeepAliveTimeout": 5.0,  # httpd.h l.166 DEFAULT_KEEPALIVE_TIMEOUT
    "MaxKeepAliveRequests": 100,  # httpd.h l.171 DEFAULT_KEEPALIVE
    "ListenBacklog": 511,  # mpm_common.h l.63 DEFAULT_LISTENBACKLOG; listen.c l.810
    "Timeout": 60.0,  # httpd.h l.161 DEFAULT_TIMEOUT
    "ThreadStackSize": 0,  # mpm_common.c l.172: 0 = the OS default
    "ListenCoresBucketsRatio": 0,  # listen.c l.811: 0 = one bucket
}

# Per-MPM defaults as the pre_config hooks set them before the config file is read (facts §3).
# Directives an MPM does not have are 0 here (prefork's thread counts are its HARD_THREAD_LIMIT 1).
MPM_DEFAULTS: Final[Mapping[str, Mapping[str, int]]] = {
    # prefork.c prefork_pre_config l.1339; prefork/mpm_default.h; ServerLimit prefork.c l.75.
    # MaxRequestWorkers starts as DEFAULT_SERVER_LIMIT, not as the ServerLimit the user sets.
    "prefork": {
        "StartServers": 5,
        "MinSpareServers": 5,
        "MaxSpareServers": 10,
        "ServerLimit": 256,
        "MaxRequestWorkers": 256,
        "ThreadsPerChild": 1,
        "ThreadLimit": 1,
        "MinSpareThreads": 0,
        "MaxSpareThreads": 0,
    },
    # worker.c worker_pre_config l.2107-2113 and event.c event_pre_config l.3680-3686:
    # max_workers = DEFAULT_SERVER_LIMIT * DEFAULT_THREADS_PER_CHILD = 400 is set before the config
    # is read, so it stays 400 when the user sets only ThreadsPerChild or ServerLimit.
    "worker": {
        "StartServers": 3,
        "MinSpareThreads": 75,
        "MaxSpareThreads": 250,
        "ThreadsPerChild": 25,
        "ThreadLimit": 64,
        "ServerLimit": 16,
        "MaxRequestWorkers": 400,
        "MinSpareServers": 0,
        "MaxSpareServers": 0,
    },
    "event": {
        "StartServers": 3,
        "MinSpareThreads": 75,
        "MaxSpareThreads": 250,
        "ThreadsPerChild": 25,
        "ThreadLimit": 64,
        "ServerLimit": 16,
        "MaxRequestWorkers": 400,
        "MinSpareServers": 0,
        "MaxSpareServers": 0,
    },
}

# Directives an MPM does not implement: Apache only accepts them inside an <IfModule> for another
# MPM, so they are ignored with a warning.
NOT_FOR_MPM: Final[Mapping[str, frozenset[str]]] = {
    "prefork": frozenset(
        {
            "ThreadsPerChild",
            "ThreadLimit",
            "MinSpareThreads",
            "MaxSpareThreads",
            "ThreadStackSize",
            "AsyncRequestWorkerFactor",
        }
    ),
    "worker": frozenset({"MinSpareServers", "MaxSpareServers", "AsyncRequestWorkerFactor"}),
    "event": frozenset({"MinSpareServers", "MaxSpareServers"}),
}

# mod_php (Debian's libapache2-mod-php8.2, built without ZTS) refuses a threaded MPM in its
# pre_config hook (sapi/apache2handler: ap_mpm_query(AP_MPMQ_IS_THREADED)); Apache then fails
# with AH00013. The text as `apache2 -k start` prints it with mpm_event or mpm_worker and
# libphp8.2.so loaded (tests/test_php_refusal.py compares it with the real Apache's).
MOD_PHP_THREADED_REFUSAL: Final = (
    "[php:crit] Apache is running a threaded MPM, but your PHP Module is not compiled to be "
    "threadsafe.  You need to recompile PHP. AH00013: Pre-configuration failed"
)
#: Modules that refuse to run under a threaded MPM, with the line Apache prints.
NOT_THREADSAFE_MODULES: Final[Mapping[str, str]] = {"php": MOD_PHP_THREADED_REFUSAL}


def module_refusal(mpm: str, modules: Iterable[str]) -> str | None:
    """The start-up failure Apache prints when a loaded module refuses ``mpm``, or None."""
    if mpm == "prefork":
        return None
    for module in modules:
        message = NOT_THREADSAFE_MODULES.get(module)
        if message is not None:
            return message
    return None


# Compile-time limits (facts §3): prefork.c l.82; worker.c l.94, l.112; event.c l.122, l.140.
MAX_SERVER_LIMIT: Final[Mapping[str, int]] = {"prefork": 200000, "worker": 20000, "event": 20000}
MAX_THREAD_LIMIT: Final[Mapping[str, int]] = {"worker": 20000, "event": 100000}

# AH codes of the start-up messages of worker_check_config / event_check_config (facts §4).
_THREADED_AH: Final[Mapping[str, Mapping[str, str]]] = {
    "worker": {
        "sl_max": "AH00300",
        "sl_min": "AH00302",
        "tl_max": "AH00305",
        "tl_min": "AH00307",
        "tpc_max": "AH00310",
        "tpc_min": "AH00312",
        "mrw_min": "AH00314",
        "mrw_multiple": "AH00316",
        "mrw_servers": "AH00318",
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
        "mrw_multiple": "AH00513",
        "mrw_servers": "AH00515",
        "start": "AH00517",
        "min_spare": "AH00519",
    },
}


def _bucket_cap(v: dict[str, int], buckets: int, warnings: list[str]) -> None:
    """Keep the process limit within ServerLimit after Apache raised it to the bucket count."""
    # Not Apache: with more listener buckets than ServerLimit, *_run raises the process limit past
    # the scoreboard's ServerLimit slots (undefined behaviour in httpd); the simulation caps it.
    if v["process_limit"] > v["ServerLimit"]:
        warnings.append(
            f"mpmsim: {buckets} listener buckets exceed ServerLimit of {v['ServerLimit']}; "
            f"Apache would use scoreboard slots it does not have, the process limit is capped "
            f"at {v['ServerLimit']}."
        )
        v["process_limit"] = v["ServerLimit"]


def _clamp_limit(
    v: dict[str, int], w: list[str], key: str, limit: int, unit: str, ah_max: str, ah_min: str
) -> None:
    """Clamp a compile-time-limited directive (ServerLimit, ThreadLimit) to [1, limit]."""
    if v[key] > limit:
        w.append(
            f"{ah_max}: {key} of {v[key]} exceeds compile-time limit of {limit} {unit}, "
            f"decreasing to {limit}."
        )
        v[key] = limit
    elif v[key] < 1:
        w.append(f"{ah_min}: {key} of {v[key]} not allowed, increasing to 1.")
        v[key] = 1


def adjust_prefork(v: dict[str, int], buckets: int) -> list[str]:
    """Apply prefork's start-up rules to ``v`` in place; return the warnings Apache logs."""
    w: list[str] = []
    # Rule 1: prefork.c prefork_check_config (l.1345-1443) AH00175/00176, AH00177/00178.
    _clamp_limit(v, w, "ServerLimit", MAX_SERVER_LIMIT["prefork"], "servers", "AH00175", "AH00177")
    # Rule 2 (AH00179, ServerLimit changed across a restart) cannot happen: no restarts simulated.
    # Rule 3: prefork_check_config AH00180/00181, AH00182/00183.
    if v["MaxRequestWorkers"] > v["ServerLimit"]:
        w.append(
            f"AH00180: MaxRequestWorkers of {v['MaxRequestWorkers']} exceeds ServerLimit value of "
            f"{v['ServerLimit']} servers, decreasing MaxRequestWorkers to {v['ServerLimit']}. "
            "To increase, please see the ServerLimit directive."
        )
        v["MaxRequestWorkers"] = v["ServerLimit"]
    elif v["MaxRequestWorkers"] < 1:
        w.append(
            f"AH00182: MaxRequestWorkers of {v['MaxRequestWorkers']} not allowed, increasing to 1."
        )
        v["MaxRequestWorkers"] = 1
    # Rule 4: prefork_check_config AH00184/00185.
    if v["StartServers"] < 1:
        w.append(f"AH00184: StartServers of {v['StartServers']} not allowed, increasing to 1.")
        v["StartServers"] = 1
    # Rule 5: prefork_check_config AH00186/00187.
    if v["MinSpareServers"] < 1:
        w.append(
            f"AH00186: MinSpareServers of {v['MinSpareServers']} not allowed, increasing to 1 to "
            "avoid almost certain server failure. Please read the documentation."
        )
        v["MinSpareServers"] = 1
    # Rule 6, silent: prefork.c prefork_run l.921-944 (MaxSpareServers l.937-938).
    v["MaxRequestWorkers"] = max(v["MaxRequestWorkers"], buckets)
    v["StartServers"] = max(v["StartServers"], buckets)
    v["MinSpareServers"] = max(v["MinSpareServers"], buckets)
    v["MaxSpareServers"] = max(v["MaxSpareServers"], v["MinSpareServers"] + buckets)
    v["process_limit"] = v["MaxRequestWorkers"]  # prefork: one connection per process
    _bucket_cap(v, buckets, w)
    v["MaxRequestWorkers"] = v["process_limit"]
    # Rule 4, silent part: prefork_run forks min(StartServers, MaxRequestWorkers) (facts §2.1).
    v["StartServers"] = min(v["StartServers"], v["process_limit"])
    return w


def adjust_threaded(mpm: str, v: dict[str, int], buckets: int) -> list[str]:
    """Apply worker's or event's start-up rules to ``v`` in place; return Apache's warnings."""
    ah = _THREADED_AH[mpm]
    w: list[str] = []
    # Rule 1: worker_check_config (worker.c l.2120-2332) AH00300-00303; event_check_config
    # (event.c l.3776-3989) AH00497-00500. Restart rules AH00304/AH00501 cannot happen here.
    _clamp_limit(v, w, "ServerLimit", MAX_SERVER_LIMIT[mpm], "servers", ah["sl_max"], ah["sl_min"])
    # Rule 2: worker AH00305-00308 (max 20000); event AH00502-00505 (max 100000).
    _clamp_limit(v, w, "ThreadLimit", MAX_THREAD_LIMIT[mpm], "threads", ah["tl_max"], ah["tl_min"])
    _threads_per_child(ah, v, w)  # rule 3
    _max_request_workers(ah, v, w)  # rules 4-6
    _start_and_min_spare(ah, v, w)  # rule 7
    _threaded_buckets(v, buckets, w)  # rule 8, silent
    return w


def _threads_per_child(ah: Mapping[str, str], v: dict[str, int], w: list[str]) -> None:
    """Clamp ThreadsPerChild to [1, ThreadLimit]."""
    # Rule 3: worker AH00310/00311, AH00312/00313; event AH00507/00508, AH00509/00510.
    tpc = v["ThreadsPerChild"]
    if tpc > v["ThreadLimit"]:
        w.append(
            f"{ah['tpc_max']}: ThreadsPerChild of {tpc} exceeds ThreadLimit of {v['ThreadLimit']} "
            f"threads, decreasing to {v['ThreadLimit']}. To increase, please see the ThreadLimit "
            "directive."
        )
        v["ThreadsPerChild"] = v["ThreadLimit"]
    elif tpc < 1:
        w.append(f"{ah['tpc_min']}: ThreadsPerChild of {tpc} not allowed, increasing to 1.")
        v["ThreadsPerChild"] = 1


def _max_request_workers(ah: Mapping[str, str], v: dict[str, int], w: list[str]) -> None:
    """Fit MaxRequestWorkers to whole processes of ThreadsPerChild within ServerLimit."""
    tpc = v["ThreadsPerChild"]
    # Rule 4: worker AH00314/00315; event AH00511/00512.
    if v["MaxRequestWorkers"] < tpc:
        w.append(
            f"{ah['mrw_min']}: MaxRequestWorkers of {v['MaxRequestWorkers']} is less than "
            f"ThreadsPerChild of {tpc}, increasing to {tpc}. MaxRequestWorkers must be at least "
            "as large as the number of threads in a single server."
        )
        v["MaxRequestWorkers"] = tpc
    # Rule 5: worker AH00316/00317; event AH00513/00514 (ap_daemons_limit / active_daemons_limit).
    v["process_limit"] = v["MaxRequestWorkers"] // tpc
    if v["MaxRequestWorkers"] % tpc:
        rounded = v["process_limit"] * tpc
        w.append(
            f"{ah['mrw_multiple']}: MaxRequestWorkers of {v['MaxRequestWorkers']} is not an "
            f"integer multiple of ThreadsPerChild of {tpc}, decreasing to nearest multiple "
            f"{rounded}, for a maximum of {v['process_limit']} servers."
        )
        v["MaxRequestWorkers"] = rounded
    # Rule 6: worker AH00318/00319; event AH00515/00516. Apache lowers only the process limit and
    # keeps max_workers (facts §4 quirk); we report ServerLimit x ThreadsPerChild, as its warning
    # does, because that is what the server can run.
    if v["process_limit"] > v["ServerLimit"]:
        w.append(
            f"{ah['mrw_servers']}: MaxRequestWorkers of {v['MaxRequestWorkers']} would require "
            f"{v['process_limit']} servers and would exceed ServerLimit of {v['ServerLimit']}, "
            f"decreasing to {v['ServerLimit'] * tpc}. To increase, please see the ServerLimit "
            "directive."
        )
        v["process_limit"] = v["ServerLimit"]
        v["MaxRequestWorkers"] = v["ServerLimit"] * tpc


def _start_and_min_spare(ah: Mapping[str, str], v: dict[str, int], w: list[str]) -> None:
    """Raise StartServers and MinSpareThreads to at least 1."""
    # Rule 7: worker AH00320-00323; event AH00517-00520.
    if v["StartServers"] < 1:
        w.append(
            f"{ah['start']}: StartServers of {v['StartServers']} not allowed, increasing to 1."
        )
        v["StartServers"] = 1
    if v["MinSpareThreads"] < 1:
        w.append(
            f"{ah['min_spare']}: MinSpareThreads of {v['MinSpareThreads']} not allowed, "
            "increasing to 1 to avoid almost certain server failure. Please read the "
            "documentation."
        )
        v["MinSpareThreads"] = 1


def _threaded_buckets(v: dict[str, int], buckets: int, w: list[str]) -> None:
    """Raise the process limit and spare threads to serve every listener bucket."""
    tpc = v["ThreadsPerChild"]
    # Rule 8, silent: worker.c worker_run l.1782-1785; event.c event_run l.3293-3296.
    v["process_limit"] = max(v["process_limit"], buckets)
    _bucket_cap(v, buckets, w)
    v["MaxRequestWorkers"] = v["process_limit"] * tpc  # what the raised process limit runs
    v["StartServers"] = max(v["StartServers"], buckets)
    v["MinSpareThreads"] = max(v["MinSpareThreads"], tpc * (buckets - 1) + buckets)
    v["MaxSpareThreads"] = max(v["MaxSpareThreads"], v["MinSpareThreads"] + (tpc + 1) * buckets)
    # remaining_children_to_start = min(StartServers, process limit) in *_run.
    v["StartServers"] = min(v["StartServers"], v["process_limit"])

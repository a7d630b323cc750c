"""PHP in ``mpmsim optimize``: the two ways to run it, the pool's size, the memory it holds.

A **PHP workload** has a mix class that runs PHP (``backend: mod_php``, ``php`` or a php_fpm
pool). Under ``--mpm all`` it is searched as the two set-ups Apache can run it in: every PHP
class gets ``backend: php`` (mod_php under prefork, the pool under event; see
:mod:`mpmsim.spec.backends`), the scenario's pool (or a new ``www``) becomes ``pm = static``,
and only prefork and event are searched: worker + PHP-FPM is event + PHP-FPM without the
listener that holds idle keep-alive connections. These are ``--set`` assignments
(:func:`php_setup_sets`), so ``run_args`` reproduce every point.

``pm.max_children`` is searched with MaxRequestWorkers: the MaxRequestWorkers line runs with
the pool at its analytic size (twice the PHP concurrency the load needs, Little's law, within
RAM), then the pool's line at the best MaxRequestWorkers (:func:`children_line`). A pool is
sized as ``pm = static``: every child exists from the start, so its memory is counted from the
first second and no spawn ramp colours the figures. Memory is judged for the long run: a child
(FPM's, or Apache's with mod_php) grows to ``memory_limit`` above its base unless
``pm.max_requests`` (or MaxConnectionsPerChild) recycles it sooner (:func:`php_memory_mib`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mpmsim.errors import InputError
from mpmsim.spec.backends import AUTO_PHP, MOD_PHP, PhpFpmSpec
from mpmsim.spec.php import FpmBackend, ModPhp
from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.resolve import Prepared, prepare
from mpmsim.spec.scenario import Scenario

if TYPE_CHECKING:
    from mpmsim.search.space import Candidate

#: The MPMs a PHP workload is compared on with ``--mpm all``.
PHP_MPMS = ("prefork", "event")
#: Requests a child serves in the long run when nothing recycles it and PHP has no memory_limit.
UNBOUNDED_REQUESTS = 10_000
#: Most points of the pool's line.
LINE_POINTS = 24


def php_classes(scenario: Scenario) -> list[int]:
    """Indices of the mix classes that run PHP."""
    pools = {n for n, b in scenario.backends.items() if isinstance(b, PhpFpmSpec)}
    return [i for i, m in enumerate(scenario.mix) if m.backend in {MOD_PHP, AUTO_PHP, *pools}]


def php_setup_sets(scenario: Scenario) -> tuple[list[str], str]:
    """``--set`` assignments that let each MPM run the PHP classes as it can; the pool's name."""
    classes = php_classes(scenario)
    pools = sorted({str(scenario.mix[i].backend) for i in classes} - {MOD_PHP, AUTO_PHP})
    if len(pools) > 1:
        raise InputError(
            f"optimize --mpm all compares one PHP-FPM pool with mod_php; the mix uses "
            f"{', '.join(str(p) for p in pools)}",
            field="--mpm",
        )
    fpm = [n for n, b in scenario.backends.items() if isinstance(b, PhpFpmSpec)]
    name = str(pools[0]) if pools else (fpm[0] if len(fpm) == 1 else "www")
    sets = [f"mix.{i}.backend={AUTO_PHP}" for i in classes]
    sets.append("server.modules=[]")
    if name in scenario.backends:
        sets.append(f"backends.{name}.pm=static")
    else:
        sets.append(f"backends.{name}={{kind: php_fpm, pm: static, pm.max_children: 1}}")
    return sets, name


def fpm_backend(prep: Prepared) -> FpmBackend | None:
    """The (first) PHP-FPM pool the run sends requests to, or None."""
    return next((b for b in prep.php.backends if isinstance(b, FpmBackend)), None)


def _long_growth(growth: float, cap: float, recycled_after: int) -> float:
    """What a child has grown by in the long run: to its cap unless recycled sooner."""
    if growth <= 0.0:
        return 0.0
    n = recycled_after if recycled_after > 0 else UNBOUNDED_REQUESTS
    if recycled_after <= 0 and math.isfinite(cap):
        return cap
    return min(cap, growth * n)


def fpm_child_mib(b: FpmBackend) -> float:
    """One FPM child's memory in the long run (base and growth until pm.max_requests)."""
    grown = _long_growth(b.child_growth_mib, b.growth_cap_mib, b.pool.max_requests)
    return b.child_base_mib + grown


def modphp_growth_mib(m: ModPhp, prep: Prepared) -> float:
    """What an Apache child with mod_php has grown by in the long run."""
    d = prep.directives
    per_child = d.MaxConnectionsPerChild * max(int(d.MaxKeepAliveRequests), 1)
    return _long_growth(m.child_growth_mib, m.growth_cap_mib, per_child)


def php_memory_mib(prep: Prepared, workers: int, threads: int, fpm_children: int = 0) -> float:
    """PHP's memory beside Apache's own with ``workers`` (``threads`` per child): mod_php's
    growth in every child, or the FPM master and its children (``fpm_children``, else the
    pool's own size)."""
    total = 0.0
    if prep.php.mod_php is not None:
        children = math.ceil(workers / threads)
        total += children * modphp_growth_mib(prep.php.mod_php, prep)
    b = fpm_backend(prep)
    if b is not None:
        n = fpm_children or b.pool.max_children
        total += b.master_mib + n * fpm_child_mib(b)
    return total


def php_concurrency(prep: Prepared, offered_rps: float | None, clients: int | None) -> float:
    """PHP requests in service at once (Little's law), or a closed load's clients."""
    b = fpm_backend(prep)
    if b is None:
        return 0.0
    on_pool = [c for c, n in zip(prep.classes, prep.php.class_backends, strict=True) if n == b.name]
    if offered_rps is None:
        return float(clients or 1)
    total = sum(c.weight for c in prep.classes)
    share = sum(c.weight for c in on_pool) / total
    hold_ms = sum(
        c.weight * (c.mean_cpu_ms() / prep.hardware.mean_cpu_speed + c.mean_wait_ms())
        for c in on_pool
    ) / max(sum(c.weight for c in on_pool), 1e-9)
    hold_ms += b.request_cpu_ms / prep.hardware.mean_cpu_speed
    return offered_rps * share * hold_ms / 1000.0


def fitting_children(prep: Prepared, budget_mib: float, apache_mib: float) -> int:
    """The most FPM children whose long-run memory fits beside ``apache_mib`` in the budget."""
    b = fpm_backend(prep)
    if b is None:
        return 0
    room = budget_mib - apache_mib - b.master_mib
    return max(int(room // max(fpm_child_mib(b), 1e-9)), 0)


def children_line(fit: int, around: int) -> tuple[list[int], list[int]]:
    """The pool's line (1 .. ``fit``, at most :data:`LINE_POINTS` points) and its start points
    (half, one and twice ``around``)."""
    if fit < 1:
        return [], []
    if fit <= LINE_POINTS:
        line = list(range(1, fit + 1))
    else:
        step = (fit - 1) / (LINE_POINTS - 1)
        line = sorted({round(1 + k * step) for k in range(LINE_POINTS)})
    start = sorted({min(line, key=lambda x: abs(x - t)) for t in (around / 2, around, 2 * around)})
    return line, start


def setup_of(prep: Prepared) -> str:
    """How the run serves PHP: ``prefork + mod_php``, ``event + PHP-FPM (pool www)`` or ""."""
    b = fpm_backend(prep)
    if b is not None:
        return f"{prep.mpm} + PHP-FPM (pool {b.pool.name})"
    return f"{prep.mpm} + mod_php" if prep.php.mod_php is not None else ""


def pool_block(prep: Prepared) -> str | None:
    """The PHP-FPM pool to paste (``php-fpm.d/www.conf``), or None without a pool."""
    b = fpm_backend(prep)
    return None if b is None else b.pool.ini_block() + "\n"


class _Evaluated(Protocol):
    scenario_json: str
    source: str
    base_dir: str | None


def php_row(search: _Evaluated, cand: Candidate) -> dict[str, Any]:
    """How ``cand`` serves PHP (``setup``), and its PHP-FPM pool block and ``--set``s (``{}``
    for a scenario without PHP)."""
    data = json.loads(search.scenario_json)
    if not data.get("backends") and not (data.get("server") or {}).get("modules"):
        return {}
    scenario = load_scenario_data(data, source=search.source, overrides=cand.overrides())
    base_dir = Path(search.base_dir) if search.base_dir else None
    prep = prepare(scenario, source=search.source, base_dir=base_dir)
    setup = setup_of(prep)
    if not setup:
        return {}
    b = fpm_backend(prep)
    out: dict[str, Any] = {"setup": setup, "fpm_block": pool_block(prep)}
    if b is not None:
        out["pm.max_children"] = b.pool.max_children
        p = f"backends.{b.name}"
        out["fpm_sets"] = [f"{p}.pm={b.pool.pm}", f"{p}.pm.max_children={b.pool.max_children}"]
    return out


#: Above this share of its children busy on average, a pool's queue grows fast (M/M/1 at 80 %
#: busy: a request waits four times as long as it runs); a latency goal would size it larger.
BUSY_POOL = 0.8


def pool_use(e: dict[str, Any]) -> dict[str, Any]:
    """How busy each PHP-FPM pool of a simulated point ran (``{}`` without one, or for a point
    cached before pools were recorded): mean and peak busy children, their share, the queue."""
    pools = {}
    for name, b in (e.get("backends") or {}).items():
        if b.get("kind") != "php_fpm":
            continue
        size = int(b["pm.max_children"])
        pools[name] = {
            "pm.max_children": size,
            "busy_mean": b["busy_mean"],
            "busy_peak": b["busy_peak"],
            "utilization": round(b["busy_mean"] / max(size, 1), 4),
            "queue_mean": b["queue_mean"],
            "queue_peak": b["queue_peak"],
        }
    return {"pools": pools} if pools else {}


def setup_preps(search: _Evaluated, mpms: Iterable[str]) -> list[Prepared]:
    """The scenario prepared under each of ``mpms`` that runs PHP (for its memory assumptions);
    an MPM PHP cannot run under (mod_php under a threaded one) is left out."""
    data = json.loads(search.scenario_json)
    base_dir = Path(search.base_dir) if search.base_dir else None
    out = []
    for mpm in dict.fromkeys(mpms):
        scenario = load_scenario_data(data, source=search.source, overrides=(f"server.mpm={mpm}",))
        try:
            prep = prepare(scenario, source=search.source, base_dir=base_dir)
        except InputError:
            continue
        if setup_of(prep):
            out.append(prep)
    return out

"""Sizing PHP in ``mpmsim optimize``: the PHP-FPM pool's analytic size and its own line search.

See :mod:`mpmsim.search.php` for the set-ups and the long-run memory they are judged by.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

from mpmsim.search.adaptive import Search
from mpmsim.search.php import (
    children_line,
    fitting_children,
    fpm_backend,
    php_concurrency,
    php_memory_mib,
    php_setup_sets,
)
from mpmsim.search.space import Candidate, analytic_bounds, full_memory_mib, useful_workers
from mpmsim.search.variants import try_fpm_children
from mpmsim.spec.reading import load_scenario_data
from mpmsim.spec.resolve import prepare
from mpmsim.spec.scenario import ClosedLoad, Scenario


def php_sets(
    base: Scenario, source: str, base_dir: Path | None, headroom: float
) -> tuple[str, ...]:
    """The ``--set`` assignments of a PHP workload's two set-ups, the pool at its analytic
    size: twice the PHP concurrency the load needs, within RAM (:mod:`mpmsim.search.php`)."""
    sets, pool = php_setup_sets(base)
    event = load_scenario_data(
        json.loads(base.model_dump_json(exclude_unset=True)),
        source=source,
        overrides=(*sets, "server.mpm=event"),
    )
    ev = prepare(event, source=source, base_dir=base_dir)
    bounds = analytic_bounds(ev, headroom)
    load = event.load
    clients = load.clients if isinstance(load, ClosedLoad) else None
    need = max(1, math.ceil(2 * php_concurrency(ev, bounds.offered_rps, clients)))
    mrw = max(25, 25 * math.ceil(useful_workers(ev, "event", bounds) / 25))
    apache = Candidate("event", mrw, 25)
    apache_mib = full_memory_mib(ev, apache) - php_memory_mib(ev, mrw, 25)
    fit = fitting_children(ev, bounds.memory_budget_mib, apache_mib)
    return (*sets, f"backends.{pool}.pm.max_children={max(1, min(need, fit))}")


def size_pools(
    search: Search,
    base: Scenario,
    mpms: Iterable[str],
    source: str,
    base_dir: Path | None,
    budget: float,
) -> None:
    """Search pm.max_children at each MPM's best Apache settings, where it runs a PHP-FPM pool."""
    for mpm in mpms:
        _size_pool(search, base, mpm, source, base_dir, budget)


def _size_pool(
    search: Search, base: Scenario, mpm: str, source: str, base_dir: Path | None, budget: float
) -> None:
    """The pool's line of one MPM (see :func:`size_pools`)."""
    server = base.server.model_copy(update={"mpm": mpm})
    mprep = prepare(base.model_copy(update={"server": server}), source=source, base_dir=base_dir)
    b = fpm_backend(mprep)
    mine = [c for c in search.evals if c.mpm == mpm]
    if b is None or not mine:
        return
    best = search.choose(mine) or max(mine, key=lambda c: search.evals[c]["throughput_rps"])
    apache_mib = full_memory_mib(mprep, best) - php_memory_mib(
        mprep, best.max_request_workers, best.threads_per_child, best.fpm_children
    )
    fit = fitting_children(mprep, budget, apache_mib)
    given = b.pool.max_children
    line, start = children_line(fit, given)
    if given not in line and line:
        start = sorted({*start, min(line, key=lambda x: abs(x - given))})
    try_fpm_children(search, mpm, b.name, line, start, given)

"""``mpmsim optimize`` on PHP: prefork + mod_php against event + PHP-FPM, pm.max_children sized."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mpmsim.models.php.ini import read_fpm_pool
from mpmsim.models.php.pool import make_pool
from mpmsim.search.block import check_block
from mpmsim.search.optimizer import optimize
from mpmsim.search.php import children_line, fpm_child_mib, php_setup_sets
from mpmsim.search.space import Candidate, full_memory_mib
from mpmsim.spec.php import FpmBackend
from mpmsim.spec.reading import load_scenario, load_scenario_data
from mpmsim.spec.resolve import prepare
from tests.helpers import EXAMPLES

MODPHP = EXAMPLES / "php-modphp-prefork.yaml"


def test_a_php_workload_becomes_two_setups_by_set_assignments() -> None:
    sets, pool = php_setup_sets(load_scenario(MODPHP))
    assert pool == "www"
    assert sets[0] == "mix.0.backend=php"
    base = load_scenario(MODPHP, (*sets, "backends.www.pm.max_children=7"))
    prefork = prepare(base)
    assert prefork.php.mod_php is not None and prefork.php.backends == ()
    event = prepare(load_scenario(MODPHP, (*sets, "server.mpm=event")))
    assert event.php.mod_php is None
    assert event.php.class_backends == ("www", None)


def test_long_run_memory_counts_growth_to_memory_limit_unless_recycled() -> None:
    base = load_scenario(EXAMPLES / "php-fpm-event.yaml")
    prep = prepare(base)
    b = prep.php.backends[0]
    assert isinstance(b, FpmBackend)
    assert b.pool.max_requests == 500  # 500 x 0.01 MiB before the child is replaced
    assert fpm_child_mib(b) == pytest.approx(b.child_base_mib + 500 * b.child_growth_mib)
    never = prepare(
        load_scenario(EXAMPLES / "php-fpm-event.yaml", ("backends.www.pm.max_requests=0",))
    )
    b_never = never.php.backends[0]
    assert isinstance(b_never, FpmBackend)
    assert fpm_child_mib(b_never) == pytest.approx(b.child_base_mib + 128.0)
    cand = Candidate("event", 400, 25)
    more = full_memory_mib(never, cand.with_children("www", 20))
    less = full_memory_mib(never, cand.with_children("www", 10))
    assert more - less == pytest.approx(10 * (b.child_base_mib + 128.0))


def test_the_pools_line() -> None:
    assert children_line(5, 2) == ([1, 2, 3, 4, 5], [1, 2, 4])
    line, start = children_line(100, 30)
    assert line[0] == 1 and line[-1] == 100 and len(line) <= 24
    assert all(s in line for s in start) and len(start) == 3
    assert children_line(0, 3) == ([], [])


@pytest.mark.slow
def test_optimize_all_on_php_prints_a_winner_with_both_blocks(tmp_path: Path) -> None:
    """The browsers of the examples, shortened: event + PHP-FPM wins (prefork + mod_php runs
    out of RAM: each child grows towards memory_limit), and both blocks paste as they are."""
    data = yaml.safe_load(MODPHP.read_text())
    data.update(duration_s=20, warmup_s=5)
    res = optimize(load_scenario_data(data, source=str(MODPHP)), mpm="all", jobs=1,
                   cache_dir=tmp_path)  # fmt: skip
    d = res.to_dict()
    assert {r["mpm"] for r in d["best_per_mpm"]} == {"prefork", "event"}
    w = d["winner"]
    assert w is not None and w["setup"] == "event + PHP-FPM (pool www)"
    effective, warnings = check_block(w["block"], 2)
    assert warnings == [] and effective.MaxRequestWorkers == w["MaxRequestWorkers"]
    conf = tmp_path / "www.conf"
    conf.write_text(w["fpm_block"])
    name, values, _ = read_fpm_pool(conf)
    pool, _ = make_pool(values, name=name)
    assert pool.pm == "static" and pool.max_children == w["pm.max_children"]
    sets = [w["run_args"][i + 1] for i, a in enumerate(w["run_args"]) if a == "--set"]
    assert f"backends.www.pm.max_children={pool.max_children}" in sets
    assert any(p.get("pm.max_children") for p in d["points"])  # the pool's own line ran
    prefork = next(r for r in d["best_per_mpm"] if r["mpm"] == "prefork")
    assert prefork.get("setup", "prefork + mod_php") == "prefork + mod_php"

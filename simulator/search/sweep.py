"""What-if sweeps (``mpmsim sweep``, ``mpmsim.sweep``): one run per combination of varied keys.

A point is the scenario with one ``--set`` assignment per varied key. Points run as
``mpmsim optimize``'s candidates do: one task per replication (plain data: the scenario's JSON,
the point's overrides, its seed and the replication index) mapped over this process, local
processes or Dask (:class:`~mpmsim.engine.executors.TaskMapper`), so the figures do not depend
on the executor or the number of jobs. Each finished point goes to a disk cache keyed by the
scenario's content, the point, the seed and the replications: a sweep run again (after Ctrl-C,
or with more values) simulates only the points it has not seen.

The result is a DataFrame with one row per point: the varied keys, then the run's JSON result
flattened by :func:`mpmsim.search.sweep_frame.flatten`.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import json
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpmsim import __version__
from mpmsim.engine.executors import TaskMapper
from mpmsim.engine.replications import RunResult
from mpmsim.errors import InputError
from mpmsim.search.cache import EvalCache, candidate_key, code_fingerprint
from mpmsim.search.evaluate import Task, simulate_replication
from mpmsim.search.sweep_frame import frame
from mpmsim.spec.reading import load_base, load_scenario_data
from mpmsim.spec.resolve import Prepared, prepare
from mpmsim.spec.scenario import Scenario

if TYPE_CHECKING:
    import pandas as pd

SWEEP_CACHE_VERSION = "sweep-1"
"""Part of every cache key: bumped when what a cached point holds changes."""


@dataclass(frozen=True)
class Point:
    """One combination of the varied keys, validated and ready to simulate."""

    values: dict[str, Any]
    """The varied keys and this point's value of each."""
    overrides: tuple[str, ...]
    prepared: Prepared
    replications: int
    key: str
    """Cache key: the scenario, the overrides, the seed, the replications, what they resolve to."""
    tasks: tuple[Task, ...]
    """One per replication, with the point's own seed (``seed`` itself may be varied)."""


def sweep(
    scenario: Scenario | Mapping[str, Any] | str | Path,
    vary: Mapping[str, Iterable[Any]],
    *,
    replications: int | None = None,
    jobs: int = 1,
    scheduler: str | Any = None,
    zip: bool = False,  # the name the API promises: ``zip=True`` pairs the lists
    seed: int | None = None,
    progress: bool = True,
    cache: bool | str | Path = True,
    overrides: Sequence[str] = (),
) -> pd.DataFrame:
    """Run ``scenario`` at every combination of the values in ``vary``; one row per point.

    ``vary`` maps dotted scenario keys (as ``--set`` takes them: ``server.mpm``,
    ``server.directives.MaxRequestWorkers``) to their values. Points are the Cartesian
    product of the value lists in the order given (the last key varies fastest), or with
    ``zip=True`` the lists taken element-wise (they must have one length). ``overrides`` are
    ``--set`` assignments applied to the scenario first, ``seed`` replaces its seed (every
    point runs on the same random numbers), ``replications`` its replications.

    ``jobs`` local processes or a Dask ``scheduler`` (an address, ``dask://local``, or a
    ``LocalCluster`` or ``Client`` you started) run the replications; the DataFrame is the
    same for any of them. ``progress`` shows a bar on stderr (a widget in Jupyter). ``cache``:
    True for ``~/.cache/mpmsim/sweep``, a folder, or False for none; a cached point (same
    scenario, seed and replications) is not simulated again. ``df.attrs`` says what the sweep
    cost: ``computed``, ``cache_hits``, ``wall_s``, ``executor`` and ``cache_problem``.
    """
    t0 = time.perf_counter()
    if replications is not None and replications < 1:
        raise InputError(f"must be >= 1, got {replications}", field="--replications")
    base, source, base_dir = load_base(scenario, overrides, seed)
    combos = combinations(vary, zip_lists=zip)
    points = [make_point(base, source, base_dir, c, replications) for c in combos]
    store = EvalCache(_cache_folder(cache), reuse=True)
    unique = list({p.key: p for p in points}.values())  # a value given twice runs once
    results = _cached(store, unique)
    todo = [p for p in unique if p.key not in results]
    bar = _progress_bar(len(unique), len(results), progress)
    try:
        with TaskMapper(jobs, _address(scheduler)) as mapper:
            for point, result in _simulate(mapper, todo):
                store.put(point.key, {"result_json": json.dumps(result)})
                results[point.key] = result
                bar.update(1)
            executor = mapper.kind
    finally:
        bar.close()
    df = frame([p.values for p in points], [results[p.key] for p in points])
    df.attrs.update(
        computed=len(todo), cache_hits=store.hits, executor=executor,
        wall_s=round(time.perf_counter() - t0, 3), cache_problem=store.problem,
    )  # fmt: skip
    return df


def combinations(vary: Mapping[str, Iterable[Any]], *, zip_lists: bool) -> list[dict[str, Any]]:
    """The points: each a mapping of every varied key to one of its values, in order."""
    if not vary:
        raise InputError("name at least one key to vary (KEY=V1,V2,...)", field="--vary")
    lists: dict[str, list[Any]] = {}
    for key, values in vary.items():
        if not isinstance(key, str) or not key.strip():
            raise InputError(f"a key must be a dotted scenario path, got {key!r}", field="--vary")
        if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
            raise InputError(f"give a list of values, got {values!r}", field=f"--vary {key}")
        lists[key] = [_plain(v) for v in values]
        if not lists[key]:
            raise InputError("no values given", field=f"--vary {key}")
    keys = list(lists)
    if zip_lists:
        lengths = {k: len(v) for k, v in lists.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k} has {n}" for k, n in lengths.items())
            raise InputError(f"needs lists of one length: {shown}", field="--zip")
        rows: Iterable[tuple[Any, ...]] = zip(*lists.values(), strict=True)
    else:
        rows = itertools.product(*lists.values())
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones (``np.arange`` values), so they print and compare alike."""
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, list | dict) else value


def assignment(key: str, value: Any) -> str:
    """``KEY=VALUE`` for ``--set``; the value as JSON (a subset of YAML) so that strings stay
    strings (YAML reads ``On`` and ``yes`` as booleans); a float keeps a point in its mantissa
    (YAML 1.1 reads ``1e-05`` as a string, ``1.0e-05`` as a number)."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        raise InputError(
            f"cannot use {value!r} as a scenario value (numbers, strings, booleans, lists)",
            field=f"--vary {key}",
        ) from None
    if isinstance(value, float) and re.fullmatch(r"-?\d+e[-+]\d+", text):
        text = text.replace("e", ".0e", 1)
    return f"{key}={text}"


def make_point(
    base: Scenario,
    source: str,
    base_dir: Path | None,
    values: dict[str, Any],
    replications: int | None,
) -> Point:
    """Validate and prepare one point (bad keys and values fail here, before any simulation)."""
    overrides = tuple(assignment(k, v) for k, v in values.items())
    scenario_json = base.model_dump_json(exclude_unset=True)
    sc = load_scenario_data(json.loads(scenario_json), source=source, overrides=overrides)
    prep = prepare(sc, source=source, base_dir=base_dir)
    reps = replications or sc.replications
    key = candidate_key(scenario_json, overrides, sc.seed, reps, _context(prep))
    folder = str(base_dir) if base_dir else None
    tasks = tuple((scenario_json, source, folder, overrides, sc.seed, i) for i in range(reps))
    return Point(dict(values), overrides, prep, reps, key, tasks)


def _context(prep: Prepared) -> str:
    """What the cache key needs beyond the scenario text: what its names resolve to (hardware,
    costs, directives, mix) and the versions, so an edited cost file never reuses a stale point."""
    parts = (
        SWEEP_CACHE_VERSION,
        __version__,
        code_fingerprint(),
        prep.hardware,
        prep.costs,
        prep.directives,
    )
    return "\n".join(repr(p) for p in (*parts, prep.classes))


def _cached(store: EvalCache, points: Sequence[Point]) -> dict[str, dict[str, Any]]:
    """The JSON results the cache holds for ``points``, by point key."""
    found: dict[str, dict[str, Any]] = {}
    for p in points:
        hit = store.get(p.key)
        if hit is not None and isinstance(hit.get("result_json"), str):
            found[p.key] = json.loads(hit["result_json"])
    return found


def _address(scheduler: Any) -> str | None:
    """A scheduler address, from a string or from a Dask ``LocalCluster`` / ``Client`` object."""
    if scheduler is None or isinstance(scheduler, str):
        return scheduler
    address = getattr(scheduler, "scheduler_address", None) or getattr(
        getattr(scheduler, "scheduler", None), "address", None
    )
    if not isinstance(address, str):
        raise InputError(
            f"expected an address, dask://local or a Dask cluster, got {scheduler!r}",
            field="--scheduler",
        )
    return address


def _simulate(
    mapper: TaskMapper, points: Sequence[Point]
) -> Iterator[tuple[Point, dict[str, Any]]]:
    """Each point's JSON result (``mpmsim run --json``) as soon as its replications are done.

    One task per replication, so that a few points still fill every worker; the result goes
    through JSON as a cached one does, so fresh and cached points give the same row.
    """
    done = mapper.map(simulate_replication, [t for p in points for t in p.tasks])
    for point in points:
        parts = [next(done) for _ in point.tasks]
        res = RunResult(
            prepared=point.prepared,
            records=tuple(record for record, _ in parts),
            replications=tuple(rep for _, rep in parts),
        )
        yield point, json.loads(json.dumps(res.to_dict()))


def _cache_folder(cache: bool | str | Path) -> Path | None:
    """The cache folder: ``$XDG_CACHE_HOME/mpmsim/sweep`` for True, none for False."""
    if cache is False:
        return None
    if cache is True:
        from mpmsim.search.optimizer import default_cache_dir

        return default_cache_dir().parent / "sweep"
    return Path(cache)


class _NoBar:
    """What a progress bar offers, doing nothing (``progress=False``)."""

    def update(self, n: int = 1) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""


def _progress_bar(total: int, done: int, progress: bool) -> Any:
    """A tqdm bar on stderr, starting at the ``done`` cached points: a widget in Jupyter when
    ipywidgets is installed, else text (in a terminal, and in Jupyter without the warning
    tqdm.auto would print there)."""
    if not progress:
        return _NoBar()
    widgets = importlib.util.find_spec("ipywidgets") is not None
    tqdm = importlib.import_module("tqdm.auto" if widgets else "tqdm").tqdm
    return tqdm(total=total, initial=done, unit="point", desc="sweep", file=sys.stderr)

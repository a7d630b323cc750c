"""A sweep's table: each point's JSON result (``mpmsim run --json``) flattened into one row.

The flattening knows no figure by name, so keys other parts add to the result appear as
columns by themselves:

- nested mappings become dotted names (``latency_ms.p95``, ``bottleneck.resource``);
- a confidence half-width ``X_ci95`` (anywhere in a name: ``latency_ms_ci95.p95``) whose
  figure ``X`` is in the row becomes ``X.ci_low`` and ``X.ci_high`` right after ``X``
  (``throughput_rps.ci_low``, ``latency_ms.p95.ci_high``); one without its figure stays as is;
- a list of numbers (a distribution's quantiles: ``classes.<name>.latency_ms.quantiles``) is
  left out: one row per point has no room for a curve, and the percentiles that matter are
  figures of their own (``latency_ms.p99``);
- any other list becomes two columns: ``NAME`` (its items joined by `` | ``; a mapping item as
  compact JSON) and ``NAME.count`` (``warnings``, ``warnings.count``); a list of mappings that
  each have a distinct string ``name`` is also flattened under ``NAME.<name>.``;
- wall-clock times (``sim.wall_s``) are left out: they are not results of the model, and
  without them the same seed gives the same table on any machine and executor.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

CI_SUFFIX = "_ci95"
LIST_JOIN = " | "
WALL_CLOCK = frozenset({"sim.wall_s"})
"""Flattened names left out of a row: they measure this machine, not the model."""


def flatten(result: Mapping[str, Any]) -> dict[str, Any]:
    """One run's JSON result as ``{dotted name: scalar}``, in the result's order."""
    flat: dict[str, Any] = {}
    _into(flat, "", result)
    return _with_intervals(flat)


def frame(
    inputs: Sequence[Mapping[str, Any]], results: Sequence[Mapping[str, Any]]
) -> pd.DataFrame:
    """One row per point: its varied keys first, then its flattened result.

    Columns keep the result's order; a figure only some points have (an MPM's own directives,
    a trace block) sits where those points have it and is empty in the others. A figure named
    like a varied key is left out (the input column holds the same value: ``seed``).
    """
    import pandas as pd

    rows = []
    for values, result in zip(inputs, results, strict=True):
        row = dict(values)
        row.update((k, v) for k, v in flatten(result).items() if k not in values)
        rows.append(row)
    return pd.DataFrame(rows, columns=_merged_order(rows))


def _merged_order(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every row's keys in one order: a key new in a row goes right after the key before it."""
    order: list[str] = []
    for row in rows:
        at = 0
        for key in row:
            if key in order:
                at = order.index(key) + 1
            else:
                order.insert(at, key)
                at += 1
    return order


def _into(flat: dict[str, Any], name: str, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _into(flat, f"{name}.{key}" if name else str(key), item)
    elif isinstance(value, list | tuple):
        if _numbers(value):
            return
        flat[name] = LIST_JOIN.join(_text(item) for item in value)
        flat[f"{name}.count"] = len(value)
        names = [item.get("name") for item in value if isinstance(item, Mapping)]
        named = len(names) == len(value) and all(isinstance(n, str) for n in names)
        if named and len(set(names)) == len(names):
            for item in value:
                rest = {k: v for k, v in item.items() if k != "name"}
                _into(flat, f"{name}.{item['name']}", rest)
    elif name not in WALL_CLOCK:
        flat[name] = value


def _numbers(items: Sequence[Any]) -> bool:
    """A non-empty list of numbers (some may be missing: None)."""
    found = [x for x in items if x is not None]
    return bool(found) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in found
    )


def _text(item: Any) -> str:
    """A list item in a text column: a string as is, anything else as compact JSON."""
    if isinstance(item, str):
        return item
    return json.dumps(item, separators=(",", ":"))


def _figure_of(name: str) -> str | None:
    """``X`` for a half-width named ``X_ci95`` (the suffix on any segment), else None."""
    parts = name.split(".")
    for i, part in enumerate(parts):
        if part.endswith(CI_SUFFIX) and len(part) > len(CI_SUFFIX):
            return ".".join([*parts[:i], part.removesuffix(CI_SUFFIX), *parts[i + 1 :]])
    return None


def _with_intervals(flat: dict[str, Any]) -> dict[str, Any]:
    """Half-widths turned into ``.ci_low`` / ``.ci_high`` beside their figure."""
    half: dict[str, Any] = {}
    for name, value in flat.items():
        figure = _figure_of(name)
        if figure is not None and figure in flat:
            half[figure] = value
    out: dict[str, Any] = {}
    for name, value in flat.items():
        figure = _figure_of(name)
        if figure is not None and figure in flat:
            continue
        out[name] = value
        if name in half:
            out[f"{name}.ci_low"], out[f"{name}.ci_high"] = _bounds(value, half[name])
    return out


def _bounds(value: Any, half_width: Any) -> tuple[float | None, float | None]:
    """``value -/+ half_width`` (rounded as the result is), or nothing when either is missing."""
    numbers = (value, half_width)
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in numbers):
        return None, None
    if any(math.isnan(float(x)) for x in numbers):
        return None, None
    return round(value - half_width, 4), round(value + half_width, 4)

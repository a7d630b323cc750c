"""What the sizing report says, as plain strings that the HTML and Markdown pages both render.

The first screen a buyer reads: one sentence with the answer, the pass/fail table (one row
per instance type, each goal's achieved figure) and the fleet with its cost; then the goals, the
recommended Apache block with its run's figures and logged lines, and a wider table with every
instance type's configuration. Figures are rounded for people by :mod:`mpmsim.sizing.format`,
here, once, so that both formats say the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mpmsim.sizing import format as fmt
from mpmsim.sizing.verdict import fleet_count, judged, passes

if TYPE_CHECKING:
    from mpmsim.engine.replications import RunResult

GOAL_LABELS = {
    "throughput_rps": "throughput",
    "p95_ms": "p95",
    "error_rate": "errors",
    "memory_mib": "peak memory",
}
"""Goal -> its column in the pass/fail table, in table order (the goals of search.goals)."""
VERDICT = "goals"
DETAIL_COLUMNS = (
    "instance", "vCPUs", "RAM", "MPM", "MaxRequestWorkers", "ThreadsPerChild", "CPU",
    "CPU credits", "what binds",
)  # fmt: skip


@dataclass(frozen=True)
class Row:
    """One table row: its cells, and how it is marked."""

    cells: tuple[str, ...]
    passes: bool
    recommended: bool


@dataclass(frozen=True)
class Page:
    """The report's content, in reading order."""

    title: str
    answer: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    fleet: str | None
    goals: str
    assumed: tuple[str, ...]
    """Under the answer: what one child is assumed to hold, and warnings about that figure."""
    assumptions: tuple[str, ...]
    block: str | None
    measured: str | None
    notes: tuple[str, ...]
    details: tuple[Row, ...]
    blocks: tuple[tuple[str, str], ...]


def recommended_row(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The row of the recommended instance type, None when nothing passed."""
    rec = data.get("recommendation")
    name = rec.get("instance") if rec else None
    return next((r for r in data.get("instances", []) if r.get("instance") == name), None)


def _missed(name: str, g: Mapping[str, Any]) -> str:
    """One missed goal for people: ``p95 2.4 s (goal 500 ms)``."""
    unit = str(g.get("unit", ""))
    achieved, target = fmt.by_unit(g.get("achieved"), unit), fmt.by_unit(g.get("target"), unit)
    return f"{GOAL_LABELS.get(name, name)} {achieved} (goal {target})"


def shortfalls(row: Mapping[str, Any]) -> str:
    """What one instance of a type missed at the whole load, goal by goal when the report
    has the checks."""
    goals = row.get("goals") or {}
    missed = [_missed(n, g) for n, g in goals.items() if not g.get("met", True)]
    return ", ".join(missed) if missed else "no configuration met the goals"


def verdict(row: Mapping[str, Any]) -> str:
    """The pass/fail cell: pass, pass as a fleet (and what one alone misses), or fail and why."""
    count = fleet_count(row)
    if count == 1:
        return "✓ pass"
    if count is not None:
        return f"✓ pass as {count} instances (one alone: {shortfalls(row)})"
    note = (row.get("fleet") or {}).get("note")
    return f"✗ fail: {shortfalls(row)}" + (f"; {note}" if note else "")


def answer(data: Mapping[str, Any]) -> str:
    """The one sentence a buyer reads first (the report's own ``answer`` when it has one)."""
    if data.get("answer"):
        return str(data["answer"])
    rec, row = data.get("recommendation"), recommended_row(data)
    if rec is None or row is None:
        why = "; ".join(f"{r.get('instance')}: {shortfalls(r)}" for r in data.get("instances", []))
        return f"None of these instance types meets the goals ({why})."
    fleet = row.get("fleet") or {}
    count = int(fleet.get("count", 1))
    what = f"{count} × {row['instance']}" if count > 1 else f"one {row['instance']}"
    monthly = fleet.get("monthly_usd", row.get("price_per_month_usd"))
    return f"Buy {what} for {fmt.usd(monthly)} a month: {rec.get('why', '')}."


def _n_plus_1(value: Any) -> str:
    """The N+1 note: a sentence, or a mapping with the count and the monthly price."""
    if isinstance(value, Mapping):
        count, usd = value.get("count"), value.get("monthly_usd")
        return f"; with one spare (N+1): {count} instances, {fmt.usd(usd)} a month"
    return f"; N+1: {value}" if value else ""


def fleet_line(data: Mapping[str, Any]) -> str | None:
    """The fleet to buy and what it costs, or None without a recommendation."""
    row = recommended_row(data)
    if row is None:
        return None
    f = row.get("fleet") or {}
    per = f.get("per_instance_rps", row.get("sustained_throughput_rps", row.get("throughput_rps")))
    text = (
        f"Fleet: {int(f.get('count', 1))} × {row['instance']} ({row.get('vcpus')} vCPUs, "
        f"{fmt.mib(row.get('ram_mib'))} each), {fmt.rps(per)} each, "
        f"{fmt.usd(f.get('monthly_usd', row.get('price_per_month_usd')))} a month, "
        f"{fmt.usd(f.get('usd_per_million_requests', row.get('usd_per_million_requests')))} "
        "per million requests"
    )
    return text + _n_plus_1(f.get("n_plus_1")) + "."


def summary_columns(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The pass/fail table's columns: the goals that any instance type was judged on."""
    names = {n for r in data.get("instances", []) for n in (r.get("goals") or {})}
    goals = [label for n, label in GOAL_LABELS.items() if n in names]
    goals = goals or ["throughput", "p95", "peak memory"]  # a report without per-goal checks
    return ("instance", VERDICT, *goals, "fleet", "$ a month", "$ per M requests")


_PLAIN = {"throughput": ("throughput_rps", "req/s"), "p95": ("p95_ms", "ms"),
          "peak memory": ("memory_peak_mib", "MiB")}  # fmt: skip


def _goal_cell(row: Mapping[str, Any], label: str) -> str:
    """A goal's achieved figure (± its interval), ✗ when missed; the row's own keys without
    per-goal checks."""
    name = next(n for n, lab in GOAL_LABELS.items() if lab == label)
    shown = judged(row)
    g = (shown.get("goals") or {}).get(name)
    if g is None:
        key, unit = _PLAIN.get(label, (name, ""))
        return fmt.by_unit(shown.get(key), unit) if passes(row) else fmt.NONE
    ci = shown.get(f"{name}_ci95")
    text = fmt.with_ci(g.get("achieved"), ci, str(g.get("unit", "")))
    return text if g.get("met", True) else f"✗ {text}"


def _summary_row(row: Mapping[str, Any], columns: tuple[str, ...], recommended: bool) -> Row:
    f = row.get("fleet") or {}
    count = fleet_count(row)
    cells = [str(row.get("instance")) + (" ★" if recommended else ""), verdict(row)]
    cells += [_goal_cell(row, c) for c in columns[2:-3]]
    cells += [
        f"{count} × {row.get('instance')}" if count else fmt.NONE,
        fmt.usd(f.get("monthly_usd") if count else row.get("price_per_month_usd")),
        fmt.usd(judged(row).get("usd_per_million_requests")) if count else fmt.NONE,
    ]
    return Row(tuple(cells), passes(row), recommended)


def _binds(shown: Mapping[str, Any], count: int) -> str:
    """What stops a smaller configuration (and the run's bottleneck), or one instance fewer."""
    binding = shown.get("binding") or {}
    if binding:
        text = str(binding.get("constraint", fmt.NONE))
        return text + (
            f" (bottleneck: {binding['bottleneck']})" if binding.get("bottleneck") else ""
        )
    goal = shown.get("binding_goal")
    if count > 1 and goal:
        fewer = "one instance" if count == 2 else f"{count - 1} instances"
        return f"{fewer} would miss {GOAL_LABELS.get(goal, goal)}"
    return fmt.NONE


def _missed_most(row: Mapping[str, Any]) -> str:
    """A failing type's goal missed by most (the report's ``binding_goal``)."""
    goal = row.get("binding_goal")
    return f"misses {GOAL_LABELS.get(goal, goal)} most" if goal else fmt.NONE


def _detail_row(row: Mapping[str, Any], recommended: bool) -> Row:
    """The configuration shown for a type (its fleet member's when several pass)."""
    shown = judged(row)
    burst = shown.get("burst") or {}
    count = fleet_count(row) or 1
    binds = _binds(shown, count) if passes(row) else _missed_most(row)
    cells = (
        str(row.get("instance")) + (f" (one of {count})" if count > 1 else ""),
        str(row.get("vcpus", fmt.NONE)),
        fmt.mib(row.get("ram_mib")),
        str(shown.get("mpm") or fmt.NONE),
        str(shown.get("MaxRequestWorkers") or fmt.NONE),
        str(shown.get("ThreadsPerChild") or fmt.NONE),
        fmt.percent(shown.get("cpu_utilization"), 0),
        str(burst.get("note") or fmt.NONE),
        binds if shown.get("MaxRequestWorkers") is not None else fmt.NONE,
    )
    return Row(cells, passes(row), recommended)


def goals_text(data: Mapping[str, Any]) -> str:
    """The goals and the objective in words."""
    g = data.get("goals", {})
    p95 = "no p95 goal" if g.get("p95_ms") is None else f"p95 ≤ {fmt.ms(g['p95_ms'])}"
    what = "the most throughput"
    if data.get("objective") == "memory@load":
        load = g.get("design_rps") or g.get("offered_rps")
        what = f"the least memory that carries {fmt.rps(load)}"
    text = (
        f"Scenario {data.get('source', '')}. On each instance type the optimizer looked for "
        f"{what} within the goals: {p95}, errors ≤ {fmt.percent(g.get('max_error_rate'))}, "
        f"RAM headroom ≥ {fmt.percent(g.get('headroom'), 0)}. Monthly prices assume "
        f"{float(data.get('hours_per_month', 730)):.0f} hours."
    )
    return text


def assumptions(data: Mapping[str, Any]) -> tuple[str, ...]:
    """What the figures assume: how the load balancer splits the load, what memory costs."""
    return tuple(str(data[k]) for k in ("load_balancer", "memory_assumption") if data.get(k))


def assumed(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The memory assumption and its warnings, for the first screen: defaults must not decide
    the answer unseen (a minimal Apache's 3 MiB child sizing a PHP site)."""
    from mpmsim.search.assumptions import assumption_lines

    found = data.get("memory_assumptions")
    if found:
        return tuple(line.strip() for line in assumption_lines(found))
    line = data.get("memory_assumption")  # a report with the one-line form only
    return (str(line),) if line else ()


def measured(run: RunResult | None) -> str | None:
    """The recommended configuration's run in one line, with 95 % confidence half-widths."""
    if run is None:
        return None
    d = run.to_dict()
    lat, ci = d["latency_ms"], d["latency_ms_ci95"]
    how = "between replications" if d["ci_method"] == "replications" else f"from {d['ci_method']}"
    return (
        f"Simulated on {d['hardware']} ({d['replications']} replications; ± is a 95 % "
        f"confidence half-width, {how}): "
        f"{fmt.with_ci(d['throughput_rps'], d['throughput_rps_ci95'], 'req/s')}, "
        f"p50 {fmt.with_ci(lat['p50'], ci.get('p50'), 'ms')}, "
        f"p95 {fmt.with_ci(lat['p95'], ci.get('p95'), 'ms')}, "
        f"p99 {fmt.with_ci(lat['p99'], ci.get('p99'), 'ms')}, "
        f"peak memory {fmt.mib(d['memory_mib']['peak'])}, "
        f"CPU {fmt.percent(d['cpu_utilization'], 0)}."
    )


def notes(data: Mapping[str, Any], run: RunResult | None) -> tuple[str, ...]:
    """Warnings and error_log lines of the recommended block's run."""
    d: Mapping[str, Any] = data.get("recommended_run") or (run.to_dict() if run else {})
    out = [f"warning: {w}" for w in d.get("warnings", [])]
    for line in d.get("error_log", []):
        count = f" (×{line['count']})" if line.get("count", 1) > 1 else ""
        out.append(f"error_log at {line.get('t_s')} s: {line.get('code', '')} "
                   f"{line.get('message', '')}{count}")  # fmt: skip
    return tuple(out)


def _block(data: Mapping[str, Any]) -> str | None:
    """The recommended Apache block: the recommendation's, else its type's fleet member's."""
    rec, row = data.get("recommendation") or {}, recommended_row(data)
    if row is None:
        return None
    block = rec.get("block") or judged(row).get("block")
    if block is None:
        return None
    pool = rec.get("fpm_block") or judged(row).get("fpm_block")  # PHP-FPM's, to paste too
    return str(block) if not pool else f"{block}\n; PHP-FPM pool (php-fpm.d/www.conf)\n{pool}"


def build_page(data: Mapping[str, Any], run: RunResult | None = None) -> Page:
    """The content of the report ``data`` (and the recommended configuration's ``run``)."""
    rec = recommended_row(data)
    rows = list(data.get("instances", []))
    name = rec.get("instance") if rec else None
    columns = summary_columns(data)
    return Page(
        title=f"Sizing report: {data.get('scenario', '')}",
        answer=answer(data),
        columns=columns,
        rows=tuple(_summary_row(r, columns, r.get("instance") == name) for r in rows),
        fleet=fleet_line(data),
        goals=goals_text(data),
        assumed=assumed(data),
        assumptions=assumptions(data),
        block=_block(data),
        measured=measured(run),
        notes=notes(data, run),
        details=tuple(_detail_row(r, r.get("instance") == name) for r in rows),
        blocks=tuple(
            (str(r["instance"]), str(judged(r)["block"]))
            for r in rows
            if passes(r) and judged(r).get("block")
        ),
    )

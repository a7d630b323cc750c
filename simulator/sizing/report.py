"""``mpmsim report``: one scenario sized on several instance types, and which fleet to buy.

For each instance type the optimizer sizes one instance at the whole load (times ``growth``)
and, when it misses a goal, the smallest fleet behind a load balancer whose members meet every
goal at their share (:mod:`mpmsim.sizing.instance`). The recommendation is the cheapest fleet
that meets every goal (:mod:`mpmsim.sizing.recommendation`); its member's block is then run
again with its ``run_args``, and that run's figures, warnings and error_log are in the report.
Every figure is simulated; prices come from the hardware catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mpmsim.engine.replications import RunResult, run
from mpmsim.errors import InputError
from mpmsim.models.hardware import load_hardware
from mpmsim.models.hardware.credits import HOURS_PER_MONTH
from mpmsim.search.assumptions import assumption_lines
from mpmsim.search.goals import DEFAULT_HEADROOM, Achieved, all_met, assess, goals_for
from mpmsim.sizing.fleet import MAX_COUNT, Design, design_for, lb_assumption
from mpmsim.sizing.instance import Sized, instance_row, size_instance
from mpmsim.sizing.member import SearchOptions
from mpmsim.sizing.recommendation import answer, recommend
from mpmsim.sizing.result import SizingReport
from mpmsim.sizing.text import render_text
from mpmsim.spec.reading import load_scenario
from mpmsim.spec.scenario import Scenario
from mpmsim.spec.session_ramp import fixed_window_note


def build_report(
    scenario: str | Path,
    instances: Sequence[str],
    *,
    mpm: str | None = "all",
    p95_ms: float | None = None,
    max_error_rate: float = 0.01,
    headroom: float = DEFAULT_HEADROOM,
    growth: float = 1.0,
    target_rps: float | None = None,
    max_count: int = MAX_COUNT,
    replications: int | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    cache_dir: str | Path | None = None,
    resume: bool = False,
    hours_per_month: float = HOURS_PER_MONTH,
    overrides: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> SizingReport:
    """Size ``scenario`` on every instance type, as one instance and as a fleet; recommend one.

    ``growth`` multiplies the load (1.5: plan for 50 % more); ``target_rps`` replaces an open
    load's offered rate (a closed load: a throughput the fleet must reach). Bad input raises
    :class:`~mpmsim.errors.InputError`. ``overrides`` are ``--set`` assignments applied to the
    scenario first (``duration_s=20``).
    """
    names = list(dict.fromkeys(n.strip() for n in instances if n.strip()))
    if not names:
        raise InputError(
            "name at least one instance, e.g. t3.medium,c6i.large", field="--instances"
        )
    specs = [load_hardware(n, source="--instances", field="--instances") for n in names]
    sc = load_scenario(scenario, tuple(overrides))
    design = design_for(sc, growth, target_rps)
    opts = SearchOptions(
        mpm=mpm, p95_ms=p95_ms, max_error_rate=max_error_rate, headroom=headroom,
        replications=replications, jobs=jobs, scheduler=scheduler, cache_dir=cache_dir,
        resume=resume, progress=progress, overrides=tuple(overrides),
    )  # fmt: skip
    sized = [
        size_instance(scenario, sc, n, hw, design, opts, hours_per_month, max_count)
        for n, hw in zip(names, specs, strict=True)
    ]
    data = _data(str(scenario), sc, opts, design, sized, hours_per_month)
    chosen = _chosen(sized, data["recommendation"])
    result: RunResult | None = None
    data["recommended_run"] = None
    if chosen is not None:
        result, data["recommended_run"] = rerun(scenario, chosen, opts)
    data["answer"] = answer(data)
    points = tuple(chosen.member.optimized["points"]) if chosen and chosen.member else ()
    return SizingReport(data, result, points)


def _data(
    source: str,
    sc: Scenario,
    opts: SearchOptions,
    design: Design,
    sized: Sequence[Sized],
    hours: float,
) -> dict[str, Any]:
    """The report's JSON but for the recommended run and the answer."""
    rows = [instance_row(s, hours) for s in sized]
    first = next((m.optimized for s in sized for m in s.members.values() if m.optimized), {})
    assumed = first.get("assumptions")
    rec = recommend(rows, per_request=design.rps is None)
    return {
        "scenario": sc.name,
        "source": source,
        "objective": first.get("objective"),
        "goals": _goals(opts, design),
        "load_balancer": lb_assumption(sc),
        "memory_assumption": None if assumed is None else memory_line(assumed),
        "memory_assumptions": assumed,
        "hours_per_month": hours,
        "instances": rows,
        "recommendation": rec,
        "goals_met": rec is not None,
        "window_ramp": fixed_window_note(sc),
    }


def memory_line(assumed: dict[str, Any]) -> str:
    """The memory assumption (what a child and a request hold, and where that comes from)."""
    return " ".join(line.strip() for line in assumption_lines(assumed))


def _goals(opts: SearchOptions, design: Design) -> dict[str, Any]:
    """The targets every fleet is judged against."""
    return {
        "p95_ms": opts.p95_ms,
        "max_error_rate": opts.max_error_rate,
        "headroom": opts.headroom,
        "offered_rps": design.offered_rps,
        "target_rps": design.target_rps,
        "growth": design.growth,
        "design_rps": design.rps,
    }


def _chosen(sized: Sequence[Sized], rec: dict[str, Any] | None) -> Sized | None:
    return None if rec is None else next(s for s in sized if s.name == rec["instance"])


def rerun(
    scenario: str | Path, sized: Sized, opts: SearchOptions
) -> tuple[RunResult, dict[str, Any]]:
    """Run the recommended member's ``run_args`` again: its result, and what the report says."""
    member = sized.member
    assert member is not None
    args = list(member.row["run_args"])
    sets = tuple(args[i + 1] for i, a in enumerate(args) if a == "--set")
    seed = int(args[args.index("--seed") + 1])
    reps = int(args[args.index("--replications") + 1])
    if opts.progress is not None:
        opts.progress(f"report: re-running the recommended block on {sized.name}")
    res = run(scenario, overrides=sets, seed=seed, replications=reps)
    d = res.to_dict()
    goals = goals_for(res.prepared, p95_ms=opts.p95_ms, max_error_rate=opts.max_error_rate,
                      headroom=opts.headroom, target_rps=member.share.target_rps)  # fmt: skip
    checks = assess(goals, Achieved.from_run(d))
    summary = {
        "instance": sized.name,
        "count": sized.count,
        "run_args": args,
        "throughput_rps": d["throughput_rps"],
        "throughput_rps_ci95": d["throughput_rps_ci95"],
        "p95_ms": d["latency_ms"]["p95"],
        "p95_ms_ci95": d["latency_ms_ci95"]["p95"],
        "memory_peak_mib": d["memory_mib"]["peak"],
        "cpu_utilization": d["cpu_utilization"],
        "goals": checks,
        "goals_met": all_met(checks),
        "warnings": d["warnings"],
        "error_log": d["error_log"],
    }
    return res, summary


__all__ = ["HOURS_PER_MONTH", "build_report", "render_text", "rerun"]

"""Resolve a validated scenario into everything a run needs: hardware, costs, Apache's settings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from mpmsim.errors import InputError
from mpmsim.models.apache.config_file import read_apache_tree
from mpmsim.models.apache.directives import (
    EffectiveDirectives,
    apply_apache_rules,
    canonical_name,
    normalize_directives,
)
from mpmsim.models.costs import CostModel, load_costs
from mpmsim.models.hardware import HardwareSpec, load_hardware
from mpmsim.spec.mix import resolve_mix
from mpmsim.spec.php import PhpSetup, resolve_php, with_mod_php
from mpmsim.spec.scenario import Scenario, TraceLoad
from mpmsim.workloads.access_log.url_classes import parse_classes
from mpmsim.workloads.mix import ResolvedClass
from mpmsim.workloads.trace import TraceOptions, TracePlan, class_map, plan_trace


@dataclass(frozen=True)
class Prepared:
    """A scenario with its references resolved and Apache's start-up arithmetic applied."""

    scenario: Scenario
    source: str
    hardware: HardwareSpec
    costs: CostModel
    mpm: str
    directives: EffectiveDirectives
    warnings: tuple[str, ...]
    classes: tuple[ResolvedClass, ...]
    trace: TracePlan | None = None
    """A trace load's probed log and the part of it replayed."""
    php: PhpSetup = field(default_factory=PhpSetup)
    """mod_php, PHP-FPM pools and proxied backends, and where each class runs."""

    @property
    def duration_s(self) -> float | None:
        """Simulated time limit, if any: the load's own, else the scenario's; a trace load
        replays its (windowed, scaled) span, which the scenario's ``duration_s`` only caps."""
        load_s, scenario_s = self.scenario.load.duration_s, self.scenario.duration_s
        if self.trace is None or load_s is not None:
            return load_s or scenario_s
        return min(self.trace.duration_s, scenario_s or math.inf)


def prepare(
    scenario: Scenario, *, source: str = "<scenario>", base_dir: Path | None = None
) -> Prepared:
    """Resolve hardware, costs, directives (with an Apache config file) and the request mix."""
    hardware = load_hardware(scenario.hardware, relative_to=base_dir, source=source)
    costs = load_costs(scenario.costs, relative_to=base_dir, source=source)
    server = scenario.server
    raw: dict[str, object] = {}
    mpm: str | None = server.mpm
    loaded: tuple[str, ...] = ()
    renamed: tuple[str, ...] = ()  # the config file's old directive names, as Apache logs them
    if server.config_file:
        path = Path(server.config_file)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        config = read_apache_tree(path, mpm)
        mpm = mpm or config.mpm
        # its values checked as its own (an error names the file that has them, not the scenario)
        normalize_directives(config.directives, source=str(path), field_prefix="")
        raw.update(config.directives)
        loaded, renamed = config.modules, config.renamed
    if mpm is None:
        raise InputError(
            "no MPM given: set server.mpm to prefork, worker or event (or give a config_file "
            "with a LoadModule mpm_*_module line)",
            file=source,
            field="server.mpm",
        )
    # Directives written in the scenario win over the config file's (under any spelling).
    by_name = {canonical_name(k) or k: k for k in raw}
    for key, value in server.directives.items():
        raw.pop(by_name.get(canonical_name(key) or key, key), None)
        raw[key] = value
    values, notes = normalize_directives(raw, source=source)
    notes = [*renamed, *(n for n in notes if n not in renamed)]
    directives, warnings = apply_apache_rules(mpm, values, vcpus=hardware.vcpus)
    php = resolve_php(scenario, mpm, loaded, costs, source=source, base_dir=base_dir)
    costs = with_mod_php(costs, php.mod_php)
    classes = resolve_mix(scenario.mix, costs, source=source)
    load = scenario.load
    trace = (
        _trace_plan(scenario, load, classes, base_dir, source)
        if isinstance(load, TraceLoad)
        else None
    )
    return Prepared(
        scenario=scenario,
        source=source,
        hardware=hardware,
        costs=costs,
        mpm=mpm,
        directives=directives,
        warnings=tuple(notes) + tuple(warnings) + php.notes,
        classes=tuple(classes),
        trace=trace,
        php=php,
    )


def _trace_plan(
    scenario: Scenario,
    load: TraceLoad,
    classes: list[ResolvedClass],
    base_dir: Path | None,
    source: str,
) -> TracePlan:
    """Probe a trace load's log and place its replay; bad input names the scenario's key."""
    path = Path(load.file)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    warmup = 0.0 if scenario.warmup_s == "auto" else scenario.warmup_s
    options = TraceOptions(
        path=str(path),
        log_format=load.format,
        speedup=load.speedup,
        window=load.window,
        rule=load.sessions.rule,
        keepalive_timeout_s=load.sessions.keepalive_timeout_s,
        class_rules=tuple(load.classes),
        logged_service=load.service == "logged",
        cpu_share=load.cpu_share,
    )
    try:
        url_classes = parse_classes(options.class_rules, option="load.classes")
        class_map(url_classes.names, [c.name for c in classes])
        plan = plan_trace(options, warmup)
    except InputError as error:
        detail = error.detail if error.file is None else f"{error.file}: {error.detail}"
        raise InputError(detail, file=source, field=error.field or "load.file") from None
    if options.logged_service and not plan.has_duration:
        raise InputError(
            "the log's format has no %D (or %T): use service: mix",
            file=source,
            field="load.service",
        )
    duration = load.duration_s or min(plan.duration_s, scenario.duration_s or math.inf)
    if scenario.warmup_s != "auto" and scenario.warmup_s >= duration:
        raise InputError(
            f"must be less than the replay's {duration:g} simulated seconds, or no request is "
            f"measured (got {scenario.warmup_s:g})",
            file=source,
            field="warmup_s",
        )
    return plan

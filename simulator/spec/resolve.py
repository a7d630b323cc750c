"""Resolve a validated scenario into everything a run needs: hardware, costs, Apache's settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mpmsim.errors import InputError
from mpmsim.models.apache.config_file import read_apache_config
from mpmsim.models.apache.directives import (
    EffectiveDirectives,
    apply_apache_rules,
    canonical_name,
    normalize_directives,
)
from mpmsim.models.costs import CostModel, load_costs
from mpmsim.models.hardware import HardwareSpec, load_hardware
from mpmsim.spec.mix import resolve_mix
from mpmsim.spec.scenario import Scenario
from mpmsim.workloads.mix import ResolvedClass


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

    @property
    def duration_s(self) -> float | None:
        """Simulated time limit, if any (the load's own, else the scenario's)."""
        return self.scenario.load.duration_s or self.scenario.duration_s


def prepare(
    scenario: Scenario, *, source: str = "<scenario>", base_dir: Path | None = None
) -> Prepared:
    """Resolve hardware, costs, directives (with an Apache config file) and the request mix."""
    hardware = load_hardware(scenario.hardware, relative_to=base_dir, source=source)
    costs = load_costs(scenario.costs, relative_to=base_dir, source=source)
    server = scenario.server
    raw: dict[str, object] = {}
    mpm: str | None = server.mpm
    if server.config_file:
        path = Path(server.config_file)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        detected, from_file = read_apache_config(path, mpm)
        mpm = mpm or detected
        raw.update(from_file)
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
    directives, warnings = apply_apache_rules(mpm, values, vcpus=hardware.vcpus)
    classes = resolve_mix(scenario.mix, costs, source=source)
    return Prepared(
        scenario=scenario,
        source=source,
        hardware=hardware,
        costs=costs,
        mpm=mpm,
        directives=directives,
        warnings=tuple(notes) + tuple(warnings),
        classes=tuple(classes),
    )

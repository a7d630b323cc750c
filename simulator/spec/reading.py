"""Reading a scenario file, applying ``--set`` overrides and validating it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from mpmsim.errors import InputError
from mpmsim.errors.spec_files import read_yaml_mapping
from mpmsim.errors.validation import validate_spec
from mpmsim.models.apache.directives import normalize_directives
from mpmsim.spec.scenario import Scenario

_INDEX = re.compile(r"^(?P<name>[^\[\]]*)\[(?P<index>\d+)\]$")


def _path_parts(key: str) -> list[str | int]:
    """``mix[0].cpu_ms`` or ``mix.0.cpu_ms`` → ``["mix", 0, "cpu_ms"]``."""
    parts: list[str | int] = []
    for raw in key.split("."):
        m = _INDEX.match(raw)
        if m:
            if m["name"]:
                parts.append(m["name"])
            parts.append(int(m["index"]))
        elif raw.isdigit():
            parts.append(int(raw))
        elif raw:
            parts.append(raw)
        else:
            raise ValueError("empty key segment")
    return parts


def _backend_keys(parts: list[str | int]) -> list[str | int]:
    """A backend's keys are FPM's own dotted names: ``backends.www.pm.max_children`` sets
    the key ``pm.max_children`` of backend ``www``."""
    if len(parts) > 3 and parts[0] == "backends" and all(isinstance(p, str) for p in parts[2:]):
        return [*parts[:2], ".".join(str(p) for p in parts[2:])]
    return parts


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``KEY=VALUE`` (value parsed as YAML) to the raw scenario mapping, in place."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise InputError(
            f"--set expects KEY=VALUE (e.g. server.directives.MaxRequestWorkers=150), got "
            f"{assignment!r}",
            field="--set",
        )
    try:
        parts = _backend_keys(_path_parts(key.strip()))
        value = yaml.safe_load(text) if text.strip() else ""
    except (ValueError, yaml.YAMLError) as exc:
        raise InputError(f"cannot parse {assignment!r}: {exc}", field="--set") from None
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        nxt = parts[depth + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise InputError(f"no list item {part} at {key!r}", field="--set")
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise InputError(f"{key!r} does not lead to a mapping", field="--set")
        child = node.get(part)
        if child is None or (isinstance(child, str | int | float) and not isinstance(nxt, int)):
            # e.g. --set hardware.vcpus=4 when hardware was a catalog name: start an inline spec
            child = {"base": child} if isinstance(child, str) and part == "hardware" else {}
            node[part] = child
        node = child
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise InputError(f"no list item {last} at {key!r}", field="--set")
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise InputError(f"{key!r} does not lead to a mapping", field="--set")


def load_scenario_data(
    data: Mapping[str, Any], *, source: str = "<scenario>", overrides: Sequence[str] = ()
) -> Scenario:
    """Validate a raw scenario mapping (after applying ``overrides``)."""
    raw = yaml.safe_load(yaml.safe_dump(dict(data)))  # a deep copy we may change
    for assignment in overrides:
        apply_override(raw, assignment)
    try:
        scenario = validate_spec(Scenario, raw, file=source, field=None)
        normalize_directives(scenario.server.directives, source=source)  # checked again later
        return scenario
    except InputError as exc:
        blamed = _override_of(exc.field, overrides)
        if blamed is None:
            raise
        raise InputError(exc.detail, file=f"--set {blamed}", field=exc.field) from None


#: Keys that choose which other keys a mapping may have (a load's kind, a distribution's).
_CHOOSERS = ("kind", "dist", "mpm")


def _override_of(field: str | None, overrides: Sequence[str]) -> str | None:
    """The last ``--set`` that wrote the field an error names (or chose its mapping's kind):
    the error is the command line's, not the file's."""
    if not field:
        return None
    for assignment in reversed(overrides):
        key = assignment.partition("=")[0].strip()
        parent, _, last = key.rpartition(".")
        if field == key or field.startswith(key + ".") or key.startswith(field + "."):
            return assignment
        if last in _CHOOSERS and field.startswith(parent + "."):
            return assignment
    return None


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read and validate ``workload.yaml``; bad input raises :class:`InputError`."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", file=str(path))
    data = read_yaml_mapping(p, label=str(path))
    return load_scenario_data(data, source=str(path), overrides=overrides)


def load_base(
    scenario: Scenario | Mapping[str, Any] | str | Path, overrides: Sequence[str], seed: int | None
) -> tuple[Scenario, str, Path | None]:
    """The scenario with ``overrides`` (and ``seed``) applied, its source name and its folder."""
    if isinstance(scenario, Scenario):
        source, base_dir = "<scenario>", None
        data = json.loads(scenario.model_dump_json(exclude_unset=True))
        base = load_scenario_data(data, source=source, overrides=overrides)
    elif isinstance(scenario, Mapping):
        source, base_dir = "<scenario>", None
        base = load_scenario_data(scenario, source=source, overrides=overrides)
    else:
        source, base_dir = str(scenario), Path(scenario).resolve().parent
        base = load_scenario(scenario, overrides)
    if seed is not None:
        base = base.model_copy(update={"seed": seed})
    return base, source, base_dir

"""YAML spec files: reading one into a mapping, and resolving a spec from a catalog name, a path
to a YAML file or an inline mapping (with ``base:`` and overrides), each error one InputError."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Generic, NamedTuple

import yaml

from mpmsim.errors import InputError
from mpmsim.errors.validation import SpecT, validate_spec


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (YAML 1.2 forbids it;
    PyYAML keeps the last, so a second ``MaxRequestWorkers`` would silently win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: its keys may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml_mapping(path: Path | Traversable, *, label: str | None = None) -> dict[str, Any]:
    """Parse a YAML file (a path or an importlib Traversable) whose top level is a mapping."""
    name = label or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", file=name) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not a UTF-8 text YAML file (byte {exc.start} is 0x{exc.object[exc.start]:02x})",
            file=name,
        ) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(f"invalid YAML{where}: {problem}", file=name) from None
    if not isinstance(data, dict):
        raise InputError("the file must hold a mapping of keys to values", file=name)
    return data


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``override``; nested mappings are merged key by key."""
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = deep_merge(old, value)
        else:
            out[key] = value
    return out


def resolve_spec(
    model: type[SpecT],
    ref: str | Mapping[str, Any],
    *,
    catalog: Callable[[], Mapping[str, SpecT]],
    kind: str,
    relative_to: Path | None,
    source: str,
    field: str,
) -> SpecT:
    """Resolve a catalog name, a path to a YAML file or an inline mapping to a spec.

    An inline mapping (or file) may hold ``base: NAME_OR_PATH`` plus overrides: the base's values
    are deep-merged with the overrides, and the base's ``sources``/``justification`` entries for
    overridden keys are dropped. Without ``name``, a file's spec is named after its file stem and
    a modified base is named ``"<base> (custom)"``.
    """
    at = _Lookup(model, catalog, kind, relative_to, source, field)
    if isinstance(ref, str):
        return _from_name_or_path(ref, at)
    if isinstance(ref, Mapping):
        return _from_mapping(ref, at)
    raise InputError(
        f"expected a {kind} name, a path to a {kind} YAML or a mapping, got {type(ref).__name__}",
        file=source,
        field=field,
    )


class _Lookup(NamedTuple, Generic[SpecT]):
    """What a spec reference is resolved with: the spec's model and catalog, its kind (for
    messages), the folder a relative path starts from, and the file and field it was given in."""

    model: type[SpecT]
    catalog: Callable[[], Mapping[str, SpecT]]
    kind: str
    relative_to: Path | None
    source: str
    field: str | None


def _from_name_or_path(ref: str, at: _Lookup[SpecT]) -> SpecT:
    """The catalog entry named ``ref``, else the spec in the YAML file at path ``ref``."""
    entries = at.catalog()
    if ref in entries:
        return entries[ref]
    path = Path(ref).expanduser()
    if not path.is_absolute() and at.relative_to is not None:
        path = at.relative_to / path
    if path.is_file():
        data = read_yaml_mapping(path)
        data.setdefault("name", path.stem)
        return _from_mapping(
            data, at._replace(relative_to=path.parent, source=str(path), field=None)
        )
    kind = at.kind
    if path.suffix in {".yaml", ".yml"} or "/" in ref or path.exists():
        raise InputError(f"no such {kind} file: {path}", file=at.source, field=at.field)
    near = difflib.get_close_matches(ref, list(entries), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(near)}? " if near else ""
    raise InputError(
        f"unknown {kind} {ref!r}: {hint}use a catalog name ({', '.join(entries)}) "
        f"or a path to a {kind} YAML",
        file=at.source,
        field=at.field,
    )


_NOTE_KEYS = ("sources", "justification")


def _from_mapping(data: Mapping[str, Any], at: _Lookup[SpecT]) -> SpecT:
    """Validate an inline mapping, applying ``base:`` first when present."""
    if "base" not in data:
        return validate_spec(at.model, data, file=at.source, field=at.field)
    overrides = {k: v for k, v in data.items() if k != "base"}
    base_ref = data["base"]
    base_field = f"{at.field}.base" if at.field else "base"
    if not isinstance(base_ref, str):
        raise InputError(f"expected a {at.kind} name or path", file=at.source, field=base_field)
    base = _from_name_or_path(base_ref, at._replace(field=base_field))
    merged = deep_merge(base.model_dump(), overrides)
    leaves = _leaves(overrides)
    for notes in _NOTE_KEYS:
        if notes in merged and notes not in overrides:
            merged[notes] = {
                key: text
                for key, text in merged[notes].items()
                if not any(_related(key, leaf) for leaf in leaves)
            }
    if "name" not in overrides and "name" in merged:
        merged["name"] = f"{base_ref} (custom)" if overrides else base_ref
    return validate_spec(at.model, merged, file=at.source, field=at.field)


def _leaves(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the non-mapping values in ``data``."""
    out: list[str] = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.extend(_leaves(value, f"{path}."))
        else:
            out.append(path)
    return out


def _related(key: str, leaf: str) -> bool:
    """Whether a note about ``key`` concerns the overridden value at ``leaf``."""
    return key == leaf or key.startswith(f"{leaf}.") or leaf.startswith(f"{key}.")


__all__ = ["deep_merge", "read_yaml_mapping", "resolve_spec"]

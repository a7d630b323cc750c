"""Turning pydantic validation errors and YAML spec files into one-line InputErrors."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from mpmsim.errors import InputError

SpecT = TypeVar("SpecT", bound=pydantic.BaseModel)


def _dotted(loc: tuple[int | str, ...]) -> str:
    """Join a pydantic error location as ``a.b[0].c``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _allowed_keys(model: type[pydantic.BaseModel], loc: tuple[int | str, ...]) -> list[str] | None:
    """Field names of the model that sits at ``loc`` (the parent of an unknown key)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not isinstance(current, type):
            return None
        if not issubclass(current, pydantic.BaseModel) or part not in current.model_fields:
            return None
        annotation = current.model_fields[part].annotation
        args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
        current = args[0] if len(args) == 1 else annotation
    if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
        return sorted(current.model_fields)
    return None


def validation_error_line(
    exc: pydantic.ValidationError, model: type[pydantic.BaseModel] | None = None
) -> tuple[str, str]:
    """(dotted field path, message) of the first error in ``exc``.

    The path is relative to the validated model (empty for whole-model errors). With ``model``,
    an unknown key's message lists the keys allowed at that place.
    """
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    path = _dotted(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1]) if model is not None else None
        message = "unknown key"
        if allowed:
            message += f" (allowed: {', '.join(allowed)})"
        return path, message
    if kind == "missing":
        return path, "required key is missing"
    message = str(err["msg"])
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message[:1].lower() + message[1:]
    value = err.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        message += f" (got {value!r})"
    return path, message


def validate_spec(
    model: type[SpecT], data: Mapping[str, Any], *, file: str | None, field: str | None
) -> SpecT:
    """Validate ``data`` as ``model``; errors become one InputError under ``field``."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        path, message = validation_error_line(exc, model)
        where = ".".join(p for p in (field, path) if p) or None
        raise InputError(message, file=file, field=where) from None


def read_yaml_mapping(path: Path | Traversable, *, label: str | None = None) -> dict[str, Any]:
    """Parse a YAML file (a path or an importlib Traversable) whose top level is a mapping."""
    name = label or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", file=name) from None
    try:
        data = yaml.safe_load(text)
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
    if isinstance(ref, str):
        entries = catalog()
        if ref in entries:
            return entries[ref]
        path = Path(ref).expanduser()
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path
        if path.is_file():
            data = read_yaml_mapping(path)
            data.setdefault("name", path.stem)
            return _from_mapping(
                model,
                data,
                catalog=catalog,
                kind=kind,
                relative_to=path.parent,
                source=str(path),
                field=None,
            )
        if path.suffix in {".yaml", ".yml"} or "/" in ref or path.exists():
            raise InputError(f"no such {kind} file: {path}", file=source, field=field)
        near = difflib.get_close_matches(ref, list(entries), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(near)}? " if near else ""
        raise InputError(
            f"unknown {kind} {ref!r}: {hint}use a catalog name ({', '.join(entries)}) "
            f"or a path to a {kind} YAML",
            file=source,
            field=field,
        )
    if isinstance(ref, Mapping):
        return _from_mapping(
            model,
            ref,
            catalog=catalog,
            kind=kind,
            relative_to=relative_to,
            source=source,
            field=field,
        )
    raise InputError(
        f"expected a {kind} name, a path to a {kind} YAML or a mapping, got {type(ref).__name__}",
        file=source,
        field=field,
    )


_NOTE_KEYS = ("sources", "justification")


def _from_mapping(
    model: type[SpecT],
    data: Mapping[str, Any],
    *,
    catalog: Callable[[], Mapping[str, SpecT]],
    kind: str,
    relative_to: Path | None,
    source: str,
    field: str | None,
) -> SpecT:
    """Validate an inline mapping, applying ``base:`` first when present."""
    if "base" not in data:
        return validate_spec(model, data, file=source, field=field)
    overrides = {k: v for k, v in data.items() if k != "base"}
    base_ref = data["base"]
    base_field = f"{field}.base" if field else "base"
    if not isinstance(base_ref, str):
        raise InputError(f"expected a {kind} name or path", file=source, field=base_field)
    base = resolve_spec(
        model,
        base_ref,
        catalog=catalog,
        kind=kind,
        relative_to=relative_to,
        source=source,
        field=base_field,
    )
    merged = deep_merge(base.model_dump(), overrides)
    for notes in _NOTE_KEYS:
        if notes in merged and notes not in overrides:
            merged[notes] = {
                key: text
                for key, text in merged[notes].items()
                if not any(_related(key, leaf) for leaf in _leaves(overrides))
            }
    if "name" not in overrides and "name" in merged:
        merged["name"] = f"{base_ref} (custom)" if overrides else base_ref
    return validate_spec(model, merged, file=source, field=field)


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


__all__ = [
    "deep_merge",
    "read_yaml_mapping",
    "resolve_spec",
    "validate_spec",
    "validation_error_line",
]

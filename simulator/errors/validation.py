"""Turning pydantic validation errors and YAML spec files into one-line InputErrors."""

from __future__ import annotations

import collections.abc
import difflib
import types
import typing
from collections.abc import Callable, Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml
from pydantic_core import PydanticCustomError

from mpmsim.errors import InputError

SpecT = TypeVar("SpecT", bound=pydantic.BaseModel)


_SCALARS = ("float", "int", "str", "bool")


def field_error(field: str, message: str) -> PydanticCustomError:
    """A validation error about ``field`` (dotted, below where it is raised): ``message`` says what
    is allowed.

    Raised in a model validator that checks several fields together (the error then names the
    field rather than the whole model) or in a validator of a field whose part is at fault
    (``field`` ``"low"`` of a distribution).
    """
    return PydanticCustomError("field_value", message, {"field": field})


def _dotted(loc: tuple[int | str, ...]) -> str:
    """Join a pydantic error location as ``a.b[0].c``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _members(annotation: Any) -> list[Any]:
    """The non-None members of a (possibly Annotated, possibly union) annotation."""
    if getattr(annotation, "__metadata__", None) is not None:
        annotation = annotation.__origin__  # Annotated[X, ...] -> X
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out.extend(_members(arg))
        return out
    return [annotation]


def _items(annotation: Any) -> list[Any]:
    """Members of the value type of a list or dict annotation (what an index or key selects)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset, collections.abc.Sequence) and args:
        return _members(args[0])
    if origin in (dict, collections.abc.Mapping) and len(args) == 2:
        return _members(args[1])
    return []


def _walk(
    model: type[pydantic.BaseModel], loc: tuple[int | str, ...]
) -> tuple[tuple[int | str, ...], type[pydantic.BaseModel] | None]:
    """``loc`` without pydantic's union tags, and the model at its end (None if not a model).

    Pydantic puts the tag of a discriminated union member into the location
    (``load.closed.clients``); users wrote ``load.clients``.
    """
    clean: list[int | str] = []
    candidates: list[Any] = [model]
    for part in loc:
        models = [
            c for c in candidates if isinstance(c, type) and issubclass(c, pydantic.BaseModel)
        ]
        containers = [c for c in candidates if _items(c)]
        if isinstance(part, int) or (containers and not models):
            clean.append(part)  # a list index or a dict key
            candidates = [m for c in containers for m in _items(c)]
            continue
        if isinstance(part, str) and models and not any(part in m.model_fields for m in models):
            tagged = [m for m in models if _tag_of(m) == part]
            if tagged:
                candidates = tagged
                continue
            if part != loc[-1]:
                continue  # a union-branch label such as 'float' or 'tagged-union[...]'
        clean.append(part)
        nxt: list[Any] = []
        for m in models:
            if part in m.model_fields:
                nxt.extend(_members(m.model_fields[part].annotation))
        candidates = nxt
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, pydantic.BaseModel)]
    return tuple(clean), (models[0] if len(models) == 1 else None)


def _tag_of(model: type[pydantic.BaseModel]) -> str | None:
    """The value of a model's literal discriminator field (``kind`` or ``dist``), if any."""
    for name in ("kind", "dist"):
        field = model.model_fields.get(name)
        if field is not None:
            args: tuple[Any, ...] = typing.get_args(field.annotation)
            if len(args) == 1 and isinstance(args[0], str):
                return args[0]
    return None


def _allowed_keys(model: type[pydantic.BaseModel], loc: tuple[int | str, ...]) -> list[str] | None:
    """Field names of the model that sits at ``loc`` (the parent of an unknown key)."""
    _, current = _walk(model, loc)
    if current is None:
        return None
    return sorted(f.alias or name for name, f in current.model_fields.items())  # as written


def validation_error_line(
    exc: pydantic.ValidationError, model: type[pydantic.BaseModel] | None = None
) -> tuple[str, str]:
    """(dotted field path, message) of the most telling error in ``exc``.

    An unknown key is reported before anything else (a misspelt key also makes the right one
    look missing). The path is relative to the validated model (empty for whole-model errors)
    and leaves out pydantic's union tags. With ``model``, an unknown key's message names the
    nearest allowed key and lists them all.
    """
    errors = exc.errors()

    def rank(e: Any) -> int:
        if e["type"] == "extra_forbidden":
            return 0
        scalar_branch = any(p in _SCALARS for p in e["loc"][:-1])
        return 2 if scalar_branch or e["type"] in ("float_type", "float_parsing") else 1

    err = min(errors, key=rank)
    raw_loc = tuple(err["loc"])
    loc = _walk(model, raw_loc)[0] if model is not None else raw_loc
    kind = err["type"]
    if kind != "extra_forbidden":
        # drop union-branch labels ('float', 'tagged-union[...]') that are no user's key
        loc = tuple(p for p in loc if isinstance(p, int) or ("[" not in p and p not in _SCALARS))
    below = (err.get("ctx") or {}).get("field")  # set by field_error
    path = ".".join(p for p in (_dotted(loc), below) if p)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, raw_loc[:-1]) if model is not None else None
        message = "unknown key"
        if allowed:
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
            if close:
                message += f"; did you mean {close[0]!r}?"
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
    if isinstance(ref, str):
        return _from_name_or_path(
            model,
            ref,
            catalog=catalog,
            kind=kind,
            relative_to=relative_to,
            source=source,
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


def _from_name_or_path(
    model: type[SpecT],
    ref: str,
    *,
    catalog: Callable[[], Mapping[str, SpecT]],
    kind: str,
    relative_to: Path | None,
    source: str,
    field: str,
) -> SpecT:
    """The catalog entry named ``ref``, else the spec in the YAML file at path ``ref``."""
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
    "field_error",
    "read_yaml_mapping",
    "resolve_spec",
    "validate_spec",
    "validation_error_line",
]

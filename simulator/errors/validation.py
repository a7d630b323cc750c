"""Turning pydantic validation errors into one-line InputErrors (YAML spec files: spec_files)."""

from __future__ import annotations

import collections.abc
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic
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


__all__ = [
    "field_error",
    "validate_spec",
    "validation_error_line",
]

"""A catalog of shipped spec YAML files, and how a scenario names one of its entries."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import pydantic

from mpmsim.errors import InputError
from mpmsim.errors.spec_files import read_yaml_mapping, resolve_spec
from mpmsim.errors.validation import validate_spec

SpecT = TypeVar("SpecT", bound=pydantic.BaseModel)


class Catalog(Generic[SpecT]):
    """The ``*.yaml`` specs shipped in one package, read once through importlib.resources.

    Each file holds one ``model`` whose ``name`` is the file's stem. Entries are ordered by
    ``order`` (default: by name). ``kind`` names the spec in error messages ("cost model").
    """

    def __init__(
        self,
        model: type[SpecT],
        package: str,
        *,
        kind: str,
        order: Callable[[SpecT], Any] | None = None,
    ) -> None:
        self.model = model
        self.package = package
        self.kind = kind
        self.order = order
        self._entries: Mapping[str, SpecT] | None = None

    def entries(self) -> Mapping[str, SpecT]:
        """Every shipped spec by name (read-only; the files are read on the first call)."""
        if self._entries is None:
            self._entries = MappingProxyType(self._read())
        return self._entries

    def _read(self) -> dict[str, SpecT]:
        """Read and validate the package's YAML files; a misnamed file is an InputError."""
        named: list[tuple[str, SpecT]] = []
        for entry in sorted(resources.files(self.package).iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".yaml"):
                continue
            label = f"{self.package.replace('.', '/')}/{entry.name}"
            data = read_yaml_mapping(entry, label=label)
            spec = validate_spec(self.model, data, file=label, field=None)
            stem = entry.name.removesuffix(".yaml")
            name = getattr(spec, "name", None)
            if name != stem:
                raise InputError(f"name {name!r} does not match the file name", file=label)
            named.append((stem, spec))
        if self.order is not None:
            order = self.order
            named.sort(key=lambda item: order(item[1]))
        return dict(named)

    def load(
        self,
        ref: str | Mapping[str, Any],
        *,
        relative_to: Path | None,
        source: str,
        field: str,
    ) -> SpecT:
        """Resolve a catalog name, a path to a YAML file or an inline mapping (see resolve_spec)."""
        return resolve_spec(
            self.model,
            ref,
            catalog=self.entries,
            kind=self.kind,
            relative_to=relative_to,
            source=source,
            field=field,
        )


__all__ = ["Catalog"]

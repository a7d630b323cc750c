"""``Catalog``: the one reader of shipped spec YAML files behind the hardware and cost catalogs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpmsim.errors import InputError
from mpmsim.models.catalog import Catalog
from mpmsim.models.hardware import HardwareSpec


def _package(root: Path, name: str, files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """A throwaway package holding ``files``, importable for importlib.resources."""
    folder = root / name
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    for file_name, text in files.items():
        (folder / file_name).write_text(text)
    monkeypatch.syspath_prepend(str(root))
    return name


def test_entries_are_read_once_ordered_and_resolvable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {
        "big.yaml": "name: big\nvcpus: 8\nram_mib: 4096\n",
        "small.yaml": "name: small\nvcpus: 1\nram_mib: 1024\n",
        "notes.txt": "not a spec",
    }
    package = _package(tmp_path, "catalog_ordered", files, monkeypatch)
    by_name = Catalog(HardwareSpec, package, kind="machine")
    by_vcpus = Catalog(HardwareSpec, package, kind="machine", order=lambda s: s.vcpus)
    assert list(by_name.entries()) == ["big", "small"]
    assert list(by_vcpus.entries()) == ["small", "big"]
    (tmp_path / package / "small.yaml").unlink()  # already read: the catalog keeps it
    small = by_name.load("small", relative_to=None, source="w.yaml", field="hardware")
    assert small is by_name.entries()["small"] and small.ram_mib == 1024
    with pytest.raises(InputError, match=r"^w\.yaml: hardware: unknown machine 'smal': did you"):
        by_name.load("smal", relative_to=None, source="w.yaml", field="hardware")


def test_a_misnamed_file_is_named_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _package(
        tmp_path, "catalog_misnamed", {"a.yaml": "name: b\nvcpus: 1\nram_mib: 1024\n"}, monkeypatch
    )
    with pytest.raises(InputError) as info:
        Catalog(HardwareSpec, package, kind="machine").entries()
    assert str(info.value) == "catalog_misnamed/a.yaml: name 'b' does not match the file name"

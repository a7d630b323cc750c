"""The files an ``Include`` or ``IncludeOptional`` line names, in the order Apache reads them.

As ``config.c`` ``ap_process_fnmatch_configs`` does: a relative path is taken against ServerRoot;
a directory means every file in it and its subdirectories, in alphabetical order; wildcards may
stand in any part of the path (a leading ``.`` must be matched explicitly), the matches read in
alphabetical order. ``Include`` of a missing file, or a wildcard that matches nothing, is an error
naming the including file and line; ``IncludeOptional`` skips them silently.

Reading the files, and refusing one that includes itself, is the walk's
(:mod:`mpmsim.models.apache.config_tree`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Final

from mpmsim.errors import InputError

_WILDCARD_RE: Final = re.compile(r"[*?\[]")


def included_files(
    target: str, server_root: Path, site: tuple[str, int], *, optional: bool, report: bool
) -> list[Path]:
    """The files the Include of ``target`` at ``site`` (file, line) reads, in Apache's order.

    Nothing to read is an error naming ``site`` for ``Include``, an empty list for
    ``IncludeOptional``; with ``report`` False (a survey) every failure is an empty list.
    """
    path = Path(target) if os.path.isabs(target) else server_root / target
    try:
        return include_targets(path)
    except FileNotFoundError as exc:
        if optional or not report:
            return []
        raise InputError(
            f"Include {target}: {exc}", file=site[0], field=f"line {site[1]}"
        ) from None
    except OSError as exc:
        if not report:
            return []
        reason = exc.strerror or str(exc)
        raise InputError(
            f"Include {target}: {reason}", file=site[0], field=f"line {site[1]}"
        ) from None


def include_targets(path: Path) -> list[Path]:
    """The files an Include of ``path`` reads, in order; FileNotFoundError when there are none.

    An existing file or directory without wildcards is read even when empty; a wildcard that
    matches nothing raises, as Apache's ``Include`` (not ``IncludeOptional``) does.
    """
    if not _WILDCARD_RE.search(str(path)):
        if path.is_dir():
            return _directory_files(path)
        if path.exists():
            return [path]
        raise FileNotFoundError(f"{path} does not exist")
    current = [Path(path.anchor or "/")]
    parts = path.parts[1:] if path.anchor else path.parts
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        current = _step(current, part, dirs_only=not last)
        if not current:
            raise FileNotFoundError(f"no matches for the wildcard in {path}")
    files: list[Path] = []
    for match in current:
        files.extend(_directory_files(match) if match.is_dir() else [match])
    return files


def _step(bases: Iterable[Path], part: str, *, dirs_only: bool) -> list[Path]:
    """The paths one path component leads to from each base, sorted as Apache sorts them."""
    found: list[Path] = []
    for base in bases:
        if not _WILDCARD_RE.search(part):
            candidate = base / part
            if candidate.exists() and (candidate.is_dir() or not dirs_only):
                found.append(candidate)
            continue
        try:
            names = sorted(os.listdir(base))
        except OSError:
            continue
        for name in names:
            # apr_fnmatch with APR_FNM_PERIOD: a leading dot is only matched by a leading dot.
            if name.startswith(".") and not part.startswith("."):
                continue
            candidate = base / name
            if fnmatchcase(name, part) and (candidate.is_dir() or not dirs_only):
                found.append(candidate)
    return found


def _directory_files(directory: Path) -> list[Path]:
    """Every file under ``directory``, subdirectories included, in alphabetical order."""
    files: list[Path] = []
    for name in sorted(os.listdir(directory)):
        entry = directory / name
        files.extend(_directory_files(entry) if entry.is_dir() else [entry])
    return files


__all__ = ["include_targets", "included_files"]

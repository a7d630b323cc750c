"""URL classes of a log's requests: the user's ``REGEX=NAME`` rules, then static vs dynamic.

Shared by ``mpmsim trace fit`` (a class per fitted mix entry) and the trace replay (a replayed
request takes its mix class by the same rule).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from mpmsim.errors import InputError

STATIC = "static"
DYNAMIC = "dynamic"

_PAGES = ("html", "htm", "shtml", "css", "js", "mjs", "map", "txt", "xml", "pdf")
_IMAGES = ("gif", "jpg", "jpeg", "png", "webp", "avif", "svg", "ico", "bmp", "tif", "tiff", "xbm")
_FONTS = ("woff", "woff2", "ttf", "otf", "eot")
_MEDIA = (
    "mp3",
    "mp4",
    "m4a",
    "m4v",
    "mpg",
    "mpeg",
    "avi",
    "mov",
    "wav",
    "webm",
    "ogg",
    "ogv",
    "au",
)
_FILES = ("zip", "gz", "tgz", "tar", "bz2", "xz", "7z", "rar", "exe", "dmg", "iso")
_DOCUMENTS = ("doc", "docx", "xls", "xlsx", "ppt", "pptx", "ps")
STATIC_EXTENSIONS = frozenset(_PAGES + _IMAGES + _FONTS + _MEDIA + _FILES + _DOCUMENTS)
"""File extensions served from disk as they are; a request for anything else (a directory,
a script, an API path) counts as dynamic."""

DEFAULT_RULE = (
    "static: the path (before any ?) ends in a static file's extension (.html, .css, .js, "
    ".gif, .png, .pdf ...); dynamic: the rest"
)

_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_CACHE_LIMIT = 100_000


def _extension(path: str) -> str:
    """The lower-case extension of the path's last segment ('' when it has none)."""
    bare = path.split("?", 1)[0].split("#", 1)[0]
    segment = bare.rsplit("/", 1)[-1]
    _, dot, ext = segment.rpartition(".")
    return ext.lower() if dot else ""


@dataclass
class UrlClasses:
    """Classifies request paths: the first user rule whose regex matches (``re.search``) names
    the class; a path no rule matches is static or dynamic by :data:`DEFAULT_RULE`."""

    rules: tuple[tuple[re.Pattern[str], int], ...] = ()
    names: tuple[str, ...] = (STATIC, DYNAMIC)
    _cache: dict[str, int] = field(default_factory=dict, repr=False)

    def classify(self, path: str | None) -> int:
        """The index (into ``names``) of the path's class; no path (a ``-`` request) is dynamic."""
        if path is None:
            return self.names.index(DYNAMIC)
        found = self._cache.get(path)
        if found is not None:
            return found
        for pattern, index in self.rules:
            if pattern.search(path):
                found = index
                break
        else:
            is_static = _extension(path) in STATIC_EXTENSIONS
            found = self.names.index(STATIC if is_static else DYNAMIC)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()  # a log of unique URLs must not grow the cache for ever
        self._cache[path] = found
        return found

    def describe(self) -> list[str]:
        """One line per rule, in the order they are tried."""
        lines = [f"{self.names[i]}: path matches {p.pattern!r}" for p, i in self.rules]
        return [*lines, DEFAULT_RULE]


def parse_classes(specs: Sequence[str], option: str = "--classes") -> UrlClasses:
    """``REGEX=NAME`` rules (split at the last ``=``), tried in order before the default."""
    names: list[str] = []
    rules: list[tuple[re.Pattern[str], int]] = []
    for spec in specs:
        regex, eq, name = spec.rpartition("=")
        if not eq or not regex or not _NAME.fullmatch(name):
            raise InputError(
                f"{spec!r}: write REGEX=NAME, NAME of letters, digits, _ . -", field=option
            )
        try:
            pattern = re.compile(regex)
        except re.error as error:
            raise InputError(
                f"{regex!r} is not a regular expression: {error}", field=option
            ) from None
        if name not in names:
            names.append(name)
        rules.append((pattern, names.index(name)))
    names += [n for n in (STATIC, DYNAMIC) if n not in names]
    return UrlClasses(rules=tuple(rules), names=tuple(names))


__all__ = ["DEFAULT_RULE", "DYNAMIC", "STATIC", "STATIC_EXTENSIONS", "UrlClasses", "parse_classes"]

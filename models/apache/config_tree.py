"""Walk an Apache config tree as Apache reads it: Include, sections, Define, variables, LoadModule.

The syntax follows ``server/util.c`` ``ap_cfg_getline`` and ``server/config.c``: a backslash at the
end of a line joins it with the next one, then lines whose first non-blank character is ``#`` are
comments (Apache has no end-of-line comments); ``${NAME}`` is replaced on every line by a
``Define``'d value or an environment variable and left as written when neither exists (Apache
warns and does the same).

``Include`` and ``IncludeOptional`` are followed where they stand (the files they name, and in
what order: :mod:`mpmsim.models.apache.includes`). A file that includes itself, directly or not,
is an error (Apache would recurse until its nesting limit).

Sections:

- ``<IfModule>`` on an MPM (``mpm_event_module``, ``event.c``) tests the MPM the walk is told;
  with none, every MPM section holds. On any other module it tests the modules loaded so far by
  ``LoadModule`` plus those compiled into the binary, by identifier (``ssl_module``) or source
  file (``mod_ssl.c``); a walk that is told nothing is loaded (a fragment such as
  ``mpm_event.conf`` alone) counts every module as loaded.
- ``<IfDefine NAME>`` holds when NAME was ``Define``'d (or given as a ``-D`` parameter).
- ``<IfVersion>``, ``<IfDirective>``, ``<IfSection>``, ``<IfFile>`` count as true.
- Any other section (``<VirtualHost>``, ``<Directory>``, ``<If>`` ...) is another scope: its
  lines are not the main server's and an ``Include`` in it is not followed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from mpmsim.errors import InputError
from mpmsim.models.apache.includes import included_files

MPMS: Final = ("prefork", "worker", "event")
#: Compiled into Debian's apache2 (``apache2 -l``); any other module needs a LoadModule line.
DEBIAN_STATIC_MODULES: Final = (
    "core_module",
    "so_module",
    "watchdog_module",
    "http_module",
    "log_config_module",
    "logio_module",
    "version_module",
    "unixd_module",
)
# Source files whose name is not mod_<identifier without _module>.c.
_SOURCE_FILES: Final = {"core_module": "core.c", "http_module": "http_core.c"}
_OPEN_RE: Final = re.compile(r"<\s*([A-Za-z]+)\b([^>]*)>\s*$")
_CLOSE_RE: Final = re.compile(r"<\s*/\s*([A-Za-z]+)\s*>\s*$")
_VAR_RE: Final = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_ALWAYS_TRUE: Final = frozenset({"ifversion", "ifdirective", "ifsection", "iffile"})


@dataclass(frozen=True)
class ConfigLine:
    """One logical line of the main server, variables expanded, with where it was written."""

    file: str
    number: int
    text: str


@dataclass(frozen=True)
class LoadedModule:
    """A ``LoadModule`` line that applied."""

    identifier: str
    path: str
    file: str
    number: int


@dataclass(frozen=True)
class Policy:
    """How a walk decides ``<IfModule>`` and what it does with a broken ``Include``."""

    mpm: str | None
    """The MPM that ``<IfModule>`` on MPMs tests; None: every MPM section holds."""
    strict_modules: bool
    """Other modules: loaded so far (True) or all of them (False, for a fragment)."""
    report: bool
    """A missing ``Include`` or a cycle is an error (True) or skipped (False, a survey)."""


@dataclass(frozen=True)
class ConfigTree:
    """What one walk saw: the main server's lines, the modules loaded and the files read."""

    lines: tuple[ConfigLine, ...]
    modules: tuple[LoadedModule, ...]
    files: tuple[str, ...]


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each logical line: continuations joined, comments dropped."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        # Apache joins continuation lines first and only then sees a leading '#' as a comment.
        logical = " ".join(part.strip() for part in pending).strip()
        pending = []
        if logical and not logical.startswith("#"):
            out.append((start, logical))
    if pending:
        logical = " ".join(part.strip() for part in pending).strip()
        if logical and not logical.startswith("#"):
            out.append((start, logical))
    return out


def split_args(rest: str) -> list[str]:
    """A directive's arguments, honouring double and single quotes as Apache's ap_getword_conf."""
    return [a or b or c for a, b, c in re.findall(r'"([^"]*)"|\'([^\']*)\'|(\S+)', rest)]


def module_mpm(name: str) -> str | None:
    """The MPM an IfModule argument names (mpm_event_module, event.c, mpm_event.c), else None."""
    lowered = name.lower()
    for mpm in MPMS:
        if lowered in (f"mpm_{mpm}_module", f"{mpm}.c", f"mpm_{mpm}.c", f"mod_mpm_{mpm}.c"):
            return mpm
    return None


def module_names(identifier: str, so_path: str | None = None) -> set[str]:
    """Names ``<IfModule>`` accepts for a module (lower case): identifier and source file name.

    The source file is ``mod_NAME.c`` for ``NAME_module`` (core and http_core excepted); for a
    shared module the file's own name counts too (``mod_ssl.so`` -> ``mod_ssl.c``), while
    ``LoadModule php_module libphp8.2.so`` still answers to ``mod_php.c``.
    """
    ident = identifier.lower()
    names = {ident, _SOURCE_FILES.get(ident, "mod_" + ident.removesuffix("_module") + ".c")}
    if so_path is not None:
        names.add(Path(so_path).stem.lower() + ".c")
    return names


@dataclass
class _Walk:
    """The explicit state of one walk over the tree, in the order Apache reads it."""

    policy: Policy
    server_root: Path
    variables: dict[str, str]
    defines: set[str]
    loaded: set[str]
    lines: list[ConfigLine] = field(default_factory=list)
    modules: list[LoadedModule] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    reading: list[Path] = field(default_factory=list)

    def read(self, path: Path, site: tuple[str, int] | None) -> None:
        """Read one file; ``site`` is the including (file, line), None for the top file."""
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if site is None:
                raise InputError(
                    f"cannot read the Apache config file: {reason}", file=str(path)
                ) from None
            raise InputError(
                f"cannot read {path}: {reason}", file=site[0], field=f"line {site[1]}"
            ) from None
        self.files.append(str(path))
        self.reading.append(path.resolve())
        try:
            self._walk_lines(str(path), logical_lines(text))
        finally:
            self.reading.pop()

    def _walk_lines(self, source: str, lines: list[tuple[int, str]]) -> None:
        """Sections, side effects and main-server lines of one file; sections must nest in it."""
        # Each open section: (its name, whether its body applies to the main server).
        stack: list[tuple[str, bool]] = []
        for number, raw in lines:
            line = self._expand(raw)
            if m := _CLOSE_RE.match(line):
                if not stack or stack[-1][0] != m.group(1).lower():
                    expected = f"</{stack[-1][0]}>" if stack else "no closing tag"
                    raise InputError(
                        f"unexpected </{m.group(1)}>; expected {expected}",
                        file=source,
                        field=f"line {number}",
                    )
                stack.pop()
            elif m := _OPEN_RE.match(line):
                applies = self._condition(m.group(1), m.group(2))
                enclosing = not stack or stack[-1][1]
                stack.append((m.group(1).lower(), enclosing and applies is True))
            elif not stack or stack[-1][1]:
                self._directive(source, number, line)
        if stack:
            raise InputError(
                f"<{stack[-1][0]}> is not closed before the end of the file", file=source
            )

    def _expand(self, line: str) -> str:
        return _VAR_RE.sub(lambda m: self.variables.get(m.group(1), m.group(0)), line)

    def _condition(self, kind: str, arg: str) -> bool | None:
        """Whether a section's body applies to the main server: True/False, None = another scope."""
        kind = kind.lower()
        arg = arg.strip().strip("\"'")
        negated = arg.startswith("!")
        name = arg[1:].strip() if negated else arg
        if kind == "ifmodule":
            mpm = module_mpm(name)
            if mpm is not None:
                return True if self.policy.mpm is None else (mpm == self.policy.mpm) != negated
            if not self.policy.strict_modules:
                return not negated
            return (name.lower() in self.loaded) != negated
        if kind == "ifdefine":
            return (name in self.defines) != negated
        if kind in _ALWAYS_TRUE:
            return True
        return None

    def _directive(self, source: str, number: int, line: str) -> None:
        """A main-server line: follow or record the directives that change the walk."""
        word, *rest = line.split(None, 1)
        args = split_args(rest[0] if rest else "")
        lowered = word.lower()
        if lowered in ("include", "includeoptional"):
            if len(args) != 1:
                raise InputError(
                    f"{word} takes one argument, got {len(args)}",
                    file=source,
                    field=f"line {number}",
                )
            self._include(args[0], lowered == "includeoptional", (source, number))
        elif lowered == "loadmodule" and len(args) == 2:
            self.modules.append(LoadedModule(args[0], args[1], source, number))
            self.loaded |= module_names(args[0], args[1])
        elif lowered == "define" and args:
            self.defines.add(args[0])
            if len(args) > 1:
                self.variables[args[0]] = args[1]
        elif lowered == "undefine" and args:
            self.defines.discard(args[0])
            self.variables.pop(args[0], None)
        elif lowered == "serverroot" and len(args) == 1:
            self.server_root = Path(args[0])
        else:
            self.lines.append(ConfigLine(source, number, line))

    def _include(self, target: str, optional: bool, site: tuple[str, int]) -> None:
        """Read what an Include names, in Apache's order."""
        files = included_files(
            target, self.server_root, site, optional=optional, report=self.policy.report
        )
        for file in files:
            if file.resolve() in self.reading:
                if not self.policy.report:
                    continue
                raise InputError(
                    f"Include {target}: {file} is already being read (an include cycle)",
                    file=site[0],
                    field=f"line {site[1]}",
                )
            self.read(file, site)


def walk_config(
    path: Path,
    policy: Policy,
    *,
    server_root: Path,
    variables: Mapping[str, str],
    defines: Iterable[str] = (),
    static_modules: Iterable[str] = DEBIAN_STATIC_MODULES,
) -> ConfigTree:
    """Read ``path`` and everything it includes; return the main server's lines and modules."""
    loaded: set[str] = set()
    for identifier in static_modules:
        loaded |= module_names(identifier)
    walk = _Walk(
        policy=policy,
        server_root=server_root,
        variables=dict(variables),
        defines=set(defines),
        loaded=loaded,
    )
    walk.read(path, None)
    return ConfigTree(tuple(walk.lines), tuple(walk.modules), tuple(walk.files))


__all__ = [
    "DEBIAN_STATIC_MODULES",
    "MPMS",
    "ConfigLine",
    "ConfigTree",
    "LoadedModule",
    "Policy",
    "logical_lines",
    "module_mpm",
    "module_names",
    "split_args",
    "walk_config",
]

"""Read the directives mpmsim uses from an Apache config file and everything it includes.

Give the server's main file (Debian's ``/etc/apache2/apache2.conf``, an ``httpd.conf``) or a
fragment (``mods-available/mpm_event.conf``). The tree is walked as Apache reads it (see
:mod:`mpmsim.models.apache.config_tree`: ``Include``/``IncludeOptional``, ``<IfModule>``,
``<IfDefine>``, ``Define``, ``${VAR}``), in two passes: the first finds the ``LoadModule`` lines
(the MPM, and whether the files load modules at all), the second reads the directives with the
MPM chosen, so ``<IfModule mpm_event_module>`` blocks apply exactly when event runs.

- ServerRoot, against which relative ``Include`` paths are taken, is the config file's folder
  until a ``ServerRoot`` directive says otherwise (Debian's ``apache2ctl`` starts Apache with
  ``-d /etc/apache2``, the folder of ``apache2.conf``).
- ``${VAR}`` takes the values of the ``envvars`` file beside the config file when there is one
  (Debian's ``apache2ctl`` sources it), not the caller's environment, so a scenario reads the
  same on every machine; an unknown variable stays as written.
- Modules compiled into the binary are Debian's (``apache2 -l``) unless the caller says.

Later directives override earlier ones, as in Apache; old names (MaxClients,
MaxRequestsPerChild) are returned under their new names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mpmsim.errors import InputError
from mpmsim.models.apache.config_tree import (
    DEBIAN_STATIC_MODULES,
    MPMS,
    ConfigLine,
    ConfigTree,
    LoadedModule,
    Policy,
    split_args,
    walk_config,
)
from mpmsim.models.apache.directives import canonical_name, deprecation, misspelled
from mpmsim.models.apache.envvars import read_envvars


@dataclass(frozen=True)
class ApacheConfig:
    """What mpmsim reads from an Apache config tree."""

    path: str
    mpm: str | None
    """The MPM the files load with ``LoadModule``, or None."""
    directives: dict[str, str]
    """Raw values of the directives mpmsim models, under Apache's canonical names."""
    modules: tuple[str, ...]
    """Identifiers of the modules loaded by ``LoadModule`` (``mpm_event_module``), in order."""
    listen: tuple[str, ...]
    """The main server's ``Listen`` addresses (``80``, ``127.0.0.1:8080``)."""
    files: tuple[str, ...]
    """Every file read, in the order Apache reads them."""
    renamed: tuple[str, ...] = ()
    """The notes Apache logs for the old directive names the files use (MaxClients: AH00188 ...);
    their values are in ``directives`` under the new names."""


def read_apache_tree(
    path: Path,
    mpm: str | None = None,
    *,
    server_root: Path | None = None,
    variables: Mapping[str, str] | None = None,
    defines: Iterable[str] = (),
    static_modules: Iterable[str] = DEBIAN_STATIC_MODULES,
) -> ApacheConfig:
    """Read ``path`` and its includes: the loaded MPM and modules, and mpmsim's directives.

    ``mpm`` decides ``<IfModule>`` sections on MPMs; when None, the MPM the files load is used,
    and when they load none either, every MPM section is read. ``server_root`` defaults to the
    file's folder, ``variables`` to the ``envvars`` file beside it, ``defines`` are ``-D``
    parameters. Values are the strings as written (checked later by
    :func:`mpmsim.models.apache.directives.normalize_directives`).
    """
    root = server_root if server_root is not None else path.parent
    env = dict(variables) if variables is not None else read_envvars(path.parent / "envvars")
    statics = tuple(static_modules)
    extra = tuple(defines)

    def walk(policy: Policy) -> ConfigTree:
        return walk_config(
            path, policy, server_root=root, variables=env, defines=extra, static_modules=statics
        )

    survey = walk(Policy(mpm=None, strict_modules=False, report=False))
    detected = _detect_mpm(survey.modules)
    # A fragment that loads no module (mpm_event.conf alone) cannot say what is loaded: every
    # <IfModule> on another module then holds, as before this reader followed includes.
    loads_modules = any(_mpm_of(m) is None for m in survey.modules)
    tree = walk(Policy(mpm=mpm or detected, strict_modules=loads_modules, report=True))
    return ApacheConfig(
        path=str(path),
        mpm=_detect_mpm(tree.modules) or detected,
        directives=_directives(tree.lines),
        modules=tuple(m.identifier for m in tree.modules),
        listen=tuple(_listen(tree.lines)),
        files=tree.files,
        renamed=tuple(dict.fromkeys(_renamed(tree.lines))),
    )


def _renamed(lines: Iterable[ConfigLine]) -> Iterable[str]:
    """Apache's note for each old directive name the lines use (MaxClients, MaxRequestsPerChild)."""
    for line in lines:
        note = deprecation(line.text.split(None, 1)[0])
        if note is not None:
            yield note


def read_apache_config(path: Path, mpm: str | None) -> tuple[str | None, dict[str, str]]:
    """Return (MPM loaded by the files or None, raw values of the directives mpmsim knows)."""
    config = read_apache_tree(path, mpm)
    return config.mpm, config.directives


def _directives(lines: Iterable[ConfigLine]) -> dict[str, str]:
    """Values of the directives mpmsim models; each takes exactly one argument."""
    values: dict[str, str] = {}
    for line in lines:
        word, *rest = line.text.split(None, 1)
        name = canonical_name(word)
        if name is None:
            near = misspelled(word)
            if near is not None:  # httpd: "Invalid command ..., perhaps misspelled"
                raise InputError(
                    f"Invalid command {word!r} (Apache would not start): did you mean {near!r}?",
                    file=line.file,
                    field=f"line {line.number}",
                )
            continue  # a directive mpmsim does not model
        args = split_args(rest[0] if rest else "")
        if len(args) != 1:
            raise InputError(
                f"{word} takes one argument, got {len(args)}: {line.text!r}",
                file=line.file,
                field=f"line {line.number}",
            )
        values[name] = args[0]
    return values


def _listen(lines: Iterable[ConfigLine]) -> list[str]:
    """The first argument of each ``Listen`` line, duplicates dropped."""
    found: list[str] = []
    for line in lines:
        word, *rest = line.text.split(None, 1)
        args = split_args(rest[0] if rest else "")
        if word.lower() == "listen" and args and args[0] not in found:
            found.append(args[0])
    return found


def _mpm_of(module: LoadedModule) -> str | None:
    identifier = module.identifier.lower()
    return next((m for m in MPMS if identifier == f"mpm_{m}_module"), None)


def _detect_mpm(modules: Iterable[LoadedModule]) -> str | None:
    """The MPM of the ``LoadModule mpm_*_module`` lines; an error if they load different MPMs."""
    found: dict[str, LoadedModule] = {}
    for module in modules:
        if (mpm := _mpm_of(module)) is not None:
            found.setdefault(mpm, module)
    if len(found) > 1:
        where = ", ".join(f"{name} ({m.file} line {m.number})" for name, m in found.items())
        first = next(iter(found.values()))
        raise InputError(
            f"the configuration loads more than one MPM: {where}; Apache runs exactly one",
            file=first.file,
        )
    return next(iter(found), None)


__all__ = ["ApacheConfig", "read_apache_config", "read_apache_tree"]

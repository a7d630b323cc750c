"""Ask a live Apache what it is: its binary's ``-V``, ``-M`` and ``-S``, and how it was started.

The binary is run directly with the server's own ``-d``/``-f``/``-D`` arguments (read from
``/proc/PID/cmdline``) and environment (``/proc/PID/environ``; without a PID, Debian's
``envvars`` beside the config, which is what ``apache2ctl`` sources), so it reads exactly the
configuration the running server read.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mpmsim.errors import InputError
from mpmsim.models.apache.envvars import read_envvars

BINARIES = ("apache2", "httpd")
SBIN = Path("/usr/sbin")
QUERY_TIMEOUT_S = 30.0
_DEFINE_RE = re.compile(r'^\s*-D\s+(\w+)(?:="(.*)")?\s*$')


@dataclass(frozen=True)
class Invocation:
    """How a server was started: its binary and the arguments that choose its configuration."""

    binary: Path
    server_root: Path | None = None
    """``-d``."""
    config: Path | None = None
    """``-f``, as given (relative to the server root when not absolute)."""
    defines: tuple[str, ...] = ()
    """``-D NAME`` parameters."""

    def arguments(self) -> list[str]:
        """The arguments that make the binary read this configuration."""
        args: list[str] = []
        if self.server_root is not None:
            args += ["-d", str(self.server_root)]
        if self.config is not None:
            args += ["-f", str(self.config)]
        for name in self.defines:
            args += ["-D", name]
        return args


@dataclass(frozen=True)
class ServerInfo:
    """What the binary says about the server: version, MPM, modules, files."""

    invocation: Invocation
    version: str
    mpm: str | None
    server_root: Path
    """ServerRoot at start (``-d``, else compiled in); a ServerRoot directive may change it."""
    config_file: Path
    modules: tuple[tuple[str, str], ...]
    """(identifier, ``static`` or ``shared``) as ``-M`` lists them."""
    pid_file: Path | None
    variables: dict[str, str]
    variables_from: str
    """Where ``${VAR}`` values came from: ``/proc/PID/environ``, an envvars file, or nothing."""

    @property
    def static_modules(self) -> tuple[str, ...]:
        """Modules compiled into the binary."""
        return tuple(name for name, kind in self.modules if kind == "static")


def parse_version(text: str) -> dict[str, str]:
    """``-V``: ``version``, ``mpm`` and the compiled-in ``-D`` settings (HTTPD_ROOT ...)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == "Server version":
            found["version"] = value.strip()
        elif key == "Server MPM":
            found["mpm"] = value.strip().lower()
        elif m := _DEFINE_RE.match(line):
            found[m.group(1)] = m.group(2) if m.group(2) is not None else ""
    return found


def parse_modules(text: str) -> list[tuple[str, str]]:
    """``-M``: (identifier, static|shared) for each loaded module."""
    out = []
    for line in text.splitlines():
        if m := re.match(r"^\s*(\w+_module)\s+\((static|shared)\)\s*$", line):
            out.append((m.group(1), m.group(2)))
    return out


def parse_run_config(text: str) -> dict[str, str]:
    """``-S``: its ``Name: "value"`` lines (ServerRoot, PidFile, Main DocumentRoot ...)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if m := re.match(r'^([A-Za-z][A-Za-z ]*):\s*"([^"]*)"', line):
            found.setdefault(m.group(1), m.group(2))
    return found


def parse_cmdline(args: Sequence[str], binary: Path, cwd: Path | None = None) -> Invocation:
    """The ``-d``, ``-f`` and ``-D`` arguments of a command line (``-dDIR`` or ``-d DIR``)."""
    values: dict[str, list[str]] = {"-d": [], "-f": [], "-D": []}
    rest = list(args[1:])
    while rest:
        arg = rest.pop(0)
        flag = arg[:2]
        if flag in values:
            value = arg[2:] or (rest.pop(0) if rest else "")
            values[flag].append(value)
    root = Path(values["-d"][-1]) if values["-d"] else None
    if root is not None and not root.is_absolute() and cwd is not None:
        root = cwd / root
    config = Path(values["-f"][-1]) if values["-f"] else None
    return Invocation(binary, root, config, tuple(values["-D"]))


def _read_proc(pid: int, name: str) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return None


def find_binary() -> Path:
    """The Apache binary on PATH or in /usr/sbin."""
    for name in BINARIES:
        found = shutil.which(name) or (str(SBIN / name) if (SBIN / name).is_file() else None)
        if found:
            return Path(found)
    raise InputError(
        "no Apache binary found (apache2 or httpd on PATH or in /usr/sbin); "
        "install Apache or give --pid of a running one",
        field="--pid",
    )


def invocation_of(pid: int | None) -> tuple[Invocation, dict[str, str] | None]:
    """How server ``pid`` was started and its environment (None when unreadable)."""
    if pid is None:
        return Invocation(find_binary()), None
    cmdline = _read_proc(pid, "cmdline")
    if cmdline is None:
        raise InputError(f"no process with PID {pid}", field="--pid")
    try:
        binary = Path(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        binary = find_binary()  # another user's process: its exe link needs root
    try:
        cwd: Path | None = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        cwd = None
    args = [a.decode(errors="replace") for a in cmdline.split(b"\0") if a]
    environ = _read_proc(pid, "environ")
    env = None
    if environ is not None:
        pairs = (item.decode(errors="replace").partition("=") for item in environ.split(b"\0"))
        env = {key: value for key, _, value in pairs if key}
    return parse_cmdline(args, binary, cwd), env


def _ask(
    invocation: Invocation, flag: str, env: Mapping[str, str]
) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    """Run the binary with one flag; the command and what it did (an error if it cannot run)."""
    command = [str(invocation.binary), *invocation.arguments(), flag]
    try:
        done = subprocess.run(
            command,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=QUERY_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"{' '.join(command)}: {exc}", field="--pid") from None
    return command, done


def query(invocation: Invocation, flag: str, env: Mapping[str, str]) -> str:
    """The binary's output for one flag (``-V``, ``-M``, ``-S``); an error if it fails."""
    command, done = _ask(invocation, flag, env)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()
        raise InputError(
            f"{' '.join(command)} failed: {tail[-1] if tail else done.returncode}",
            file=str(invocation.config or invocation.server_root or invocation.binary),
        )
    return done.stdout


def describe_server(pid: int | None, config: Path | None) -> ServerInfo:
    """Ask the binary of server ``pid`` (or the installed one) about its configuration.

    With ``config`` (and no ``-d`` on the server's command line) the config file's folder is
    the ServerRoot, as for Debian's apache2.conf; a ServerRoot directive in it still wins.
    """
    invocation, environ = invocation_of(pid)
    if config is not None:
        config = config.absolute()
        root = invocation.server_root or config.parent
        invocation = Invocation(invocation.binary, root, config, invocation.defines)
    root, config_file = _config_path(invocation, environ)
    if environ is not None:
        variables, source = environ, f"/proc/{pid}/environ"
    else:
        envvars = config_file.parent / "envvars"
        variables, source = read_envvars(envvars), str(envvars) if envvars.is_file() else "none"
    version = parse_version(query(invocation, "-V", variables))
    modules = parse_modules(query(invocation, "-M", variables))
    run_config = parse_run_config(query(invocation, "-S", variables))
    pid_file = run_config.get("PidFile")
    return ServerInfo(
        invocation=invocation,
        version=version.get("version", ""),
        mpm=version.get("mpm") or None,
        server_root=root,
        config_file=config_file,
        modules=tuple(modules),
        pid_file=Path(pid_file) if pid_file else None,
        variables=dict(variables),
        variables_from=source,
    )


def running_config_file(pid: int) -> Path:
    """The config file server ``pid`` was started with: its ``-f``, else the compiled-in one."""
    invocation, environ = invocation_of(pid)
    return _config_path(invocation, environ)[1]


def _config_path(invocation: Invocation, environ: Mapping[str, str] | None) -> tuple[Path, Path]:
    """The ServerRoot and config file ``invocation`` reads (``-d``/``-f``, else compiled in).

    The binary is asked (``-V``) only for what the invocation leaves out.
    """
    if invocation.server_root and invocation.config and invocation.config.is_absolute():
        return invocation.server_root, invocation.config
    compiled = _compiled_settings(invocation, environ or {})
    root = invocation.server_root or Path(compiled.get("HTTPD_ROOT", "/etc/apache2"))
    chosen = invocation.config or Path(compiled.get("SERVER_CONFIG_FILE", "httpd.conf"))
    return root, chosen if chosen.is_absolute() else root / chosen


def _compiled_settings(invocation: Invocation, env: Mapping[str, str]) -> dict[str, str]:
    """``-V``'s compiled-in settings (HTTPD_ROOT ...), which print even if the config fails."""
    _, done = _ask(invocation, "-V", env)
    return parse_version(done.stdout)


__all__ = [
    "Invocation",
    "ServerInfo",
    "describe_server",
    "find_binary",
    "invocation_of",
    "parse_cmdline",
    "parse_modules",
    "parse_run_config",
    "parse_version",
    "query",
    "running_config_file",
]

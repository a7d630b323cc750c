"""Inspect a running Apache and write its scenario skeleton and measured cost model.

:func:`inspect_apache` asks the binary (``-V``, ``-M``, ``-S``), reads the config tree the
server reads, samples every process's memory over a short window and builds an
:class:`~mpmsim.inspection.result.Inspection`; :func:`write_inspection` writes
``scenario.yaml`` and ``costs.yaml`` (the scenario names the cost file beside it).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mpmsim.errors import InputError
from mpmsim.inspection.apachectl import ServerInfo, describe_server, running_config_file
from mpmsim.inspection.host import Host, read_host
from mpmsim.inspection.measured_costs import costs_yaml, measured_costs
from mpmsim.inspection.process_memory import MemoryProfile, apache_parent, profile, sample
from mpmsim.inspection.result import Inspection, capacity
from mpmsim.inspection.skeleton import os_reserved_mib, scenario_data, scenario_yaml
from mpmsim.models.apache.config_file import ApacheConfig, read_apache_tree
from mpmsim.models.apache.directives import apply_apache_rules, normalize_directives
from mpmsim.models.costs import load_costs
from mpmsim.models.mpm.registry import make_mpm

DEFAULT_WINDOW_S = 5.0
DEFAULT_INTERVAL_S = 0.5
SCENARIO_FILE = "scenario.yaml"
COSTS_FILE = "costs.yaml"
BASE_COSTS = "default"


def check_output(out: Path, force: bool) -> None:
    """``out`` may receive scenario.yaml and costs.yaml: never over the user's without --force."""
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", file=str(out), field="-o")
    if not out.exists() and not out.parent.is_dir():
        raise InputError(f"folder {out.parent} does not exist", file=str(out), field="-o")
    if not os.access(out if out.exists() else out.parent, os.W_OK):
        raise InputError("the folder is not writable", file=str(out), field="-o")
    clash = [name for name in (SCENARIO_FILE, COSTS_FILE) if (out / name).exists()]
    if clash and not force:
        raise InputError(
            f"would overwrite {', '.join(clash)}; use --force or another folder",
            file=str(out),
            field="-o",
        )


def running_pid(server: ServerInfo) -> int:
    """The PID in the server's PidFile, which must be a running process."""
    if server.pid_file is None:
        raise InputError("the configuration names no PidFile; give --pid", field="--pid")
    try:
        pid = int(server.pid_file.read_text().strip())
    except (OSError, ValueError):
        raise InputError(
            "no running Apache: its PidFile cannot be read; start Apache or give --pid",
            file=str(server.pid_file),
        ) from None
    if not Path(f"/proc/{pid}").exists():
        raise InputError(
            f"no running Apache: PID {pid} has exited; start Apache or give --pid",
            file=str(server.pid_file),
        )
    return apache_parent(pid)


def _consistency(server: ServerInfo, config: ApacheConfig) -> list[str]:
    """Where the binary and mpmsim's reading of the files disagree (each a sentence)."""
    notes = []
    if server.mpm and config.mpm and server.mpm != config.mpm:
        notes.append(f"apache2 -V runs {server.mpm} but the files load {config.mpm}")
    listed = {name for name, kind in server.modules if kind == "shared"}
    read = set(config.modules)
    for name in sorted(listed - read):
        notes.append(f"-M lists {name} but no LoadModule line for it was read")
    for name in sorted(read - listed):
        notes.append(f"a LoadModule line loads {name} but -M does not list it")
    return notes


def _other_file(pid: int, server: ServerInfo, config: Path | None) -> list[str]:
    """A sentence when ``--config`` names another file than the one server ``pid`` was started
    with: the directives then come from that file while the memory is the running server's."""
    if config is None:
        return []
    own = running_config_file(pid)
    if own.resolve() == server.config_file.resolve():
        return []
    return [
        f"--config {server.config_file} is not the file the running server (PID {pid}) was "
        f"started with ({own}): the directives are read from {server.config_file}, the memory "
        "from the running server"
    ]


def _read_tree(server: ServerInfo) -> tuple[ApacheConfig, str]:
    """The config tree the server reads, as it reads it, and its MPM."""
    tree = read_apache_tree(
        server.config_file,
        server.mpm,
        server_root=server.server_root,
        variables=server.variables,
        defines=server.invocation.defines,
        static_modules=server.static_modules,
    )
    mpm = server.mpm or tree.mpm
    if mpm is None:
        raise InputError(
            "neither apache2 -V nor the files name an MPM", file=str(server.config_file)
        )
    return tree, mpm


def _provenance(
    server: ServerInfo, host: Host, pid: int, mpm: str, memory: MemoryProfile
) -> dict[str, Any]:
    """The cost model's ``calibration`` record: what was measured, where and when."""
    return {
        "method": "mpmsim inspect",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": host.hostname,
        "pid": pid,
        "apache": server.version,
        "mpm": mpm,
        "config_file": str(server.config_file),
        "window_s": memory.window_s,
        "samples": memory.samples,
        "children_mean": memory.children_mean,
        "base": BASE_COSTS,
    }


def inspect_apache(
    *,
    pid: int | None = None,
    config: Path | None = None,
    window_s: float = DEFAULT_WINDOW_S,
    interval_s: float = DEFAULT_INTERVAL_S,
) -> Inspection:
    """Inspect the Apache of ``pid`` (or the one its PidFile names) over ``window_s`` seconds."""
    parent = apache_parent(pid) if pid is not None else None
    server = describe_server(parent, config)
    tree, mpm = _read_tree(server)
    parent = parent if parent is not None else running_pid(server)
    host = read_host(pid=parent)  # the CPUs Apache may run on, not this process's
    values, notes = normalize_directives(
        tree.directives, source=str(server.config_file), field_prefix="directives"
    )
    notes = [*tree.renamed, *notes]  # the old names the files use, as Apache logs them
    effective, warnings = apply_apache_rules(mpm, values, vcpus=host.vcpus)
    memory = profile(sample(parent, window_s, interval_s), window_s)
    model = make_mpm(mpm, effective)
    threads = model.threads_per_child() + model.extra_threads_per_child()
    costs = measured_costs(
        memory,
        load_costs(BASE_COSTS),
        threads_per_child=threads,
        where=f"{host.hostname} (Apache PID {parent})",
        provenance=_provenance(server, host, parent, mpm, memory),
    )
    reserved = os_reserved_mib(host.ram_mib)
    return Inspection(
        pid=parent,
        server=server,
        config=tree,
        directives=effective,
        notes=tuple(
            notes + warnings + _consistency(server, tree) + _other_file(parent, server, config)
        ),
        host=host,
        os_reserved_mib=reserved,
        memory=memory,
        costs=costs,
        capacity=capacity(
            host.ram_mib - reserved, memory, costs, effective, mpm=mpm, threads_per_child=threads
        ),
    )


def write_inspection(inspection: Inspection, out: Path, *, force: bool) -> tuple[Path, Path]:
    """Write ``out/scenario.yaml`` and ``out/costs.yaml``; return their paths."""
    check_output(out, force)
    server, host = inspection.server, inspection.host
    data = scenario_data(
        host,
        inspection.directives.mpm,
        inspection.config.directives,
        listeners=max(1, len(inspection.config.listen)),
        costs_file=COSTS_FILE,
    )
    header = [
        f"Scenario skeleton written by `mpmsim inspect` from the Apache running on {host.hostname}",
        f"(PID {inspection.pid}, {server.version or 'Apache'}), "
        f"{inspection.costs.calibration.get('measured_at', '')}.",
        "hardware: this machine (vcpus: the CPUs Apache may run on; ram_mib: /proc/meminfo",
        "  MemTotal); cpu_speed is not measured (1.0 = the reference core).",
        f"server: the MPM apache2 -V reports and the directives of {server.config_file}",
        f"  and the {len(inspection.config.files) - 1} files it includes.",
        f"costs: {COSTS_FILE} beside this file (memory measured, the rest the default model's).",
        "load and mix: a STARTING POINT (ab -n 10000 -c 50 on a 4 KiB page), not this server's",
        "  traffic: replace them with yours before trusting any result.",
    ]
    out.mkdir(exist_ok=True)
    costs_path, scenario_path = out / COSTS_FILE, out / SCENARIO_FILE
    costs_path.write_text(costs_yaml(inspection.costs, BASE_COSTS))
    scenario_path.write_text(scenario_yaml(data, header))
    return scenario_path, costs_path


__all__ = [
    "COSTS_FILE",
    "DEFAULT_INTERVAL_S",
    "DEFAULT_WINDOW_S",
    "SCENARIO_FILE",
    "check_output",
    "inspect_apache",
    "running_pid",
    "write_inspection",
]

"""The printed summary of an inspection: each figure with where it comes from."""

from __future__ import annotations

from mpmsim.inspection.result import Inspection

#: Directives worth a line of their own in the summary, in this order.
SHOWN = (
    "StartServers",
    "ServerLimit",
    "ThreadsPerChild",
    "MaxRequestWorkers",
    "MinSpareServers",
    "MaxSpareServers",
    "MinSpareThreads",
    "MaxSpareThreads",
    "MaxConnectionsPerChild",
    "KeepAlive",
    "KeepAliveTimeout",
    "Timeout",
)


def _modules(inspection: Inspection) -> str:
    names = [name.removesuffix("_module") for name, _ in inspection.server.modules]
    static = sum(kind == "static" for _, kind in inspection.server.modules)
    return f"{len(names)} loaded ({static} compiled in; apache2 -M): {', '.join(names)}"


def _server_lines(i: Inspection) -> list[str]:
    server, config = i.server, i.config
    effective = i.directives.as_dict()
    shown = ", ".join(f"{n} {effective[n]}" for n in SHOWN if n in effective)
    return [
        f"Apache: {server.version or '?'}, MPM {i.directives.mpm} (apache2 -V), "
        f"PID {i.pid}, {server.invocation.binary}",
        f"Config: {server.config_file}, {len(config.files)} files read with Include and "
        f"IncludeOptional followed (${{VAR}} from {server.variables_from})",
        f"Modules: {_modules(i)}",
        f"Effective directives (the files' values after Apache 2.4's start-up rules): {shown}",
        *(f"  note: {note}" for note in i.notes),
    ]


def _memory_lines(i: Inspection) -> list[str]:
    m, h = i.memory, i.host
    others = h.ram_mib - h.available_mib - m.total_pss_mib
    return [
        f"Host: {h.vcpus} vCPUs (Apache's affinity), {h.ram_mib:.0f} MiB RAM "
        "(/proc/meminfo MemTotal), "
        f"{i.os_reserved_mib} MiB kept for the OS (assumption), "
        f"{max(0.0, others):.0f} MiB in use by other processes now",
        f"Memory (/proc/PID/smaps_rollup, {m.samples} samples over {m.window_s:g} s): "
        f"{m.children_mean:g} children (max {m.children_max}), "
        f"{m.child_threads} thread{'s' if m.child_threads != 1 else ''} each",
        f"  per child: RSS mean {m.child_rss_mean_mib:.2f} MiB, max {m.child_rss_max_mib:.2f}; "
        f"PSS mean {m.child_pss_mean_mib:.2f}, max {m.child_pss_max_mib:.2f}; "
        f"private mean {m.child_private_mean_mib:.2f}",
        f"  parent: RSS {m.parent_rss_mib:.2f} MiB, PSS {m.parent_pss_mib:.2f}, "
        f"private {m.parent_private_mib:.2f}; shared pages counted once {m.shared_mib:.2f} MiB; "
        f"all of Apache: PSS {m.total_pss_mib:.2f} MiB, RSS summed {m.total_rss_mib:.2f}",
        "  measured now: children grow as they serve requests (heap, caches, mod_php), so "
        "inspect under typical load for figures that hold",
    ]


def _capacity_lines(i: Inspection) -> list[str]:
    c, k = i.capacity, i.costs
    per = "" if c.workers_per_child == 1 else f" x {c.workers_per_child} threads"
    return [
        f"Cost model: parent_mib {k.parent_mib:g}, shared_mib {k.shared_mib:g}, "
        f"process_mib {k.process_mib:g} (measured); thread_mib {k.thread_mib:g}, "
        f"connection_kib {k.connection_kib:g} and all CPU figures from the default model",
        f"MaxRequestWorkers that fit in {c.usable_mib:.0f} MiB (RAM - OS reserve):",
        f"  apache2buddy: {c.usable_mib:.0f} / {c.buddy_child_mib:.2f} MiB (largest child RSS) "
        f"= {c.buddy_children} children{per} = {c.buddy_workers} workers; charges the pages "
        "children share once per child",
        f"  mpmsim:       ({c.usable_mib:.0f} - {c.fixed_mib:.2f} parent and shared) / "
        f"{c.child_mib:.3f} MiB per child (private memory, its threads and connections) "
        f"= {c.children} children{per} = {c.workers} workers; shared pages once (PSS)",
        f"  configured:   MaxRequestWorkers {c.configured_workers} needs "
        f"{c.configured_buddy_mib:.0f} MiB by apache2buddy's count, {c.configured_mib:.0f} MiB "
        "by mpmsim's (memory only: whether the CPU keeps up is what `mpmsim run` tells)",
    ]


def summary_lines(inspection: Inspection) -> list[str]:
    """The summary, one line per finding."""
    return _server_lines(inspection) + _memory_lines(inspection) + _capacity_lines(inspection)


__all__ = ["summary_lines"]

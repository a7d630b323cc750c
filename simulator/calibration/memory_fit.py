"""Stage 1 of ``mpmsim calibrate``, memory: a linear fit of the rows' idle and peak PSS readings.

Each reading is explained by what the simulator holds at that moment: the parent and the shared
pages, each child, each thread, each worker thread that has served, each class's worker and
child state, each connection, and event's connections held by a listener, kept alive or
lingering (:func:`fit_memory`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

import numpy as np

from mpmsim.calibration.linear import ParamFit, robust_linear
from mpmsim.calibration.regressors import (
    class_children,
    class_workers,
    listener_connections,
    peak_connections,
    used_threads,
)
from mpmsim.models.costs import CostModel, RequestClassCost
from mpmsim.workloads.readers import MeasuredRun


def fit_memory(
    runs: Sequence[MeasuredRun],
    base: CostModel,
    keep: Collection[str] = (),
    cores: float = 1.0,
    used: Mapping[str, float] | None = None,
    kept: Mapping[str, float] | None = None,
) -> ParamFit | None:
    """Fit parent + shared, per-child, per-thread, per-used-thread and per-class memory.

    Idle and peak readings of every row; a used thread (``thread_used_kib``) is a worker of a
    threaded MPM that has served, so only loaded readings have them. A class's ``worker_kib``
    is held by every worker that has served it: in a loaded reading of a row of that content,
    the used threads of a threaded MPM or the children of prefork (:func:`class_workers`);
    ``used`` gives, by run id, the simulator's count of used threads for the rows whose load
    one child can hold (:func:`~mpmsim.calibration.regressors.one_child_load`), where not all
    workers have served.
    A class's ``child_kib`` is held once by every child in such a reading
    (:func:`class_children`); with one worker per child, prefork's rows alone cannot tell it
    from ``worker_kib``, so it is fitted only where the rows of a threaded MPM tell them apart.
    Either is fitted only from two or more loaded readings of the class: one reading alone
    (the shared set's one /cpu row, event at one client) leaves it no residual, so it would
    take that reading's whole error (44 +- 20 KiB a worker there, against 31-37 measured at
    16 children; docs/fidelity-log.md, session 57), and it keeps the base's value.
    A loaded reading also holds the connections the simulator holds at its peak (one per
    client, up to MaxRequestWorkers): Apache's memory for each (``connection_kib``) is a column
    of its own, fitted too (the kernel's socket memory, ``socket_kib``, is in no PSS and the
    simulator leaves it out of the figure compared with one). Event's loaded readings also hold
    the connections its listeners hold, each with a pool of its own: kept alive, or waiting in
    the linger queue for the client's FIN (``listener_connection_kib``,
    :func:`listener_connections`; ``cores``: the vCPUs Apache ran on, in which the rows'
    ``apache_cpu_util`` is counted; ``kept`` gives, by run id, the simulator's peak of them,
    which the fit takes where it has one). Parameters the readings cannot
    tell apart (no threaded rows, prefork only; a class or connection column that adds no
    rank) and those in ``keep`` (``worker_kib`` keeps every class's, ``classes.NAME.worker_kib``
    one, the same for ``child_kib``, ``connection_kib``, ``listener_connection_kib``) keep the
    base model's values; with fewer readings than parameters, nothing is fitted (None).
    """
    classes = sorted({r.content for r in runs})
    names = ["base_mib", "process_mib", "thread_mib", "thread_used_mib"]
    names += [f"classes.{c}.worker_mib" for c in classes]
    names += [f"classes.{c}.child_mib" for c in classes]
    names += ["connection_mib", "listener_connection_mib"]
    rows, y = [], []
    for r in runs:
        for procs, threads, pss, loaded in (
            (r.idle_procs, r.idle_threads, r.idle_pss_mb, False),
            (r.peak_procs, r.peak_threads, r.peak_pss_mb, True),
        ):
            if procs and threads and pss:
                simulated = None if used is None else used.get(r.run_id)
                n_used = used_threads(r, procs, threads, loaded, simulated)
                served = class_workers(r, procs, threads, loaded, simulated)
                children = class_children(r, procs, loaded)
                # The simulator's peak also holds its open connections (connection_kib each,
                # one a busy worker), as php_fit's mod_php memory fit takes them.
                conns = float(peak_connections(r)) if loaded else 0.0
                held = 0.0
                if loaded:
                    sim_kept = None if kept is None else kept.get(r.run_id)
                    held = listener_connections(r, procs, cores) if sim_kept is None else sim_kept
                rows.append([1.0, procs - 1.0, threads - 1.0, n_used]
                            + [served if c == r.content else 0.0 for c in classes]
                            + [children if c == r.content else 0.0 for c in classes]
                            + [conns, held])  # fmt: skip
                y.append(float(pss))
    a, b = np.asarray(rows).reshape(-1, len(names)), np.asarray(y)
    worker_mib = [base.classes.get(c, RequestClassCost()).worker_kib / 1024.0 for c in classes]
    child_mib = [base.classes.get(c, RequestClassCost()).child_kib / 1024.0 for c in classes]
    start = np.array([base.parent_mib + base.shared_mib, base.process_mib, base.thread_mib,
                      base.thread_used_kib / 1024.0, *worker_mib, *child_mib,
                      base.connection_kib / 1024.0,
                      base.listener_connection_kib / 1024.0])  # fmt: skip
    chosen = next(
        (list(range(k)) for k in ((3, 2) if "thread_used_kib" in keep else (4, 3, 2))
         if len(rows) >= k and np.linalg.matrix_rank(a[:, :k]) == k),
        None,
    )  # fmt: skip
    if chosen is None:
        return None
    # each class's worker_kib, then its child_kib where the readings tell the two apart (rows
    # of prefork, one worker per child, and of a threaded MPM, many); from two loaded readings
    # or more: one alone sets it to whatever that reading's error is, and none checks it
    for kind, first in (("worker_kib", 4), ("child_kib", 4 + len(classes))):
        for j, c in enumerate(classes, start=first):
            if asked_to_keep(keep, c, kind) or np.count_nonzero(a[:, j]) < 2:
                continue
            trial = [*chosen, j]
            if len(rows) >= len(trial) and np.linalg.matrix_rank(a[:, trial]) == len(trial):
                chosen = trial
    # Apache's memory per open connection, if loaded readings at two or more numbers of
    # connections tell it apart from what every loaded reading has (used threads, classes)
    for name in ("connection_mib", "listener_connection_mib"):
        col = names.index(name)
        trial = [*chosen, col]
        if (
            name.replace("_mib", "_kib") not in keep
            and len({float(x) for x in a[:, col] if x > 0}) >= 2
            and len(rows) >= len(trial)
            and np.linalg.matrix_rank(a[:, trial]) == len(trial)
        ):
            chosen = trial
    rest = [j for j in range(len(names)) if j not in chosen]
    fit = robust_linear(a[:, chosen], b - a[:, rest] @ start[rest], b, start[chosen],
                        [names[j] for j in chosen], len(rows))  # fmt: skip
    for j in rest:
        fit.values[names[j]] = float(start[j])
        fit.stderr[names[j]] = math.nan
    return fit


def class_clients(runs: Sequence[MeasuredRun]) -> dict[str, tuple[int, int, int]]:
    """For each class (row content), the rows whose loaded readings tell its memory and their
    fewest and most clients: ``(rows, min clients, max clients)``. A class told by rows at one
    number of clients says nothing of how its memory changes with the requests running at
    once (a mod_lua pool builds a state whenever every pooled one is in use)."""
    out: dict[str, tuple[int, int, int]] = {}
    for r in runs:
        n, lo, hi = out.get(r.content, (0, r.concurrency, r.concurrency))
        out[r.content] = (n + 1, min(lo, r.concurrency), max(hi, r.concurrency))
    return out


def asked_to_keep(keep: Collection[str], name: str, field: str) -> bool:
    """``--keep`` names class ``name``'s memory ``field`` (``worker_kib``, ``child_kib``):
    the field for every class, or ``classes.NAME.FIELD``."""
    return field in keep or f"classes.{name}.{field}" in keep


def kept_class_memory(
    base: CostModel, mem: ParamFit | None, keep: Collection[str] = ()
) -> dict[str, str]:
    """Justifications for the class memories (``worker_kib``, ``child_kib``) a fit kept at the
    base model's value, where it has one: asked to (``keep``), or the rows could not tell them
    (fewer than two loaded readings of the class; prefork's alone cannot tell a child's share
    from a worker's), so the prior decides them, and the fitted model says where it comes from.
    Keyed ``classes.NAME.FIELD``."""
    out: dict[str, str] = {}
    for name, cls in base.classes.items():
        for field in ("worker_kib", "child_kib"):
            err = math.nan if mem is None else mem.stderr.get(
                f"classes.{name}.{field.replace('_kib', '_mib')}", math.nan
            )  # fmt: skip
            if getattr(cls, field) and not math.isfinite(err):
                why = base.justification.get(f"classes.{name}", "no justification there")
                reason = (
                    "--keep" if asked_to_keep(keep, name, field) else
                    "not fitted (the rows cannot tell it: two loaded readings of the class or "
                    "more, of prefork and of a threaded MPM for child_kib)"
                )  # fmt: skip
                out[f"classes.{name}.{field}"] = (
                    f"kept from the {base.name!r} cost model, {reason}: {why}"
                )
    return out

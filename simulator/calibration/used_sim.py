"""The workers that have served, as the simulator holds them, for the rows one child can hold.

The memory fit charges ``thread_used_kib`` (and a class's ``worker_kib``) for every worker
thread that has served. After a loaded run that is every worker of every child that got
connections, and under most loads every child gets some. Where one child's workers can hold
all the clients (:func:`~mpmsim.calibration.regressors.one_child_load`: one client, ten on
children of 25 threads), the load may stay in the child whose listener took it, and then a
quarter of the workers of four children have served, not all: the simulator held 25 of 100 at
one client, and 25 or 100 at ten depending on whether keep-alive pins the connections or
lingering closes on a saturated core push the next ones to another child. So those rows are
simulated first, with the CPU already fitted, and the memory fit takes the simulator's peak of
used workers for them; every other loaded row keeps all its workers. Memory costs do not change
what the simulator does (short of an out-of-memory kill), so the count does not depend on the
memory the fit is about to choose.

The same simulations give event's connections held by its listeners with pools of their own
(``listener_connection_kib``): kept alive or lingering, as many as the children admit, and a
saturated child admits more while its listener waits for the CPU (its workers count idle until
it runs: :mod:`mpmsim.engine.listener`). The memory fit takes the simulator's peak of them for
every event row rather than :func:`~mpmsim.calibration.regressors.listener_connections`'
estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mpmsim.calibration.check import simulate_rows
from mpmsim.calibration.measured import Setup
from mpmsim.calibration.regressors import one_child_load
from mpmsim.models.costs import CostModel
from mpmsim.models.mpm.registry import listener_keeps
from mpmsim.workloads.readers import MeasuredRun


def simulated_counts(
    runs: Sequence[MeasuredRun],
    costs: CostModel,
    setup: Setup,
    *,
    jobs: int = 2,
    seed: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """By run id, the peak of worker threads that have served in the simulation of each row of
    ``runs`` whose load one child can hold, and the peak of connections event's listeners held
    with their pools in the simulation of each event row
    (:func:`~mpmsim.models.mpm.registry.listener_keeps`): one simulation per row, each with
    its ``check.row_seed`` of ``seed``."""
    rows = [r for r in runs if r.peak_pss_mb and (one_child_load(r) or listener_keeps(r.mpm))]
    if not rows:
        return {}, {}
    predicted = simulate_rows(rows, [costs], setup, jobs=jobs, progress=progress, seed=seed)
    pairs = list(zip(rows, predicted, strict=True))
    used = {r.run_id: p["threads_used_peak"] for r, p in pairs if one_child_load(r)}
    kept = {r.run_id: p["listener_kept_peak"] for r, p in pairs if listener_keeps(r.mpm)}
    return used, kept

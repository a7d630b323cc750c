"""What the simulator charges per request and per worker, as regressors of the linear fits.

The fit (:mod:`mpmsim.calibration.fit`) needs, per measured row, how many context switches of
each kind the MPM model charges per request, how many of them grow with the tasks alive, and
per memory reading how many workers have served (and so hold ``thread_used_kib`` and the
class's ``worker_kib``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mpmsim.calibration.linear import ParamFit
from mpmsim.calibration.measured import ServerMs, effective, requests_per_connection
from mpmsim.models.costs import CostModel
from mpmsim.models.mpm.registry import MPM_MODELS, listener_held
from mpmsim.workloads.readers import MeasuredRun

#: The CPU fit's terms after the classes' handler CPU, in :func:`cpu_regressors`' order.
CPU_TERMS = ("conn_cpu_ms", "switch_us", "process_switch_total_us", "switch_us_per_task",
             "switch_us_per_process", "idle_connection_us", "fork_cpu_ms",
             "thread_create_cpu_ms")  # fmt: skip


def switch_counts(mpm: str, k: float) -> tuple[float, float]:
    """Context switches per request of ``mpm`` at ``k`` requests per connection.

    (thread switches, process switches): hand-offs of new connections and keep-alive requests
    and the wake-up for a lingering close, as the MPM model charges them.
    """
    model: Any = MPM_MODELS[mpm]
    n = (
        model.switches_per_new_connection / k
        + model.switches_per_keepalive_request * (1.0 - 1.0 / k)
        + model.switches_per_close / k
    )
    return (n, 0.0) if model.threaded else (0.0, n)


def task_switches(run: MeasuredRun, k: float) -> float:
    """Tasks alive x switches per request whose cost grows with them (``switch_us_per_task``).

    The tasks alive are the run's peak processes + threads (a saturated server holds them for
    most of the run); the switches are its CPU jobs per request (:func:`jobs_per_request`).
    """
    return float(run.peak_threads or run.idle_threads or 0) * jobs_per_request(run, k)


def process_switches(run: MeasuredRun, k: float) -> float:
    """Processes alive x CPU jobs per request (``switch_us_per_process``).

    The processes are those alive on average over the measured window: the peak for a run
    measured after a warm-up; for a cold run, whose children grow from the idle reading to the
    peak in its spawn ramp, their midpoint.
    """
    peak = float(run.peak_procs or run.idle_procs or 0)
    procs = peak
    if not run.warmup_s and run.idle_procs:
        procs = (float(run.idle_procs) + peak) / 2.0
    return procs * jobs_per_request(run, k)


def jobs_per_request(run: MeasuredRun, k: float) -> float:
    """CPU jobs per request at ``k`` requests per connection: each a wake-up into its task.

    One per request, and for a worker that lingers itself (prefork, worker) one more per
    connection, after the client's FIN.
    """
    model: Any = MPM_MODELS[run.mpm]
    return 1.0 + (1.0 / k if model.linger_holds_worker else 0.0)


def idle_share(run: MeasuredRun, cores: float = 1.0) -> float:
    """The chance that a new connection of ``run`` finds Apache's vCPUs with nothing to run
    (``idle_connection_us``): 1 for one client (the server is idle whenever its next
    connection comes); otherwise the share of the run the vCPU that ran Apache was idle
    (``cpu1_busy_pct``, the calibration set's layout: Apache alone on CPU 1), or, without that
    column, of Apache's ``cores`` (``apache_cpu_util``); 0 when the row tells neither.

    An estimate for many clients: the simulator charges a connection whose worker's job
    starts with a vCPU idle (:meth:`mpmsim.engine.cpu.CPU.has_idle_vcpu`), and closed-loop
    arrivals come less often while the CPU is idle than its share of the time says.
    """
    if run.concurrency == 1:
        return 1.0
    busy = run.extra.get("cpu1_busy_pct")
    if busy:
        idle = 1.0 - float(busy) / 100.0
    elif run.apache_cpu_util is not None:
        idle = 1.0 - run.apache_cpu_util / cores
    else:
        return 0.0
    return min(max(idle, 0.0), 1.0)


def recycles(run: MeasuredRun) -> bool:
    """Whether ``run``'s children exit after MaxConnectionsPerChild connections (the rows that
    tell ``fork_cpu_ms`` and ``thread_create_cpu_ms`` apart from the per-request CPU)."""
    return effective(run).MaxConnectionsPerChild > 0


def forks_per_request(run: MeasuredRun) -> float:
    """Children the parent forked per request in ``run``'s measured window (``fork_cpu_ms``,
    and each child's threads ``thread_create_cpu_ms``, as the simulator charges a spawn).

    Under MaxConnectionsPerChild, children exit and are replaced all through the window: the
    access log's distinct processes per logged request (``srv_distinct_pids`` /
    ``srv_log_requests``: it covers the warm-up too, whose rate is the window's) where the row
    has them, else one per MaxConnectionsPerChild connections. Otherwise a cold run forks its
    spawn ramp inside the window (peak processes beyond the idle reading), a warm one before it.
    """
    requests = float(run.requests_completed or 0)
    if requests <= 0:
        return 0.0
    if recycles(run):
        pids = float(run.extra.get("srv_distinct_pids") or 0)
        logged = float(run.extra.get("srv_log_requests") or 0)
        if pids > 0 and logged > 0:
            return pids / logged
        limit = float(effective(run).MaxConnectionsPerChild)
        return 1.0 / (limit * requests_per_connection(run))
    if run.warmup_s or not (run.idle_procs and run.peak_procs):
        return 0.0
    return max(float(run.peak_procs - run.idle_procs), 0.0) / requests


def used_threads(
    run: MeasuredRun, procs: int, threads: int, loaded: bool, simulated: float | None = None
) -> float:
    """Worker threads that have served (``thread_used_kib``) in a memory reading of ``run``.

    Only threaded MPMs count them, and only under load: work goes round a child's idle
    threads, so after a loaded run every worker of a child that got connections has served.
    A child's threads beyond its workers are its main thread and listener (two); the parent is
    one process of one thread. Every child gets connections unless one child's workers can
    hold the load (:func:`one_child_load`): the simulator's count for such a row
    (``simulated``: its peak of workers that have served), at most the reading's workers.
    """
    model: Any = MPM_MODELS[run.mpm]
    if not (loaded and model.threaded):
        return 0.0
    workers = max(float(threads - 1 - 2 * (procs - 1)), 0.0)
    return workers if simulated is None else min(simulated, workers)


def one_child_load(run: MeasuredRun) -> bool:
    """A threaded row whose clients one child's workers can all hold (concurrency at most
    ThreadsPerChild). Such a load may stay in the child whose listener took it: a listener
    accepts while its child has idle workers (worker.c/event.c ``listener_thread``), so the
    workers that serve, and grow their child, are that child's, not all of the server's.
    How many children get connections then depends on the run (on a saturated core the
    lingering closes keep workers reserved and the next child takes over): the simulator
    says (:func:`used_threads`)."""
    model: Any = MPM_MODELS[run.mpm]
    if not model.threaded:
        return False
    d = effective(run)
    return run.concurrency <= d.ThreadsPerChild


def class_workers(
    run: MeasuredRun, procs: int, threads: int, loaded: bool, simulated: float | None = None
) -> float:
    """Workers that have served the row's class (``classes.<content>.worker_kib``) in a reading.

    Only under load: a threaded MPM's used worker threads (:func:`used_threads`, with the
    simulator's count ``simulated`` where it has one), a prefork child's one worker per child
    (the parent serves nothing).
    """
    if not loaded:
        return 0.0
    model: Any = MPM_MODELS[run.mpm]
    if model.threaded:
        return used_threads(run, procs, threads, loaded, simulated)
    return max(float(procs - 1), 0.0)


def class_children(run: MeasuredRun, procs: int, loaded: bool) -> float:
    """Children that have served the row's class (``classes.<content>.child_kib``) in a
    reading: under load, every child (the parent serves nothing); idle, none."""
    return max(float(procs - 1), 0.0) if loaded else 0.0


def peak_connections(run: MeasuredRun) -> int:
    """The connections the simulator holds at a loaded reading's peak: one per client, each on
    a busy worker, so at most MaxRequestWorkers (the memory fit's ``connection_kib`` column)."""
    return min(run.concurrency, run.mrw_effective)


def listener_connections(run: MeasuredRun, procs: int, cores: float = 1.0) -> float:
    """The connections a loaded reading's children hold apart from their workers, each with a
    pool (the memory fit's ``listener_connection_kib`` column), as the simulator holds them at
    its peak; 0 for prefork and worker.

    With keep-alive: one per client, up to each child's admission limit, ThreadsPerChild +
    AsyncRequestWorkerFactor x its idle workers (connections_above_limit, event.c l.519-537,
    with the factor Apache really uses: ``EffectiveDirectives.async_factor_effective``), its
    workers idle in the share of ``cores`` the row left idle (``apache_cpu_util``): a child of a
    saturated core admits about ThreadsPerChild; a row without that reading, the limit's
    maximum, ThreadsPerChild x (1 + factor). Without keep-alive: the lingering closes, about one
    per worker (:func:`listener_held`). An estimate: under a scheduler the simulator's saturated
    child admits more while its listener waits for the CPU (mpmsim.engine.listener: its workers
    count idle until it runs), and this column does not follow it.
    """
    d = effective(run)
    idle = 1.0
    if run.apache_cpu_util is not None:
        idle = max(0.0, 1.0 - run.apache_cpu_util / cores)
    per_child = listener_held(
        run.mpm, run.keepalive, d.ThreadsPerChild, d.async_factor_effective, idle
    )
    return float(min(run.concurrency, (procs - 1) * per_child))


def peak_connections_mib(run: MeasuredRun, connection_kib: float) -> float:
    """Memory of :func:`peak_connections` at ``connection_kib`` each (php_fit's offset)."""
    return connection_kib / 1024.0 * peak_connections(run)


def cpu_term_names(classes: Sequence[str]) -> list[str]:
    """The CPU fit's parameter names, in :func:`cpu_regressors`' order."""
    return [f"classes.{c}.cpu_ms" for c in classes] + list(CPU_TERMS)


def threads_per_child(run: MeasuredRun) -> int:
    """The threads a child of ``run`` is charged to start and to exit: ThreadsPerChild, or one
    for prefork (the process), as :class:`mpmsim.engine.overheads.Overheads` charges them."""
    model: Any = MPM_MODELS[run.mpm]
    return effective(run).ThreadsPerChild if model.threaded else 1


def cpu_regressors(run: MeasuredRun, classes: Sequence[str], cores: float = 1.0) -> list[float]:
    """One row of :func:`~mpmsim.calibration.cpu_fit.fit_cpu`'s linear model: the class,
    connections, switches per request, connections that find the CPU idle (:func:`idle_share`
    of Apache's ``cores``), children forked and their threads created
    (:func:`forks_per_request`; the simulator's spawn: the fork and ``threads_per_child``
    creations, mpmsim.engine.overheads)."""
    k = requests_per_connection(run)
    n_thread, n_process = switch_counts(run.mpm, k)
    forks = forks_per_request(run)
    threads = threads_per_child(run)
    x = [1.0 if c == run.content else 0.0 for c in classes]
    x += [1.0 / k, n_thread / 1000.0, n_process / 1000.0, task_switches(run, k) / 1000.0,
          process_switches(run, k) / 1000.0, idle_share(run, cores) / k / 1000.0,
          forks, forks * threads]  # fmt: skip
    return x


def exit_cpu_ms(run: MeasuredRun, base: CostModel) -> float:
    """The CPU per request (ms) of ``run``'s children's exits at ``base``'s
    ``thread_exit_cpu_ms``: a recycling row's children exit as often as they are forked
    (:func:`forks_per_request`), each with its threads; a cold row's spawn ramp exits none.
    Not fitted (a row's exits and forks come together): the calibrate fits subtract it."""
    if not base.thread_exit_cpu_ms or not recycles(run):
        return 0.0
    return forks_per_request(run) * threads_per_child(run) * base.thread_exit_cpu_ms


def model_cpu_ms(cpu: ParamFit, base: CostModel) -> ServerMs:
    """Apache's CPU per request (ms) that the fitted linear model gives a row; None for a row
    of a class the fit did not see.

    The simulator charges the same parts (:mod:`mpmsim.engine.overheads`), so this is the
    server's share of a one-client row's latency as the model will reproduce it, with the
    connection's wake-ups on an idle vCPU (``idle_connection_us``: at one client without
    keep-alive Apache spends more per connection than on saturated rows; shared set: 0.104 ms
    per request against 0.069 at 10-50 clients; the campaigns' machine: 0.062-0.068 against
    0.045 for one worker child at 50 clients).
    """
    classes = sorted(k.split(".")[1] for k in cpu.values if k.startswith("classes."))
    coef = np.array([cpu.values.get(n, 0.0) for n in cpu_term_names(classes)])

    def predict(run: MeasuredRun) -> float | None:
        if run.content not in classes:
            return None
        fitted = float(np.dot(cpu_regressors(run, classes), coef))
        return fitted + base.request_cpu_ms + exit_cpu_ms(run, base)

    return predict

"""A cost model fitted to measurement CSVs by name: what ``mpmsim calibrate`` and
``mpmsim.calibrate`` (in a notebook) both run.

    import mpmsim
    cal = mpmsim.calibrate("../shared/data/apache-bench/runs.csv", holdout="mpm=event")
    cal.mape, cal.costs, mpmsim.plot.calibration(cal)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from mpmsim.calibration.cpu_fit import KEEPABLE as CPU_KEEPABLE
from mpmsim.calibration.fit import calibrate
from mpmsim.calibration.output import holdout_mask
from mpmsim.calibration.result import Calibration
from mpmsim.errors import InputError
from mpmsim.models.costs import load_costs
from mpmsim.models.hardware import load_hardware
from mpmsim.workloads.readers import MeasuredRun, read_measurements

#: What ``keep`` may name besides the CPU fit's terms (``cpu_fit.KEEPABLE``):
#: the other fitted parameters that can be held at the base's values.
KEEPABLE = (
    "after_response_cpu_ms",
    "kernel_us_per_request",
    "kernel_us_per_connection",
    "thread_used_kib",
    "connection_kib",
    "listener_connection_kib",
    "worker_kib",
    "child_kib",
)


def keep_names(names: Iterable[str]) -> list[str]:
    """``names`` stripped, each checked (classes.NAME.worker_kib is one class's, and
    classes.NAME.child_kib): an error naming ``--keep`` for one that cannot be kept."""
    allowed = (*CPU_KEEPABLE, *KEEPABLE)
    kept = [k.strip() for k in names if k.strip()]
    for k in kept:
        parts = k.split(".")
        if k not in allowed and not (
            len(parts) == 3 and parts[0] == "classes" and parts[2] in ("worker_kib", "child_kib")
        ):
            raise InputError(
                f"{k!r} cannot be kept; allowed: {', '.join(allowed)}, classes.NAME.worker_kib, "
                "classes.NAME.child_kib",
                field="--keep",
            )
    return kept


def read_runs(measurements: Sequence[Path]) -> list[MeasuredRun]:
    """The rows of every measurement CSV, in order."""
    runs: list[MeasuredRun] = []
    for path in measurements:
        runs.extend(read_measurements(path))
    return runs


def calibrate_files(
    measurements: str | Path | Sequence[str | Path],
    *,
    hardware: str = "bench-1core",
    base: str = "default",
    holdout: str | None = None,
    keep: Iterable[str] = (),
    name: str = "calibrated",
    jobs: int = 2,
    seed: int = 1,
    replications: int = 1,
    memory_csv: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Calibration:
    """Fit a cost model to the rows of measurement CSVs (``runs.csv``'s columns) and simulate
    every row with it, as ``mpmsim calibrate`` does.

    ``hardware`` and ``base`` are a profile's and a cost model's names or YAML files;
    ``holdout`` keeps rows out of the fit (``COLUMN=VALUE[,VALUE]``, ``COLUMN>X`` or a fraction
    such as ``0.2``) so the result says how well the model predicts them; ``keep`` holds
    parameters at the base's values; ``memory_csv`` is a PHP memory series
    (``measurements/php/memory.csv``). Bad input raises :class:`~mpmsim.errors.InputError`
    naming the file and the field. The result's ``costs`` is the fitted model (``rows`` and
    ``mape`` the comparison); ``mpmsim.plot.calibration`` draws it.
    """
    paths = (
        [Path(measurements)]
        if isinstance(measurements, str | Path)
        else [Path(p) for p in measurements]
    )
    if not paths:
        raise InputError("no measurement CSV given", field="measurements")
    kept = keep_names(keep)
    runs = read_runs(paths)
    return fit_runs(
        paths, runs, holdout_mask(runs, holdout), kept, hardware=hardware, base=base, name=name,
        jobs=jobs, seed=seed, replications=replications, memory_csv=memory_csv, progress=progress,
    )  # fmt: skip


def fit_runs(
    paths: Sequence[Path],
    runs: Sequence[MeasuredRun],
    held_out: Sequence[bool],
    kept: Sequence[str],
    *,
    hardware: str = "bench-1core",
    base: str = "default",
    name: str = "calibrated",
    jobs: int = 2,
    seed: int = 1,
    replications: int = 1,
    memory_csv: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    idle_wake: bool = True,
) -> Calibration:
    """:func:`calibrate_files` on the ``runs`` already read from ``paths`` (``held_out`` the
    hold-out mask, ``kept`` the names :func:`keep_names` checked): for a caller that uses the
    rows again (``mpmsim calibrate --usl``). ``idle_wake`` False: the hardware's cold wake-ups
    left out (a machine whose idle vCPU does not halt)."""
    hw = load_hardware(hardware, source="--hardware", field="--hardware")
    if not idle_wake:
        hw = hw.without_idle_wake()
    base_costs = load_costs(base, source="--base", field="--base")
    memory = Path(memory_csv) if memory_csv is not None else None
    try:
        return calibrate(
            runs, base_costs, hw, held_out=held_out, jobs=jobs, progress=progress, name=name,
            sources=[str(p) for p in (*paths, *filter(None, [memory]))], memory_csv=memory,
            keep=kept, seed=seed, replications=replications,
        )  # fmt: skip
    except InputError as exc:  # what the rows lack: name the files they came from
        if exc.file is not None:
            raise
        raise InputError(exc.detail, file=", ".join(map(str, paths)), field=exc.field) from None

"""Map a function over tasks in order: in this process, in local processes, or on Dask."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from mpmsim.errors import InputError


class TaskMapper:
    """Runs ``fn(task)`` for each task and returns results in task order (deterministic).

    ``jobs`` > 1 uses a ProcessPoolExecutor; ``scheduler`` (an address, or ``dask://local`` for a
    LocalCluster of max(jobs, 2) worker processes) uses Dask distributed. Use as a context
    manager.
    """

    def __init__(self, jobs: int = 1, scheduler: str | None = None) -> None:
        if jobs < 1:
            raise InputError(f"must be >= 1, got {jobs}", field="--jobs")
        self.jobs = jobs
        self.scheduler = scheduler
        self._pool: ProcessPoolExecutor | None = None
        self._client: Any = None
        self._cluster: Any = None

    @property
    def kind(self) -> str:
        """``local``, ``processes`` or ``dask``."""
        if self.scheduler:
            return "dask"
        return "processes" if self.jobs > 1 else "local"

    def __enter__(self) -> TaskMapper:
        if self.scheduler:
            self._start_dask(self.scheduler)
        elif self.jobs > 1:
            self._pool = ProcessPoolExecutor(max_workers=self.jobs)
        return self

    def _start_dask(self, address: str) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError(
                "needs Dask distributed: pip install 'mpmsim[dask]'", field="--scheduler"
            ) from None
        try:
            if address == "dask://local":
                # Worker processes (the simulation is pure Python: threads would share one core).
                self._cluster = LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=max(self.jobs, 2),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
                self._client = Client(self._cluster)  # type: ignore[no-untyped-call]
            else:
                self._client = Client(address, timeout=10)  # type: ignore[no-untyped-call]
        except OSError as exc:
            raise InputError(f"cannot reach {address!r}: {exc}", field="--scheduler") from None

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[Any]:
        """``fn(t)`` for each task, possibly in parallel, yielded in task order as they finish."""
        if not tasks:
            return iter(())
        if self._client is not None:
            futures = self._client.map(fn, list(tasks), pure=False)
            return (f.result() for f in futures)
        if self._pool is not None and len(tasks) > 1:
            return self._pool.map(fn, tasks)
        return (fn(t) for t in tasks)

"""What ``mpmsim report`` returns: the report's data, and the recommended fleet's run and curves.

``to_dict()`` is the ``--json`` output (README, "Sizing report"). Its top-level keys:
``scenario``, ``source``, ``objective``, ``goals`` (the targets: ``p95_ms``, ``max_error_rate``,
``headroom``, ``offered_rps``, ``target_rps``, ``growth``, ``design_rps``), ``load_balancer``
(the fleet assumption in one sentence), ``memory_assumption``, ``hours_per_month``,
``instances`` (one row per instance type, in the order given: the single-instance result with
``goals_met`` and ``goals`` per goal, and its ``fleet``), ``recommendation`` (None when no fleet
meets every goal), ``goals_met``, ``answer`` (the report's first sentence) and
``recommended_run`` (the recommended member's block re-run: its figures, goals, ``warnings`` and
``error_log``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mpmsim.engine.replications import RunResult


@dataclass(frozen=True)
class SizingReport:
    """The sizing report of one scenario over several instance types."""

    data: dict[str, Any]
    """The JSON of ``mpmsim report --json``."""
    recommended_run: RunResult | None = None
    """The recommended fleet member's block re-run with its ``run_args`` (None: nothing passed).

    ``series_frame()`` gives busy/idle workers, memory and CPU credits over time,
    ``requests_frame()`` the latency of every request."""
    recommended_points: tuple[dict[str, Any], ...] = field(default=())
    """The optimizer's simulated points on the recommended instance type at the member's share
    of the load (rows of ``mpmsim optimize --json``'s ``points``: throughput, p95, memory
    against MaxRequestWorkers)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``mpmsim report --json``)."""
        return self.data

    @property
    def instances(self) -> list[dict[str, Any]]:
        """One row per instance type, in the order given."""
        rows: list[dict[str, Any]] = self.data["instances"]
        return rows

    @property
    def recommendation(self) -> dict[str, Any] | None:
        """The fleet to buy, or None when no fleet met every goal."""
        rec: dict[str, Any] | None = self.data["recommendation"]
        return rec

    @property
    def goals_met(self) -> bool:
        """True when some fleet meets every goal (the exit code is 0)."""
        return self.recommendation is not None

    @property
    def recommended_row(self) -> dict[str, Any] | None:
        """The instance row of the recommended type (None: nothing passed)."""
        rec = self.recommendation
        if rec is None:
            return None
        return next(r for r in self.instances if r["instance"] == rec["instance"])

    def points_frame(self) -> pd.DataFrame:
        """``recommended_points`` as a DataFrame (empty when nothing passed)."""
        import pandas as pd

        return pd.DataFrame(list(self.recommended_points))

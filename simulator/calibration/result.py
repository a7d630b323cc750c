"""What ``mpmsim calibrate`` returns: :class:`Calibration` (the fitted cost model, the fits
behind it and every row simulated with it compared with what was measured) and
:func:`provenance`, how the model was fitted (the ``calibration`` entry of the written cost
model)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mpmsim.calibration.linear import ParamFit
from mpmsim.calibration.php_fit import PhpFit
from mpmsim.calibration.tail_fit import TailFit
from mpmsim.models.costs import CostModel


@dataclass
class Calibration:
    """The result of ``mpmsim calibrate``."""

    costs: CostModel
    cpu_fit: ParamFit
    memory_fit: ParamFit | None
    network_rtt_ms: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    mape: dict[str, dict[str, float | None]] = field(default_factory=dict)
    unexplained: list[dict[str, Any]] = field(default_factory=list)
    shared_core: list[dict[str, Any]] = field(default_factory=list)  # Apache not alone on its CPU
    skipped: list[dict[str, str]] = field(default_factory=list)  # rows it cannot simulate, why
    php_fit: PhpFit | None = None  # the PHP fields, when PHP rows were fitted (php_fit)
    tail_fit: TailFit | None = None  # after_response_cpu_ms, when rows showed it (tail_fit)
    kernel_fit: ParamFit | None = None  # the kernel's work on Apache's core (kernel_fit)
    #: per class (row content): the rows fitted and their fewest and most clients
    class_rows: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    seconds: float = 0.0
    replications: int = 1  # simulations per row in the comparison, their mean compared
    #: by run id, the idle wake-ups' CPU per request taken off a fitted row's (wake_sim)
    idle_wake_ms: dict[str, float] = field(default_factory=dict)
    #: what the rows say against an assumption the fit made (printed first)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON form (``mpmsim calibrate --json``)."""
        return {
            "costs": self.costs.model_dump(exclude={"justification"}),
            "cpu_fit": self.cpu_fit.__dict__,
            "memory_fit": self.memory_fit.__dict__ if self.memory_fit else None,
            "php_fit": self.php_fit.__dict__ if self.php_fit else None,
            "tail_fit": self.tail_fit.__dict__ if self.tail_fit else None,
            "kernel_fit": self.kernel_fit.__dict__ if self.kernel_fit else None,
            "network_rtt_ms": self.network_rtt_ms,
            "class_rows": self.class_rows,
            "mape": self.mape,
            "unexplained": self.unexplained,
            "shared_core": self.shared_core,
            "skipped": self.skipped,
            "rows": self.rows,
            "replications": self.replications,
            "idle_wake_ms": self.idle_wake_ms,
            "warnings": self.warnings,
            "seconds": self.seconds,
        }


def provenance(
    cal: Calibration, rows: int, fitted: int, hardware: str, sources: Sequence[str]
) -> dict[str, Any]:
    """How the model was fitted: the ``calibration`` entry of the written cost model."""
    mem = cal.memory_fit
    return {
        "sources": list(sources),
        "hardware": hardware,
        "rows_fitted": fitted,
        "rows_held_out": rows - fitted,
        "network_rtt_ms": round(cal.network_rtt_ms, 4),
        "mape_percent": cal.mape,
        "replications": cal.replications,
        "cpu_fit_rms_rel_error": round(cal.cpu_fit.rms_rel_error, 4),
        "memory_fit_rms_rel_error": round(mem.rms_rel_error, 4) if mem else None,
        "after_response_fit": None
        if cal.tail_fit is None
        else {
            "rows": cal.tail_fit.rows_used,
            "mean_abs_log_error": {str(k): round(v, 4) for k, v in cal.tail_fit.objective.items()},
        },
        "unexplained_rows": [u["run_id"] for u in cal.unexplained],
        # what the rows say against an assumption of the fit (only when they do)
        **({"warnings": list(cal.warnings)} if cal.warnings else {}),
    }

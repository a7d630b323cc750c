"""Compare two runs of bench_fidelity.py row by row: which rows gained or lost an aim.

``bench_fidelity.py --json`` writes each row's measured and predicted figures. Given two such
files (a model and a variant of it, two seeds, two cost models), this prints per part (held
out, fitted) the aims as each file has them: throughput MAPE, ab p95 within 20 %, peak PSS
within 10 %. Then, row by row, every p95 or PSS verdict that changed, with both errors and the
simulated processes beside the measured ones (most PSS and many tail changes follow the
process count), then the rows whose throughput error moved by more than ``--throughput-pp``
points. The verdicts are bench_fidelity's: a row counts for an aim when it measured the figure
(paced rows have no ab p95).

    python benchmarks/fidelity_diff.py before.json after.json
    python benchmarks/fidelity_diff.py before.json after.json --part fitted --throughput-pp 3
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: (metric, tolerance, label) of the two aims judged row by row
AIMS = (("lat_p95_ms", 0.20, "p95"), ("peak_pss_mb", 0.10, "PSS"))
PARTS = {"held": (True,), "fitted": (False,), "all": (True, False)}

Row = dict[str, Any]


@dataclass(frozen=True)
class Change:
    """One row whose verdict on one aim differs between the two files."""

    run_id: str
    label: str
    before: float
    after: float
    gained: bool
    procs: tuple[float, float, float]  # simulated before, after; measured

    def line(self) -> str:
        b, a, m = self.procs
        return (f"  {'GAINED' if self.gained else 'LOST  '} {self.label:3s} {self.run_id}: "
                f"{100 * self.before:+.0f} -> {100 * self.after:+.0f} % "
                f"(processes {b:.0f} -> {a:.0f}, measured {m:.0f})")  # fmt: skip


def load_rows(path: Path) -> dict[str, Row]:
    """The rows of one ``bench_fidelity.py --json`` file, by run id."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise ValueError(f"{path}: not a bench_fidelity.py --json file (no 'rows' list)")
    return {str(r["run_id"]): r for r in rows}


def _error(row: Row, metric: str) -> float:
    value = row.get(f"{metric}_error")
    return float("nan") if value is None else float(value)


def within(row: Row, metric: str, tol: float) -> bool | None:
    """Whether ``row``'s ``metric`` is within ``tol``; None when it was not measured."""
    err = _error(row, metric)
    return None if math.isnan(err) else abs(err) <= tol


def aims(rows: Sequence[Row]) -> str:
    """Throughput MAPE and the two aims' counts over ``rows``."""
    errs = [abs(e) for e in (_error(r, "req_per_s") for r in rows) if not math.isnan(e)]
    mape = 100 * sum(errs) / len(errs) if errs else float("nan")
    parts = [f"throughput MAPE {mape:.2f} %"]
    for metric, tol, label in AIMS:
        verdicts = [v for v in (within(r, metric, tol) for r in rows) if v is not None]
        share = 100 * sum(verdicts) / len(verdicts) if verdicts else float("nan")
        parts.append(f"{label} {sum(verdicts)} of {len(verdicts)} ({share:.1f} %)")
    return ", ".join(parts)


def changes(before: dict[str, Row], after: dict[str, Row], ids: Sequence[str]) -> list[Change]:
    """Every aim whose verdict differs for the rows ``ids`` (in both files)."""
    out = []
    for run_id in ids:
        b, a = before[run_id], after[run_id]
        for metric, tol, label in AIMS:
            vb, va = within(b, metric, tol), within(a, metric, tol)
            if vb is None or va is None or vb == va:
                continue
            procs = (
                float(b.get("peak_procs_predicted", math.nan)),
                float(a.get("peak_procs_predicted", math.nan)),
                float(a.get("peak_procs_measured", math.nan)),
            )
            out.append(Change(run_id, label, _error(b, metric), _error(a, metric), va, procs))
    return out


def moved(
    before: dict[str, Row], after: dict[str, Row], ids: Sequence[str], points: float
) -> list[str]:
    """Rows whose throughput error moved by more than ``points`` percentage points."""
    lines = []
    for run_id in ids:
        eb, ea = _error(before[run_id], "req_per_s"), _error(after[run_id], "req_per_s")
        if not (math.isnan(eb) or math.isnan(ea)) and abs(ea - eb) * 100 > points:
            lines.append(f"  {run_id}: {100 * eb:+.1f} -> {100 * ea:+.1f} %")
    return lines


def report(before: dict[str, Row], after: dict[str, Row], part: str, points: float) -> list[str]:
    """The comparison's lines for one part (``held``, ``fitted`` or ``all``)."""
    held = PARTS[part]
    common = [i for i in before if i in after and bool(before[i].get("held_out")) in held]
    lines = [f"== {part}: {len(common)} rows in both"]
    lines.append("  before: " + aims([before[i] for i in common]))
    lines.append("  after:  " + aims([after[i] for i in common]))
    found = changes(before, after, common)
    gained = sum(1 for c in found if c.gained)
    lines.append(f"verdicts changed: {gained} gained, {len(found) - gained} lost")
    lines.extend(c.line() for c in found)
    shifted = moved(before, after, common, points)
    lines.append(f"throughput error moved by more than {points:g} points: {len(shifted)} rows")
    lines.extend(shifted)
    for name, rows, other in (("before", before, after), ("after", after, before)):
        alone = [i for i in rows if i not in other and bool(rows[i].get("held_out")) in held]
        if alone:
            lines.append(f"only {name}: {', '.join(alone)}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path, help="bench_fidelity.py --json of the reference")
    ap.add_argument("after", type=Path, help="bench_fidelity.py --json of the variant")
    ap.add_argument("--part", choices=tuple(PARTS), default="held", help="rows to compare")
    ap.add_argument(
        "--throughput-pp",
        type=float,
        default=5.0,
        help="list the rows whose throughput error moved by more points than this",
    )
    args = ap.parse_args(argv)
    try:
        before, after = load_rows(args.before), load_rows(args.after)
    except (OSError, ValueError, KeyError) as exc:
        print(f"fidelity_diff: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report(before, after, args.part, args.throughput_pp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

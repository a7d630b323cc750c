"""How well the simulator reproduces measurements/php with the PHP priors and with the PHP
figures ``mpmsim calibrate`` fits.

The figures come from calibrate's own fit (:mod:`mpmsim.calibration.php_fit`, through
:func:`mpmsim.calibration.fit.calibrate`, as ``mpmsim calibrate ... --memory-csv`` runs it);
this script only adds the comparison calibrate does not print: every row simulated with the
base model's PHP priors too. Prints the fitted figures and a mean-absolute-percentage-error
table per PHP set-up (modphp, fpm<pm.max_children>) and metric, priors against fitted.
Base: bench-1core. To write the cost model use calibrate itself (the command is in the header
of models/costs/php-8.2-1core.yaml).

    python benchmarks/php_check.py measurements/php [--jobs 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from php_tables import markdown

from mpmsim.calibration.check import compare
from mpmsim.calibration.fit import calibrate
from mpmsim.calibration.measured import METRICS, Setup
from mpmsim.calibration.php_fit import mape_by_setup
from mpmsim.models.costs import load_costs
from mpmsim.models.hardware import load_hardware
from mpmsim.workloads.readers import read_measurements

BASE = "bench-1core"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    runs = read_measurements(args.folder / "runs.csv")
    base, hardware = load_costs(BASE), load_hardware(BASE)
    cal = calibrate(runs, base, hardware, jobs=args.jobs, name="php-check",
                    memory_csv=args.folder / "memory.csv")  # fmt: skip
    fit = cal.php_fit
    assert fit is not None  # the rows are PHP rows
    print(f"round trip {cal.network_rtt_ms:.4f} ms; fitted figures +- se ({BASE}'s in brackets):")
    for key, value in fit.values.items():
        print(f"  {key}: {value:.4g} +- {fit.stderr[key]:.2g} ({getattr(base, key)})")
    priors = compare(runs, base, Setup(hardware, cal.network_rtt_ms), held_out=[False] * len(runs),
                     jobs=args.jobs)  # fmt: skip
    for label, rows in (("priors", priors), ("fitted", cal.rows)):
        table = pd.DataFrame(mape_by_setup(runs, rows, METRICS)).T
        print(f"\nMAPE % with the {label}:\n" + markdown(table.rename_axis("set-up").reset_index()))


if __name__ == "__main__":
    main()

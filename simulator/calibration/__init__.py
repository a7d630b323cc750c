"""Calibration: fit a cost model to measured benchmark runs (``mpmsim calibrate``).

Owns the fit (``fit``: the CPU and memory compositions, the CPU's in ``cpu_fit``, solved by
``linear``'s robust least squares; the PHP figures in ``php_fit``; their regressors in
``regressors``; the fitted values put in a cost model in ``fitted_costs``), its result
(``result``), the check of every row simulated with the fitted model (``check``), measured
runs as scenarios (``measured``), fits by simulation (``by_simulation``), the Universal
Scalability Law (``usl``) and how a calibration is presented (``output``: hold-outs, table,
YAML, figure).

May import: the engine, the spec, the models, the workloads (readers of measurements) and the
errors. Never the command line or another application.
"""

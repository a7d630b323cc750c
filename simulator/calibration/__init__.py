"""Calibration: fit a cost model to measured benchmark runs (``mpmsim calibrate``).

Owns the fit (``fit``: robust least squares of the CPU and memory compositions), measured runs
as scenarios (``measured``), fits by simulation (``by_simulation``), the Universal Scalability
Law (``usl``) and how a calibration is presented (``output``: hold-outs, table, YAML, figure).

May import: the engine, the spec, the models, the workloads (readers of measurements) and the
errors. Never the command line or another application.
"""

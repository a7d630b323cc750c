"""Figures for people: plotly charts of a run, a sweep and an optimize result, for notebooks,
the command line's ``--plot`` options and the sizing report alike.

Every helper takes what the library returns and gives back a ``plotly.graph_objects.Figure``:

- :func:`sweep` -- a sweep's table (:func:`mpmsim.sweep`): figures against one varied key, a
  curve per value of others, with 95 % bands where the table has the intervals;
- :func:`optimize` -- an optimize result: throughput, p95 and memory against MaxRequestWorkers;
- :func:`calibration` -- a calibration: each measured run's figures, predicted against measured;
- :func:`latency_cdf` -- a run's latency distribution per request class;
- :func:`workers`, :func:`memory`, :func:`accept_queue` -- a run's time series: busy, idle and
  keep-alive workers and processes; memory against the RAM Apache may use; the accept queue
  against its limit;
- :func:`setup_notebook` -- the first call of a notebook: figures then show in Jupyter, in
  VS Code and in the notebook exported to HTML (plotly's JavaScript travels in the file).

plotly is imported inside the functions that draw, so importing this package costs nothing.

May import: the engine (a run's result and its series), the errors. Never the command line or
an application (they import this package); the engine never imports it.
"""

from __future__ import annotations

from mpmsim.plot.calibration_chart import calibration
from mpmsim.plot.latency import latency_cdf
from mpmsim.plot.notebook import setup_notebook
from mpmsim.plot.optimize_curves import optimize
from mpmsim.plot.sweep_curves import sweep
from mpmsim.plot.timeline import accept_queue, memory, workers

__all__ = [
    "accept_queue",
    "calibration",
    "latency_cdf",
    "memory",
    "optimize",
    "setup_notebook",
    "sweep",
    "workers",
]

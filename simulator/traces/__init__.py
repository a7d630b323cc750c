"""Traces: a runnable workload fitted to an Apache access log (``mpmsim trace fit``).

Owns reading a log into columns (``columns``; URL classes come from
``workloads.access_log.url_classes``, which the trace replay shares), the session
arrival schedule (``schedule``), the fit itself (``fit``: connections rebuilt, distributions
chosen), the summary users read (``summary``), the scenario file written with its comments
(``workload_file``) and the fit's picture (``plot``: plotly, imported inside the function
that draws).

May import: the spec (to check the file it writes), the models (the cost model's classes), the
workloads (the access-log reader, connections, distribution fitting) and the errors. Never the
command line or another application (import-linter checks it); it has no use for the engine.
"""

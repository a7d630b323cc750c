"""The engine: one simulated replication of a prepared scenario, and the summary users read.

Owns the SimPy world of a run: the processor-sharing CPU (``cpu``; Linux's ``cfs`` and ``eevdf``; a
burstable machine's credits, ``burst_credits``; a shared host's slow phases, ``host``), the memory
ledger (``memory``), the simulated Apache (``server``: parent and children, the parent's
maintenance loop in ``parent``, with its ``accept_queue``, idle ``keepalive`` connections, each
``connection`` and the ``overheads`` of its mechanics), the client side of HTTP (``client``), where
a class runs besides Apache (``backend``: mod_php, a PHP-FPM pool in ``fpm``, a proxy;
``backend_summary`` for the result), what a run records (``recorder``), one replication
(``replication``), replications and their summary (``replications``, ``summary``, per-class
``classes``, ``warmup``, ``bottleneck``), the analytic bounds beside them (``theory``, from a
load's ``demand`` per request) and how tasks are spread over processes or Dask (``executors``).
Only ``simpy_internals`` touches SimPy's private attributes.

May import: the spec (a prepared scenario), the models (MPM models, Apache's settings, hardware,
costs), the workloads (load generators, mix, distributions) and the errors. Never the command
line, an application or plotly (import-linter checks it).
"""

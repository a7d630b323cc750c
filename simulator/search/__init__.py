"""Search: the best MPM sizing for a machine (``mpmsim optimize``).

Owns the problem set-up and the run (``optimizer``), the grid, its analytic bounds and knees
(``space``), the Apache block to paste (``block``), the adaptive line search (``adaptive``;
where a line probes next, ``line_gaps``; the variants tried on each MPM's best, ``variants``), one
candidate's simulation (``evaluate``), the cache of simulated points (``cache``), the result
(``result``), its ``check it:`` command (``check_command``) and how it is shown (``text``,
``plot``: plotly, imported inside the function that draws); PHP's two set-ups,
their long-run memory (``php``) and the PHP-FPM pool's size (``php_sizing``). Also what-if
sweeps (``mpmsim sweep``): the points, their runs and cache (``sweep``), their table
(``sweep_frame``) and curves (``sweep_plot``).

May import: the engine, the spec, the models, the workloads and the errors. Never the command
line, the sizing report or another application (import-linter checks it).
"""

"""Sizing: one scenario on several instances, its cost, and which one to buy (``mpmsim report``).

Owns the report (``report``: builds a ``result.SizingReport``), per instance type the single
instance and the fleet (``instance``; ``member``: one instance at its share of the load, judged
for good; ``fleet``: shares, the load-balancer assumption and the count search; ``burst``: CPU
credits), the choice (``recommendation``), the terminal text (``text``), figures rounded for
people (``format``) and the HTML page (``html``: plotly, imported inside the functions that
draw).

May import: the applications (today only the search's optimizer), the engine, the spec, the
models, the workloads and the errors. Never the command line (import-linter checks it).
"""

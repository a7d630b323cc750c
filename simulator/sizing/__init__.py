"""Sizing: one scenario on several instances, its cost, and which one to buy (``mpmsim report``).

Owns the report (``report``: the optimizer per instance, prices, headroom, CPU credits, the
recommendation and its text) and its HTML page (``html``: plotly, imported inside the functions
that draw).

May import: the applications (today only the search's optimizer), the engine, the spec, the
models, the workloads and the errors. Never the command line (import-linter checks it).
"""

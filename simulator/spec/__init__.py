"""The scenario spec: what a user writes in ``workload.yaml``, read, checked and resolved.

Owns the pydantic models of the scenario file (``scenario``), reading YAML with ``--set``
overrides (``reading``), and resolving a scenario into everything a run needs (``resolve``:
hardware, costs, Apache's effective directives; ``mix``: each request class filled in from the
cost model).

May import: the models, the workloads and the errors. Never the engine, an application or the
command line.
"""

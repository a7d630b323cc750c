"""The models: what the engine simulates, apart from the traffic.

``mpm/`` holds one module per MPM behind one protocol (``mpm/base.py``) and a registry by name;
``apache/`` holds Apache's configuration rules (directive parsing, 2.4's defaults and start-up
adjustments, config files); ``hardware/`` and ``costs/`` are catalogs: a pydantic profile and
the shipped YAML files beside it.

May import: the errors only. Never the workloads, the spec, the engine or anything above.
"""

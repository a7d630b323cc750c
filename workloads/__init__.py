"""The workloads: traffic, apart from the server.

Distributions (``distributions``), the request mix (``mix``), load generators that drive an
:class:`~mpmsim.workloads.client.HttpClient` (``closed``, ``open``), readers of load-tool
outputs and measurements (``readers/``) and of Apache access logs (``access_log/``).

May import: the errors only. Never the models, the spec, the engine or anything above.
"""

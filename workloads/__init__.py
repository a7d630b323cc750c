"""The workloads: traffic, apart from the server.

Distributions (``distributions``), the request mix (``mix``), load generators that drive an
:class:`~mpmsim.workloads.client.HttpClient` (``closed``, ``open``) and readers of load-tool
outputs and measurements (``readers/``).

May import: the errors only. Never the models, the spec, the engine or anything above.
"""

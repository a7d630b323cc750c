"""The workloads: traffic, apart from the server.

Distributions (``distributions``), the random streams they draw from (``streams``) and fitting
them to samples (``fitting``), the request mix
(``mix``), load generators that drive an :class:`~mpmsim.workloads.client.HttpClient`
(``closed``, ``open``), readers of load-tool outputs and measurements (``readers/``) and of
Apache access logs (``access_log/``, which also rebuilds their keep-alive connections).

May import: the errors only. Never the models, the spec, the engine or anything above.
"""

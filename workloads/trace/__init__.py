"""Trace replay (``load.kind: trace``): an access log's own traffic through the simulator.

``plan`` probes the log once (where it starts and ends, the connection rule it allows, a
window's byte offset) and places the replay; ``service`` turns a logged request into what it
asks of the server (its mix class by URL, CPU and wait from the class or the logged ``%D``,
the logged size); ``stream`` reads the log front to back with a bounded look-ahead, sorted by
start and grouped into connections; ``replay`` holds the SimPy processes that start each
connection at its logged time and send its requests through an
:class:`~mpmsim.workloads.client.HttpClient`.

May import: the rest of the workloads (the access-log reader, connections, URL classes, the
mix, distributions) and the errors.
"""

from __future__ import annotations

from mpmsim.workloads.trace.plan import TraceOptions, TracePlan, plan_trace
from mpmsim.workloads.trace.replay import TraceTally, start_replay
from mpmsim.workloads.trace.service import class_map

__all__ = ["TraceOptions", "TracePlan", "TraceTally", "class_map", "plan_trace", "start_replay"]

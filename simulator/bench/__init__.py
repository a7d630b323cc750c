"""Bench: measure a real Apache with ab, wrk or kaclient; write measurement rows (``mpmsim bench``);
measure how the machine's host slows its vCPUs (``host_probe``, ``mpmsim hardware probe``).

May import: the models (Apache's directives), the workloads (readers of load-tool output and the
measurement CSV) and the errors. Never the engine, the command line or another application.
"""

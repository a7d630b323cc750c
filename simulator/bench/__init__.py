"""Bench: measure a real Apache with ab, wrk or kaclient; write measurement rows (``mpmsim bench``).

May import: the models (Apache's directives), the workloads (readers of load-tool output and the
measurement CSV) and the errors. Never the engine, the command line or another application.
"""

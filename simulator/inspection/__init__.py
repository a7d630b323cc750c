"""Inspection: what a running Apache is, measured on its own machine (``mpmsim inspect``).

Owns reading the live server (``apachectl``: the binary's ``-V``, ``-M`` and ``-S``, and where
its configuration lives), the per-process memory of its parent and children over a short
window (``process_memory``, from ``/proc/PID/smaps_rollup``), the machine (``host``: the CPUs
Apache may run on and ``/proc/meminfo``), the cost model whose memory figures are the measured ones
(``measured_costs``), the scenario skeleton (``skeleton``), the two capacity figures and the
summary (``result``) and the whole sequence (``inspector``).

May import the applications' shared /proc reading (``bench.processes``), the spec, the models
and the errors; never the command line, the sizing report, the search or the calibration.
"""

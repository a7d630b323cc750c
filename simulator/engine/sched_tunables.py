"""The kernel scheduler's time tunables, scaled by the CPUs online as Linux scales them.

CFS defaults (``kernel/sched/fair.c``): 6 ms latency and 0.75 ms minimum granularity (EEVDF's
base slice since 6.6), each scaled by 1 + log2(min(ncpus, 8)) ("SCHED_TUNABLESCALING_LOG",
``update_sysctl``). The processor-sharing CPU's slice efficiency and the cfs and eevdf run
queues read them (mpmsim.engine.cpu); the search's assumptions and calibrate's tail fit name the
slice a long request is cut at (:func:`slice_ms`).
"""

from __future__ import annotations

import math

from mpmsim.models.hardware import HardwareSpec

_CFS_LATENCY_S = 0.006
_CFS_MIN_GRANULARITY_S = 0.00075


def tunable_scale(vcpus: int) -> float:
    """SCHED_TUNABLESCALING_LOG: the scheduler's latency and granularity grow with the vCPUs."""
    return 1.0 + math.log2(min(vcpus, 8))


def latency_s(vcpus: int) -> float:
    """CFS's targeted latency on ``vcpus``: the period every runnable task runs once in."""
    return _CFS_LATENCY_S * tunable_scale(vcpus)


def min_granularity_s(vcpus: int) -> float:
    """CFS's minimum granularity (EEVDF's base slice) on ``vcpus``: the shortest run a task
    has before the tick may take its vCPU away."""
    return _CFS_MIN_GRANULARITY_S * tunable_scale(vcpus)


def slice_ms(hardware: HardwareSpec) -> float:
    """The minimum granularity (EEVDF's base slice) of ``hardware``'s kernel, in ms: scaled
    with the CPUs it has online (``HardwareSpec.scheduler_cpus``)."""
    return 1000.0 * min_granularity_s(hardware.scheduler_cpus)

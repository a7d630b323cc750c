"""A task past its slice yields its vCPU at its response; ab without -k waits for the close.

Apache's threads under a saturated core wait in the scoreboard's L state, after their response
and before their close (measurements/cpu-bound: 34 of 35 busy at 50 clients), and ab without
keep-alive counts a request until the server has closed its connection (support/ab.c). So a
request whose task ran past its slice ends a turn of the CPU later than its response.
"""

from __future__ import annotations

from typing import Any

import pytest
import simpy

from mpmsim.engine.cfs import CFSCPU
from mpmsim.engine.cpu import CPU
from mpmsim.engine.eevdf import EEVDFCPU

MS = 1e-3


def _a_and_b(cpu: CPU, env: simpy.Environment, a_ms: float, b_at_ms: float) -> dict[str, float]:
    """A: ``a_ms`` to its response, then a 0.3 ms tail; B (1 ms of work) wakes at ``b_at_ms``."""
    done: dict[str, float] = {}

    def a() -> Any:
        end = env.event()
        yield cpu.run_task(a_ms * MS, None, "A", False, 0.3 * MS, end)
        done["A answered"] = env.now
        yield end
        done["A closed"] = env.now

    def b() -> Any:
        yield env.timeout(b_at_ms * MS)
        yield cpu.run(1 * MS)
        done["B"] = env.now

    env.process(a())
    env.process(b())
    env.run()
    return {k: round(v / MS, 6) for k, v in done.items()}


@pytest.mark.parametrize(
    ("a_ms", "expected"),
    [
        # 3.5 ms is past the ideal slice of two tasks (6 ms / 2): B, behind, runs 3.5-4.5 ms
        # and A's tail after it
        (3.5, {"A answered": 3.5, "B": 4.5, "A closed": 4.8}),
        # 2 ms is within it: A runs its tail at once, B after
        (2.0, {"A answered": 2.0, "A closed": 2.3, "B": 3.3}),
    ],
)
def test_cfs_a_task_past_its_slice_yields_at_its_response(
    a_ms: float, expected: dict[str, float]
) -> None:
    env = simpy.Environment()
    cpu = CFSCPU(env, vcpus=1, sleeper_credit=0.0)
    cpu.tasks_alive = 4
    assert _a_and_b(cpu, env, a_ms, 0.5) == expected


def test_eevdf_a_task_past_its_slice_is_picked_again_at_its_response() -> None:
    # B wakes at 0.1 ms at the average vruntime (A's, 0.1), its deadline 0.85; A's slice
    # (0.75 ms) protects it until its response at 1.5 ms, where A (1.5, ahead of the average
    # 0.8) is not eligible: B runs 1.5-2.5 ms, A's tail 2.5-2.8 ms. Without the pick at the
    # response A would have closed at 1.8 ms and B ended at 2.8 ms.
    env = simpy.Environment()
    cpu = EEVDFCPU(env, vcpus=1)
    cpu.tasks_alive = 4
    assert _a_and_b(cpu, env, 1.5, 0.1) == {"A answered": 1.5, "B": 2.5, "A closed": 2.8}


def test_processor_sharing_ends_the_close_after_the_tail() -> None:
    # Alone on a PS CPU: the response at 2 ms, the tail a job of its own to 2.3 ms.
    env = simpy.Environment()
    cpu = CPU(env, vcpus=1)
    done: dict[str, float] = {}

    def a() -> Any:
        end = env.event()
        yield cpu.run_task(2 * MS, None, "A", False, 0.3 * MS, end)
        done["answered"] = env.now
        yield end
        done["closed"] = env.now

    env.process(a())
    env.run()
    assert done == pytest.approx({"answered": 2 * MS, "closed": 2.3 * MS})

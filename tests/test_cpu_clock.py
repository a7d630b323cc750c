"""The CPU finishes work too small for the clock to resolve late in a long run (a log's span)."""

from __future__ import annotations

import simpy

from mpmsim.engine.cpu import CPU


def test_work_below_the_clocks_resolution_completes() -> None:
    # At t = 3e5 s floats are 5.8e-11 s apart: a job of 1e-11 s ended at "now" again and again
    # (the timer fired, no time passed, the job was not yet done), and the run never ended.
    env = simpy.Environment()
    cpu = CPU(env, vcpus=1)
    env.run(until=3e5)
    done = cpu.run(1e-11)
    for _ in range(100):
        if done.processed:
            break
        env.step()
    assert done.processed
    assert env.now == 3e5

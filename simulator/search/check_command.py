"""The ``check it:`` command: the ``mpmsim run`` arguments that simulate an optimize answer."""

from __future__ import annotations

from collections.abc import Sequence

from mpmsim.search.block import parse_block


def block_sets(block: str) -> list[str]:
    """``--set`` assignments that apply an Apache block (MPM and directives) to a scenario."""
    mpm, raw = parse_block(block)
    return [f"server.mpm={mpm}", *(f"server.directives.{k}={v}" for k, v in raw.items())]


def run_args(block: str, seed: int, replications: int, base_sets: Sequence[str]) -> list[str]:
    """``mpmsim run SCENARIO`` arguments that simulate ``block`` as the search did."""
    args = ["--seed", str(seed), "--replications", str(replications)]
    for s in last_of_each([*base_sets, *block_sets(block)]):
        args += ["--set", s]
    return args


def last_of_each(sets: Sequence[str]) -> list[str]:
    """``--set`` assignments with each key once: its last value, where it last came.

    Assignments apply in order, so an earlier one of a key assigned again later is overwritten
    (with whatever was set under it); dropping it leaves the same scenario.
    """
    keys = [s.partition("=")[0].strip() for s in sets]
    keep: list[str] = []
    for i, (key, s) in enumerate(zip(keys, sets, strict=True)):
        if key not in keys[i + 1 :]:
            keep.append(s)
    return keep

"""Random streams: one independent, reproducible ``numpy`` generator per purpose and replication,
named by a seed and a key (common random numbers across configurations)."""

from __future__ import annotations

import zlib

import numpy as np

_STR_TAG = 1 << 32


def _key_int(part: int | str) -> int:
    if isinstance(part, str):
        return _STR_TAG + zlib.crc32(part.encode("utf-8"))
    if not 0 <= part < _STR_TAG:
        raise ValueError(f"stream key integers must be in [0, 2**32), got {part}")
    return int(part)


def stream(seed: int, *key: int | str) -> np.random.Generator:
    """An independent, reproducible generator for one purpose of one replication.

    ``stream(seed, replication, "arrivals")`` is
    ``Generator(PCG64(SeedSequence(seed, spawn_key=(replication, 2**32 + crc32("arrivals")))))``;
    strings map through zlib.crc32 of their UTF-8 bytes (stable across processes, unlike hash()),
    offset by 2**32 so they never collide with integer parts, which must lie in [0, 2**32).

    Common random numbers: because every purpose (arrivals, think, service, ...) has its own
    stream, two configurations run with the same seed see the same traffic, so their difference
    is not drowned in sampling noise.
    """
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    spawn_key = tuple(_key_int(k) for k in key)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=spawn_key)))

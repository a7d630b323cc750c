"""benchmarks/probe_kept.py: its connections read whole responses and stay open, its counts."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from probe_kept import _held, parse_counts


def test_counts_are_whole_numbers_of_zero_or_more() -> None:
    assert parse_counts("0,100, 800,0") == [0, 100, 800, 0]
    for bad in ("", "10,-1", "ten"):
        with pytest.raises(SystemExit):
            parse_counts(bad)


def test_a_held_connection_reads_its_responses_then_waits_open() -> None:
    served: list[int] = []

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = b"x" * 100
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            served.append(1)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + body)
            await writer.drain()
        writer.close()

    async def scenario() -> tuple[int, int]:
        srv = await asyncio.start_server(server, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        release, idle = asyncio.Event(), [0]
        task = asyncio.create_task(_held(port, 3, release, idle))
        for _ in range(100):
            if idle[0]:
                break
            await asyncio.sleep(0.01)
        still_open = not task.done()
        release.set()
        await task
        srv.close()
        await srv.wait_closed()
        return idle[0], int(still_open)

    idle, still_open = asyncio.run(scenario())
    assert (idle, still_open, len(served)) == (1, 1, 3)

"""benchmarks/probe_keepalive.py reads a whole keep-alive response and sums PSS growth by kind."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from probe_keepalive import REQUEST, grown, request

BODY = b"x" * 4096


@contextmanager
def _server(replies: list[list[bytes]]) -> Iterator[socket.socket]:
    """A connected socket whose peer answers each request with the next reply's chunks (sent
    one by one), then closes."""
    a, b = socket.socketpair()

    def serve() -> None:
        with b:
            for chunks in replies:
                got = b""
                while b"\r\n\r\n" not in got:
                    got += b.recv(4096)
                assert got == REQUEST
                for chunk in chunks:
                    b.sendall(chunk)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with a:
            a.settimeout(5)
            yield a
    finally:
        t.join(5)


def _response(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nKeep-Alive: timeout=120\r\n\r\n" % len(body)
        + body
    )


def test_request_reads_headers_and_body_sent_in_pieces_and_keeps_the_connection() -> None:
    whole = _response(BODY)
    pieces = [whole[:10], whole[10:70], whole[70:2000], whole[2000:]]
    with _server([pieces, [whole]]) as sock:
        request(sock)
        request(sock)  # the same connection serves a second request


def test_request_fails_when_the_server_closes_before_the_whole_body() -> None:
    with _server([[_response(BODY)[:-100]]]) as sock, pytest.raises(ConnectionError):
        request(sock)


def test_grown_gives_each_kind_s_growth_and_counts_a_new_kind_from_zero() -> None:
    assert grown({"anon": 100, "stack": 40}, {"anon": 1300, "stack": 40, "heap": 4}) == (
        "anon +1200 heap +4 stack +0"
    )

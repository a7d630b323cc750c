"""Keep-alive connections rebuilt from access logs: the rule chosen, the grouping, the check."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from mpmsim.workloads.access_log import AccessRecord, compile_format, read_access_log
from mpmsim.workloads.access_log.connections import X_CODES as CODES
from mpmsim.workloads.access_log.connections import (
    ConnectionRule,
    Connections,
    check_rule,
    choose_rule,
    connection_key,
    rebuild,
)
from mpmsim.workloads.access_log.unique_id import decode_unique_id
from tests.logs import NETNEA, NETNEA_OFFSET_S, Traffic, netnea_format, shared_log, write_log

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@-"


def apache_encode(raw: bytes, chars: int) -> str:
    """mod_unique_id's encoding loop (gen_unique_id): 3 bytes to 4 characters, cut to length."""
    padded = raw + b"\0\0"
    out: list[str] = []
    for i in range(0, len(raw), 3):
        a, b, c = padded[i : i + 3]
        out += [
            _ALPHABET[a >> 2],
            _ALPHABET[((a & 3) << 4) | (b >> 4)],
            _ALPHABET[((b & 15) << 2) | (c >> 6)],
            _ALPHABET[c & 63],
        ]
    return "".join(out)[:chars]


# -- UNIQUE_ID ---------------------------------------------------------------------------------


def test_unique_id_of_apache_2_4_before_2_4_26() -> None:
    # netnea's first line: logged at 2015-09-02 10:42:51 +0200 by child 14255.
    decoded = decode_unique_id("Vea2i8CoAwcAADevXAgAAAAB")
    assert decoded is not None
    assert decoded.stamp_s == 1441183371
    assert (decoded.process, decoded.counter, decoded.slot) == ("14255", 23560, 1)


def test_unique_id_round_trip_in_both_layouts() -> None:
    old = (1441183371).to_bytes(4, "big") + bytes([192, 168, 3, 7]) + (4242).to_bytes(4, "big")
    old += (65535).to_bytes(2, "big") + (777).to_bytes(4, "big")
    decoded = decode_unique_id(apache_encode(old, 24))
    assert decoded is not None and (decoded.process, decoded.counter, decoded.slot) == (
        "4242",
        65535,
        777,
    )
    root = bytes(range(1, 11))
    new = (1700000000).to_bytes(4, "big") + root + (9).to_bytes(2, "big") + (31).to_bytes(4, "big")
    decoded = decode_unique_id(apache_encode(new, 27))
    assert decoded is not None
    assert (decoded.stamp_s, decoded.process, decoded.counter, decoded.slot) == (
        1700000000,
        root.hex(),
        9,
        31,
    )


@pytest.mark.parametrize("text", [None, "", "short", "Vea2i8CoAwcAADevXAgAAAA!", "V" * 25])
def test_what_is_not_a_unique_id(text: str | None) -> None:
    assert decode_unique_id(text) is None


# -- the rebuild -------------------------------------------------------------------------------


def test_requests_grouped_by_key_and_split_by_idle_gaps() -> None:
    # Key 0: 0-0.1, 1-1.2, 2-2.5, then 7.5 s idle (> 5), 10-10.1; key 1: one request.
    keys = [0, 0, 0, 1, 0]
    start = [0.0, 1.0, 10.0, 0.5, 2.0]
    end = [0.1, 1.2, 10.1, 0.6, 2.5]
    conns = rebuild(keys, start, end, ConnectionRule.CLIENT_GAPS, 5.0)
    assert conns.requests.tolist() == [3, 1, 1]
    assert conns.position.tolist() == [0, 1, 0, 0, 2]
    assert conns.last.tolist() == [False, False, True, True, True]
    assert conns.think_s.tolist() == pytest.approx([0.9, 0.8])
    assert conns.start_s.tolist() == [0.0, 10.0, 0.5]
    assert conns.per_connection([1, 2, 4, 8, 16]).tolist() == [19.0, 4.0, 8.0]


def test_a_connection_id_is_never_split() -> None:
    conns = rebuild(
        [0, 0, 0, 1, 0],
        [0.0, 1.0, 10.0, 0.5, 2.0],
        [0.1, 1.2, 10.1, 0.6, 2.5],
        ConnectionRule.CONNECTION_ID,
    )
    assert conns.requests.tolist() == [4, 1]
    assert conns.think_s.tolist() == pytest.approx([0.9, 0.8, 7.5])


def test_overlapping_requests_think_zero() -> None:
    conns = rebuild([0, 0], [0.0, 0.5], [1.0, 1.5], ConnectionRule.CLIENT_GAPS)
    assert conns.requests.tolist() == [2]
    assert conns.think_s.tolist() == [0.0]


# -- which rule --------------------------------------------------------------------------------


def _head(log_format: str, lines: Sequence[str]) -> tuple[list[AccessRecord], tuple[str, ...]]:
    parser = compile_format(log_format)
    records = [parser.parse(line) for line in lines]
    assert all(r is not None for r in records)
    return [r for r in records if r is not None], parser.extra_names


def _synthetic(
    tmp_path: Path, log_format: str, count: int = 2000, **traffic: float
) -> list[AccessRecord]:
    path = tmp_path / f"{log_format}.log"
    write_log(path, Traffic(**traffic), count, log_format, seed=5)  # type: ignore[arg-type]
    return list(read_access_log(path, log_format))


@pytest.mark.parametrize(
    ("log_format", "rule"),
    [
        ("mpmsim", ConnectionRule.CLIENT_PORT),
        ("common", ConnectionRule.CLIENT_GAPS),
        ("combined", ConnectionRule.CLIENT_GAPS),
    ],
)
def test_rule_of_synthetic_logs(tmp_path: Path, log_format: str, rule: ConnectionRule) -> None:
    records = _synthetic(tmp_path, log_format)
    assert choose_rule(records[:1000], compile_format(log_format).extra_names) is rule


def test_rule_from_process_and_thread() -> None:
    fmt = '%h %P %{tid}P %t "%r" %>s %b'
    line = '10.0.0.{i} 1234 140000 [01/Aug/2024:10:00:0{i} +0000] "GET / HTTP/1.1" 200 5'
    head, extra = _head(fmt, [line.format(i=i) for i in range(5)])
    assert choose_rule(head, extra) is ConnectionRule.CLIENT_THREAD


def test_rule_from_connection_ids_only_when_most_lines_have_one() -> None:
    fmt = '%h %{c}L %t "%r" %>s %b'
    line = '10.0.0.1 {cid} [01/Aug/2024:10:00:01 +0000] "GET / HTTP/1.1" 200 5'
    named, extra = _head(fmt, [line.format(cid=f"AbC{i}") for i in range(10)])
    assert choose_rule(named, extra) is ConnectionRule.CONNECTION_ID
    # Apache makes a connection's id only when it logs an error: '-' on most lines.
    mostly_dash = [line.format(cid="-")] * 9 + [line.format(cid="AbC1")]
    head, extra = _head(fmt, mostly_dash)
    assert choose_rule(head, extra) is ConnectionRule.CLIENT_GAPS
    key = connection_key(ConnectionRule.CONNECTION_ID, extra)
    assert key(head[0]) == ("no-id", "10.0.0.1")  # a record without an id: kept apart


def test_rule_of_the_netnea_log() -> None:
    path = shared_log(NETNEA)
    parser = compile_format(netnea_format())
    head = list(
        itertools.islice(
            read_access_log(path, netnea_format(), local_offset_s=NETNEA_OFFSET_S), 1000
        )
    )
    assert choose_rule(head, parser.extra_names) is ConnectionRule.CLIENT_UNIQUE_ID


# -- the check ---------------------------------------------------------------------------------


def _rebuilt(
    records: list[AccessRecord], rule: ConnectionRule, extra: Sequence[str]
) -> Connections:
    key = connection_key(rule, extra)
    numbers: dict[object, int] = {}
    keys = [numbers.setdefault(key(r), len(numbers)) for r in records]
    start = np.array([r.start_s for r in records], dtype=np.float64)
    end = np.array([r.end_s for r in records], dtype=np.float64)
    return rebuild(keys, start, end, rule)


def _codes(records: list[AccessRecord]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([CODES[r.connection_status] for r in records])
    k = np.array([-1 if r.keepalive_requests is None else r.keepalive_requests for r in records])
    return x, k


def test_the_right_rule_agrees_with_x_and_k(tmp_path: Path) -> None:
    records = _synthetic(tmp_path, "mpmsim", 20_000)
    conns = _rebuilt(records, ConnectionRule.CLIENT_PORT, ())
    check = check_rule(conns, *_codes(records))
    assert check.x_agreement == 1.0
    assert check.k_agreement is not None and check.k_agreement >= 0.999
    assert check.x_logged == check.k_logged == 20_000


def test_a_wrong_rule_shows_in_the_check(tmp_path: Path) -> None:
    # 50 clients opening 20 connections a second: by address and gaps, connections merge.
    records = _synthetic(tmp_path, "mpmsim", 20_000, clients=50)
    conns = _rebuilt(records, ConnectionRule.CLIENT_GAPS, ())
    check = check_rule(conns, *_codes(records))
    assert check.k_agreement is not None and check.k_agreement < 0.5
    assert check.x_agreement is not None and check.x_agreement < 0.5
    assert "%k" in " ".join(check.sentences())


def test_netnea_connections_end_where_x_says_they_closed() -> None:
    path = shared_log(NETNEA)
    records = list(read_access_log(path, netnea_format(), local_offset_s=NETNEA_OFFSET_S))
    extra = compile_format(netnea_format()).extra_names
    check = check_rule(_rebuilt(records, ConnectionRule.CLIENT_UNIQUE_ID, extra), *_codes(records))
    # Measured: 239 of the 265 closes (90.2 %) end a rebuilt connection; no %k in this log.
    assert check.x_closed == 265
    assert check.x_agreement is not None and check.x_agreement >= 0.85
    assert check.k_logged == 0 and check.k_agreement is None

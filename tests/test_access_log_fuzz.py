"""Properties of the access-log reader (Hypothesis).

Any line gives a record or a counted bad line, never an exception; any request Apache could
log (any text in its headers and target, escaped as Apache escapes it) reads back exactly.
"""

from __future__ import annotations

from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from mpmsim.workloads.access_log import (
    AccessRecord,
    BadLines,
    LineParser,
    compile_format,
    parse_lines,
)
from tests.logs import LoggedRequest, Traffic, format_line, netnea_format, take

FORMATS = (
    "common",
    "combined",
    "combinedio",
    "vhost_combined",
    "mpmsim",
    "%{%a %b %e %I:%M:%S %p %Y}t.%{msec_frac}t %{end:usec}t %{ms}T %{hextid}P %{x}e%%",
    '%h "%{cookie}n" %400{Referer}i %{c}L %L %X %k %>s %<s',
)
GOOD_LINES = tuple(format_line(r, "mpmsim") for r in take(Traffic(), 20, seed=2))

#: Characters that matter to the formats: quotes, escapes, brackets, digits, signs, spaces.
NASTY = st.sampled_from([*'"\\[]-+%: /.x0129\t\r\n\x00é漢', "\\x", '\\"', "\\\\"])


@cache
def _parser(log_format: str) -> LineParser:
    """One compiled parser per format (hypothesis calls the tests many times)."""
    return compile_format(log_format)


def _file_text(raw: bytes) -> str:
    """Bytes decoded the way the reader decodes a file."""
    return raw.decode("utf-8", "surrogateescape")


LINES = st.one_of(st.text(max_size=300), st.binary(max_size=300).map(_file_text))


@settings(max_examples=300, deadline=None)
@given(line=LINES, log_format=st.sampled_from(FORMATS))
def test_any_line_gives_a_record_or_none(line: str, log_format: str) -> None:
    result = _parser(log_format).parse(line)
    assert result is None or isinstance(result, AccessRecord)


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    """A good planning-format line with a few characters inserted, deleted or replaced."""
    line = draw(st.sampled_from(GOOD_LINES))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(line)))
        cut = draw(st.integers(0, 3))
        line = line[:at] + "".join(draw(st.lists(NASTY, max_size=3))) + line[at + cut :]
    return line


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_mutated(), min_size=1, max_size=5))
def test_broken_lines_are_counted_never_raised(lines: list[str]) -> None:
    good = [GOOD_LINES[0]] * (len(lines) + 1)  # so that bad lines are never "most"
    bad = BadLines()
    records = list(parse_lines([*good, *lines], _parser("mpmsim"), bad))
    assert len(records) + bad.count == bad.lines_read == len(good) + len(lines)
    assert [n for n, _ in bad.first] == sorted(n for n, _ in bad.first)
    assert all(n > len(good) for n, _ in bad.first)


@settings(max_examples=300, deadline=None)
@given(line=LINES)
def test_netnea_format_never_raises(line: str) -> None:
    result = _parser(netnea_format()).parse(line)
    assert result is None or isinstance(result, AccessRecord)


TEXT = st.text(max_size=40)


@st.composite
def _requests(draw: st.DrawFn) -> LoggedRequest:
    """Any request Apache could log in the planning format."""
    return LoggedRequest(
        start_us=draw(st.integers(0, 2**52)),
        duration_us=draw(st.integers(0, 10**12)),
        client=draw(st.from_regex(r"[0-9a-f:.]{1,39}", fullmatch=True)),
        client_port=draw(st.integers(0, 65535)),
        pid=draw(st.integers(1, 2**22)),
        tid=draw(st.integers(0, 2**64 - 1)),
        connection_id="",  # not in the planning format
        keepalive_requests=draw(st.integers(0, 10**6)),
        connection_status=draw(st.sampled_from("+-X")),
        method=draw(st.from_regex(r"[A-Z]{1,12}", fullmatch=True)),
        path=draw(TEXT),
        protocol=draw(st.sampled_from(["HTTP/1.0", "HTTP/1.1", "HTTP/2.0"])),
        status=draw(st.integers(100, 999)),
        body_bytes=draw(st.integers(0, 10**15)),
        referer=draw(st.none() | TEXT),
        user_agent=draw(st.none() | TEXT),
    )


@settings(max_examples=300, deadline=None)
@given(truth=_requests())
def test_any_logged_request_reads_back_exactly(truth: LoggedRequest) -> None:
    record = _parser("mpmsim").parse(format_line(truth, "mpmsim") + "\n")
    assert record is not None
    assert record.start_s == truth.start_us / 1_000_000
    assert record.end_s == truth.start_us / 1_000_000 + truth.duration_us / 1_000_000
    got = (record.method, record.path, record.protocol, record.status, record.body_bytes)
    assert got == (truth.method, truth.path, truth.protocol, truth.status, truth.body_bytes)
    assert record.referer == (None if truth.referer == "-" else truth.referer)
    assert record.user_agent == (None if truth.user_agent == "-" else truth.user_agent)
    connection = (record.client, record.client_port, record.pid, record.tid)
    assert connection == (truth.client, truth.client_port, truth.pid, truth.tid)
    status = (record.duration_us, record.keepalive_requests, record.connection_status)
    assert status == (truth.duration_us, truth.keepalive_requests, truth.connection_status)

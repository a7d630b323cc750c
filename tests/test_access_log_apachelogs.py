"""mpmsim's access-log reader agrees with ``apachelogs`` field by field.

``apachelogs`` (jwodder) is the careful reference parser but reads ~25,000 lines/s, an eighth
of the speed mpmsim needs, so it is the oracle here and not a dependency. Checked on both
shared logs, synthetic logs of every format with escaped quotes and bytes, and a corpus of
tricky lines; the few places where the two differ on purpose are listed and checked too.
Skipped when ``apachelogs`` is missing, but an error under CI (it is in the ``dev`` extra).
"""

from __future__ import annotations

import importlib
import os
from datetime import UTC
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mpmsim.workloads.access_log import AccessRecord, LineParser, compile_format, resolve_format
from tests.logs import NASA, NETNEA, NETNEA_OFFSET_S, Traffic, netnea_format, shared_log, write_log

PLANNING = "mpmsim"

_AT = "1.2.3.4 - - [01/Aug/2024:10:00:01 +0000] "
#: (format, line) pairs that Apache writes and naive parsers get wrong.
TRICKY: tuple[tuple[str, str], ...] = (
    ("combined", _AT + '"GET / HTTP/1.1" 200 5 "-" "a \\"q\\" b"'),
    ("combined", _AT + '"GET / HTTP/1.1" 200 5 "-" "ends \\\\"'),
    ("combined", _AT + '"GET /\\xc3\\xa4 HTTP/1.1" 200 5 "\\"" "x"'),
    ("combined", _AT + '"-" 408 - "-" "-"'),
    ("combined", _AT + '"" 400 0 "-" "-"'),
    ("combined", _AT + '"GET /old" 200 10 "-" "-"'),
    ("combined", _AT + '"GET /a b HTTP/1.0" 400 10 "-" "-"'),
    ("combined", _AT + '"\\x16\\x03\\x01" 400 226 "-" "-"'),
    ("combined", '::1 - "" [01/Aug/2024:10:00:01 -0930] "OPTIONS * HTTP/1.0" 200 - "-" "-"'),
    ("combined", '2001:db8::7 ident frank [29/Feb/2024:23:59:59 +1400] "GET / HTTP/2.0" - 0 "" ""'),
    ("common", 'host-x.example.org - - [01/Jan/1970:00:00:00 +0000] "GET / HTTP/1.0" 200 0'),
    ("vhost_combined", "www.example.com:443 " + _AT + '"GET / HTTP/1.1" 200 5 "-" "-"'),
    ("combinedio", _AT + '"GET / HTTP/1.1" 200 5 "-" "-" 310 540'),
    (PLANNING, _AT + '"GET / HTTP/1.1" 200 5 "-" "-" 1722506401123456 250 0 X 5 7 9'),
    (PLANNING, _AT + '"GET / HTTP/1.1" 304 - "-" "-" 1722506401000001 -3 12 - 65535 1 2'),
    ("%{%d/%b/%Y:%H:%M:%S}t.%{msec_frac}t %{ms}T %{hextid}P", "01/Aug/2024:10:00:01.007 12 7fab"),
    ("%{sec}t.%{usec_frac}t %T %{canonical}p %{local}p", "1722506401.000250 3 80 8080"),
    ("%{end:msec}t %D %L %{c}L", "1722506401250 1500 Req+1 -"),
    ("%{c}L %{remote}p", "AA@-/+9 443"),
    ("%{%Y-%m-%d %H:%M:%S %z}t %s %<s %>s %B", "2024-08-01 10:00:01 +0530 302 302 200 0"),
    (
        '%a %h %400,501{User-agent}i "%{X-Forwarded-For}i" %{c}a',
        '10.0.0.1 gw - "1.1.1.1, 2.2.2.2" 10.0.0.9',
    ),
    (
        "%v %V %A %f %R %q %m %U %H %S %^FB",
        "a b 10.0.0.1 /var/www/x.html - ?q=1 GET /x HTTP/1.1 700 1234",
    ),
    (
        "%{%b %d %H:%M:%S %Y}t %{Cookie}C %{SSL_PROTOCOL}x %{ratio}n%%",
        "Aug 01 10:00:01 2024 abc TLSv1.3 42%",
    ),
)

#: Where mpmsim differs from apachelogs on purpose: (format, line, mpmsim reads it, why).
DIFFERENCES: tuple[tuple[str, str, bool, str], ...] = (
    (
        "%h %{X}e %>s",
        "1.2.3.4 a b 200",
        False,
        "unquoted fields are one word: no backtracking across spaces (fast, and no blow-up)",
    ),
    (
        "combined",
        '1.2.3.4 - - [01/Aug/2024:10:00:01 +0000] "GET / HTTP/1.1" 200 5 "-" "Zoë raw UTF-8"',
        True,
        "raw non-ASCII between quotes is read (apachelogs wants Apache's \\x escapes)",
    ),
    (
        "%a %>s",
        "not-an-address 200",
        True,
        "%a is taken as text: mpmsim uses it as a key, it does not check it is an IP",
    ),
)


def _apachelogs() -> ModuleType:
    """The ``apachelogs`` module; skip (or fail under CI) when it is not installed."""
    try:
        return importlib.import_module("apachelogs")
    except ImportError:
        reason = "apachelogs is not installed: pip install -e '.[dev]'"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so this is an error: {reason}", pytrace=False)
        pytest.skip(reason)


def _oracle_time(entry: Any, side: str, local_offset_s: int) -> float | None:
    """One side's time as apachelogs reads it, at the finest resolution it has."""
    fields = getattr(entry, f"{side}request_time_fields", None) or {}
    if fields.get("microepoch") is not None:
        return float(fields["microepoch"] / 1_000_000)
    if fields.get("milliepoch") is not None:
        return float(fields["milliepoch"] / 1000)
    if fields.get("epoch") is not None:
        frac_us = fields.get("usec_frac") or 1000 * (fields.get("msec_frac") or 0)
        return float((fields["epoch"] * 1_000_000 + frac_us) / 1_000_000)
    when = getattr(entry, f"{side}request_time", None)
    if when is None:
        return None
    if when.tzinfo is None:
        return float(when.replace(tzinfo=UTC).timestamp() - local_offset_s)
    return float(when.timestamp())


def _first(entry: Any, *names: str) -> Any:
    """The first of apachelogs' attributes that is there and not None."""
    for name in names:
        value = getattr(entry, name, None)
        if value is not None:
            return value
    return None


def _oracle(entry: Any, parser: LineParser, local_offset_s: int) -> dict[str, Any]:
    """What apachelogs says each field of mpmsim's record should be (only fields the format
    fills; an end or start mpmsim derives from the duration is checked elsewhere)."""
    request = getattr(entry, "request_line", None)
    parts: tuple[Any, ...] = (None, None, None) if request is None else _split(request)
    bytes_sent = getattr(entry, "bytes_sent", None)
    headers = getattr(entry, "headers_in", None) or {}
    duration = _first(entry, "request_duration_microseconds")
    if duration is None and getattr(entry, "request_duration_milliseconds", None) is not None:
        duration = entry.request_duration_milliseconds * 1000
    if duration is None and getattr(entry, "request_duration_seconds", None) is not None:
        duration = entry.request_duration_seconds * 1_000_000
    start = _oracle_time(entry, "", local_offset_s)
    view = {
        "start_s": _oracle_time(entry, "begin_", local_offset_s) if start is None else start,
        "end_s": _oracle_time(entry, "end_", local_offset_s),
        "duration_us": duration,
        "client": _first(entry, "remote_address", "remote_host"),
        "client_port": _first(entry, "remote_port"),
        "server": _first(entry, "virtual_host", "server_name"),
        "server_port": _first(entry, "server_port", "local_port"),
        "pid": _first(entry, "pid"),
        "tid": _first(entry, "tid"),
        "connection_id": _first(entry, "connection_log_id"),
        "request_id": _first(entry, "request_log_id"),
        "keepalive_requests": _first(entry, "requests_on_connection"),
        "connection_status": _first(entry, "connection_status"),
        "method": parts[0] if request is not None else _first(entry, "request_method"),
        "path": parts[1] if request is not None else _first(entry, "request_uri"),
        "protocol": parts[2] if request is not None else _first(entry, "request_protocol"),
        "status": _first(entry, "final_status", "status", "original_status"),
        "body_bytes": 0 if bytes_sent is None and "%b" in parser.log_format else bytes_sent,
        "bytes_in": _first(entry, "bytes_in"),
        "bytes_out": _first(entry, "bytes_out"),
        "referer": headers.get("Referer"),
        "user_agent": headers.get("User-Agent"),
        "user": _first(entry, "remote_user"),
    }
    view = {name: value for name, value in view.items() if name in parser.filled}
    if "%{end:" not in parser.log_format:
        view.pop("end_s", None)
    if "start_s" in view and view["start_s"] is None:
        view.pop("start_s")  # a start mpmsim derives from the end and the duration
    view["extra"] = tuple(_text(entry.directives[name]) for name in parser.extra_names)
    return view


def _split(request: str) -> tuple[str | None, ...]:
    """A request line cut as mpmsim documents it (first word, middle, last word)."""
    words = request.split(" ")
    if len(words) == 1:
        return (request, None, None)
    if len(words) == 2:
        return (words[0], words[1], None)
    return (words[0], " ".join(words[1:-1]), words[-1])


def _text(value: Any) -> str | None:
    """An extra field as text (apachelogs converts some to int)."""
    return None if value is None else str(value)


def _agree(log_format: str, lines: list[str], local_offset_s: int = 0) -> int:
    """Both parsers accept the same lines and agree on every field; returns lines compared."""
    apachelogs = _apachelogs()
    ours = compile_format(log_format, local_offset_s=local_offset_s)
    theirs = apachelogs.LogParser(ours.log_format, encoding="utf-8", errors="surrogateescape")
    for number, line in enumerate(lines, 1):
        record = ours.parse(line)
        try:
            entry = theirs.parse(line)
        except apachelogs.InvalidEntryError:
            assert record is None, f"line {number}: only mpmsim reads {line!r}"
            continue
        assert record is not None, f"line {number}: only apachelogs reads {line!r}"
        expected = _oracle(entry, ours, local_offset_s)
        got = {name: getattr(record, name) for name in expected}
        assert got == expected, f"line {number}: {line!r}"
    return len(lines)


def _lines(path: Path) -> list[str]:
    """A log's lines as the reader sees them."""
    return path.read_text(encoding="utf-8", errors="surrogateescape").splitlines(keepends=True)


def test_nasa_log_agrees() -> None:
    assert _agree("common", _lines(shared_log(NASA))) == 20_000


def test_netnea_log_agrees() -> None:
    lines = _lines(shared_log(NETNEA))
    assert _agree(netnea_format(), lines, local_offset_s=NETNEA_OFFSET_S) == 7118


@pytest.mark.parametrize("nickname", ["common", "combined", "combinedio", PLANNING])
def test_synthetic_logs_agree(nickname: str, tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    write_log(path, Traffic(), 2000, nickname, seed=11, bad_every=97)
    assert _agree(nickname, _lines(path)) == 2020


@pytest.mark.parametrize(("log_format", "line"), TRICKY)
def test_tricky_lines_agree(log_format: str, line: str) -> None:
    _agree(log_format, [line + "\n"])
    assert compile_format(log_format).parse(line) is not None, "the corpus holds good lines"


@pytest.mark.parametrize(("log_format", "line", "ours", "why"), DIFFERENCES)
def test_documented_differences_hold(log_format: str, line: str, ours: bool, why: str) -> None:
    apachelogs = _apachelogs()
    theirs = apachelogs.LogParser(resolve_format(log_format))
    try:
        theirs.parse(line)
        theirs_reads = True
    except apachelogs.InvalidEntryError:
        theirs_reads = False
    assert (compile_format(log_format).parse(line) is not None, theirs_reads) == (ours, not ours), (
        why
    )


def test_impossible_dates_break_apachelogs_but_are_bad_lines_here() -> None:
    apachelogs = _apachelogs()
    line = '1.2.3.4 - - [31/Feb/2024:10:00:01 +0000] "GET / HTTP/1.1" 200 5 "-" "-"'
    with pytest.raises(ValueError):
        apachelogs.LogParser(apachelogs.COMBINED).parse(line)
    assert compile_format("combined").parse(line) is None
    assert isinstance(
        compile_format("combined").parse(line.replace("31/Feb", "29/Feb")), AccessRecord
    )

"""The access-log reader: formats, fields, the two real logs, gzip, and counted bad lines."""

from __future__ import annotations

import calendar
import gzip
import itertools
import statistics
from datetime import UTC, datetime
from pathlib import Path

import pytest

import mpmsim.workloads.access_log as access_log
from mpmsim.errors import InputError
from mpmsim.workloads.access_log import (
    NICKNAMES,
    PLANNING_FORMAT,
    AccessRecord,
    BadLines,
    compile_format,
    parse_lines,
    read_access_log,
    resolve_format,
)
from mpmsim.workloads.access_log.formats import PLANNING_CONFIG
from mpmsim.workloads.access_log.reader import EARLY_LINES
from tests.helpers import Cli
from tests.logs import (
    BAD_LINES,
    BAD_TIMES,
    NASA,
    NETNEA,
    NETNEA_OFFSET_S,
    Traffic,
    format_line,
    netnea_format,
    shared_log,
    take,
    write_log,
)

COMBINED_LINE = (
    '203.0.113.7 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326 '
    '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"\n'
)
PLANNING_LINE = COMBINED_LINE.rstrip("\n") + " 971211336123456 2500 3 + 54321 1201 140220\n"


def _one(log_format: str, line: str, local_offset_s: int = 0) -> AccessRecord:
    """The record of one line that must parse."""
    record = compile_format(log_format, local_offset_s=local_offset_s).parse(line)
    assert record is not None, line
    return record


def test_public_names_are_sorted_and_exist() -> None:
    # ruff's order (RUF022): constants, then classes, then functions, each alphabetical.
    kind = {True: 0, False: 1}
    order = sorted(access_log.__all__, key=lambda n: (kind[n.isupper()], n[0].islower(), n))
    assert list(access_log.__all__) == order
    for name in access_log.__all__:
        assert getattr(access_log, name) is not None


# --- what a line gives ----------------------------------------------------------------------


def test_combined_line_gives_each_field() -> None:
    record = _one("combined", COMBINED_LINE)
    assert record.start_s == calendar.timegm((2000, 10, 10, 20, 55, 36))
    assert (record.end_s, record.duration_us) == (None, None)
    assert (record.client, record.user, record.status, record.body_bytes) == (
        "203.0.113.7",
        "frank",
        200,
        2326,
    )
    assert (record.method, record.path, record.protocol) == (
        "GET",
        "/apache_pb.gif?x=1",
        "HTTP/1.0",
    )
    assert record.referer == "http://www.example.com/start.html"
    assert record.user_agent == "Mozilla/4.08 [en] (Win98; I ;Nav)"
    assert record.extra == (None,)  # %l
    assert compile_format("combined").extra_names == ("%l",)


def test_planning_line_gives_start_end_and_connection() -> None:
    record = _one("mpmsim", PLANNING_LINE)
    assert record.start_s == 971211336.123456  # %{usec}t, finer than %t
    assert record.duration_us == 2500
    assert record.end_s == pytest.approx(971211336.125956, abs=1e-7)
    assert (record.keepalive_requests, record.connection_status) == (3, "+")
    assert (record.connection_id, record.client_port, record.pid, record.tid) == (
        None,
        54321,
        1201,
        140220,
    )
    parser = compile_format("mpmsim")
    assert {"start_s", "end_s", "duration_us", "client_port", "tid"} <= parser.filled
    assert not {"server", "connection_id"} & parser.filled


def test_planning_config_line_is_the_planning_format() -> None:
    assert resolve_format(PLANNING_CONFIG) == PLANNING_FORMAT == NICKNAMES["mpmsim"]
    assert NICKNAMES["combined"] in PLANNING_FORMAT


@pytest.mark.parametrize("nickname", ["common", "combined", "combinedio", "mpmsim"])
def test_nicknames_read_synthetic_lines(nickname: str) -> None:
    parser = compile_format(nickname)
    for truth in take(Traffic(), 50, seed=3):
        record = parser.parse(format_line(truth, nickname) + "\n")
        assert record is not None
        assert (record.client, record.status, record.path) == (
            truth.client,
            truth.status,
            truth.path,
        )
        whole_second = truth.start_us // 1_000_000
        assert record.start_s == (truth.start_us / 1e6 if nickname == "mpmsim" else whole_second)


@pytest.mark.parametrize(
    ("nickname", "line"),
    [
        ("vhost_combined", "www.example.com:443 " + COMBINED_LINE.replace(" 2326 ", " 2700 ")),
        ("vhost_common", "www.example.com " + COMBINED_LINE.split(' "http')[0]),
    ],
)
def test_vhost_nicknames_read_the_server(nickname: str, line: str) -> None:
    record = _one(nickname, line)
    assert (record.server, record.client, record.status) == ("www.example.com", "203.0.113.7", 200)
    if nickname == "vhost_combined":
        assert (record.server_port, record.bytes_out, record.body_bytes) == (443, 2700, None)


def test_escaped_quotes_and_bytes_are_decoded() -> None:
    line = (
        '::1 - "" [01/Aug/2024:10:00:01 +0000] "GET /a\\"b\\\\c\\x01 HTTP/1.1" 404 - '
        '"-" "say \\"hi\\" \\xc3\\xa4 \\\\"\n'
    )
    record = _one("combined", line)
    assert record.path == '/a"b\\c\x01'
    assert record.user_agent == 'say "hi" ä \\'
    assert (record.user, record.referer, record.body_bytes) == ("", None, 0)  # %b's - is 0 bytes


@pytest.mark.parametrize(
    ("request_line", "parts"),
    [
        ("GET / HTTP/1.1", ("GET", "/", "HTTP/1.1")),
        ("GET /old", ("GET", "/old", None)),
        ("-", (None, None, None)),
        ("\\x16\\x03\\x01", ("\x16\x03\x01", None, None)),
        ("GET /a b HTTP/1.0", ("GET", "/a b", "HTTP/1.0")),
    ],
)
def test_request_line_splits_into_method_path_protocol(
    request_line: str, parts: tuple[str | None, ...]
) -> None:
    record = _one("common", f'h - - [01/Aug/2024:10:00:01 +0000] "{request_line}" 400 0')
    assert (record.method, record.path, record.protocol) == parts


@pytest.mark.parametrize(
    ("log_format", "line", "start_s", "end_s"),
    [
        ("%{%d/%b/%Y:%H:%M:%S %z}t %>s", "01/Aug/2024:10:00:01 +0200 200", 1722499201.0, None),
        (
            "%{%d/%b/%Y:%H:%M:%S}t.%{msec_frac}t %D",
            "01/Aug/2024:10:00:01.250 500",
            1722506401.25,
            1722506401.2505,
        ),
        (
            "%{sec}t.%{usec_frac}t %{ms}T",
            "1722506401.000002 7",
            1722506401.000002,
            1722506401.007002,
        ),
        ("%{msec}t %T", "1722506401250 2", 1722506401.25, 1722506403.25),
        ("%{end:usec}t %{us}T", "1722506401000000 250000", 1722506400.75, 1722506401.0),
        (
            "%{begin:%F %T}t %{end:%F %T}t",
            "2024-08-01 10:00:01 2024-08-01 10:00:03",
            1722506401.0,
            1722506403.0,
        ),
        ("%{%a %b %e %I:%M:%S %p %Y}t", "Thu Aug  1 01:00:01 PM 2024", 1722517201.0, None),
        ("%{%H:%M:%S}t %D", "10:00:01 5", None, None),
    ],
)
def test_time_directives(
    log_format: str, line: str, start_s: float | None, end_s: float | None
) -> None:
    record = _one(log_format, line)
    assert record.start_s == start_s
    if end_s is None:
        assert record.end_s is None
    else:
        assert record.end_s == pytest.approx(end_s, abs=1e-6)  # a float's step near 1.7e9 s


def test_times_without_a_zone_take_the_local_offset() -> None:
    utc = _one("[%{%Y-%m-%d %H:%M:%S}t]", "[2015-09-02 10:42:51]")
    local = _one("[%{%Y-%m-%d %H:%M:%S}t]", "[2015-09-02 10:42:51]", local_offset_s=7200)
    assert utc.start_s is not None and local.start_s is not None
    assert utc.start_s - local.start_s == 7200


@pytest.mark.parametrize(
    ("log_format", "line", "field", "value"),
    [
        ("%h %a", "name.example 198.51.100.4", "client", "198.51.100.4"),
        ("%s %>s", "302 200", "status", 200),
        ("%T %D", "1 1500000", "duration_us", 1500000),
        ("%{hextid}P", "7f3a", "tid", 0x7F3A),
        ("%V %{local}p", "www 8080", "server_port", 8080),
        ("%L %{c}L", "Req1 - ", "connection_id", None),
        ("%400,501{User-Agent}i", "-", "user_agent", None),
    ],
)
def test_which_directive_fills_a_field(
    log_format: str, line: str, field: str, value: object
) -> None:
    assert getattr(_one(log_format, line.rstrip()), field) == value


def test_a_directive_that_loses_its_field_is_kept_in_extra() -> None:
    parser = compile_format('%h %a "%r" %m %U')
    record = parser.parse('n.example 192.0.2.1 "GET /x HTTP/1.1" POST /y')
    assert record is not None
    assert (record.client, record.method, record.path) == ("192.0.2.1", "GET", "/x")
    assert dict(zip(parser.extra_names, record.extra, strict=True)) == {
        "%h": "n.example",
        "%m": "POST",
        "%U": "/y",
    }


# --- formats that are not right ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("log_format", "says"),
    [
        ("%h %Z", "%Z is not a LogFormat directive"),
        ("%h %{foo}p", "%{foo}p is not a LogFormat directive"),
        ("%{%Q}t", "strftime code %Q is not read"),
        ("%h 100%", "a lone %"),
        ("combinedd", "neither a known format (combined, combinedio, common, mpmsim"),
        ("%400t", "conditions on a time are not read"),
        ('LogFormat %h "', "needs its format in double quotes"),
    ],
)
def test_bad_formats_are_one_line_input_errors(log_format: str, says: str) -> None:
    with pytest.raises(InputError, match=r"^scenario\.yaml: ") as caught:
        compile_format(log_format, source="scenario.yaml")
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


# --- the two real logs ----------------------------------------------------------------------


def test_nasa_log_parses_with_no_bad_line() -> None:
    path = shared_log(NASA)
    bad = BadLines()
    records = list(read_access_log(path, "common", bad_lines=bad))
    assert (bad.count, bad.lines_read, len(records)) == (0, 20_000, 20_000)
    first = datetime(1995, 8, 1, 4, 0, 1, tzinfo=UTC).timestamp()  # 00:00:01 EDT
    last = datetime(1995, 8, 1, 14, 59, 29, tzinfo=UTC).timestamp()  # 10:59:29 EDT
    starts = [r.start_s for r in records]
    assert (starts[0], max(s for s in starts if s is not None)) == (first, last)
    no_body = sum(1 for line in path.read_text().splitlines() if line.endswith(" -"))
    assert no_body > 0
    assert sum(1 for r in records if r.body_bytes == 0) >= no_body


def test_netnea_log_parses_under_its_readme_format() -> None:
    path = shared_log(NETNEA)
    bad = BadLines()
    records = list(
        read_access_log(path, netnea_format(), bad_lines=bad, local_offset_s=NETNEA_OFFSET_S)
    )
    assert (bad.count, len(records)) == (0, 7118)
    first = records[0]
    assert first.start_s == datetime(2015, 9, 2, 8, 42, 51, 3372, tzinfo=UTC).timestamp()
    assert (first.connection_status, first.bytes_in, first.bytes_out) == ("+", 701, 12118)
    assert first.end_s == pytest.approx(first.start_s + 0.088871, abs=1e-6)
    durations = sorted(r.duration_us for r in records if r.duration_us is not None)
    assert 1_000 < statistics.median(durations) < 5_000  # README: median ~2.4 ms
    assert sum(1 for r in records if r.method is None) == 38  # '"-"' request lines (timeouts)
    extra = compile_format(netnea_format()).extra_names
    assert extra[0] == "%{GEOIP_COUNTRY_CODE}e" and first.extra[0] == "US"


# --- files: gzip, bad lines, most lines bad -------------------------------------------------


def test_gzip_and_plain_give_the_same_records(tmp_path: Path) -> None:
    plain, packed = tmp_path / "access.log", tmp_path / "access.log.1"
    write_log(plain, Traffic(), 500, "mpmsim", seed=5)
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert list(read_access_log(packed, "mpmsim")) == list(read_access_log(plain, "mpmsim"))


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_gzip_log_is_an_input_error(tmp_path: Path, damage: str) -> None:
    """Not gzip's EOFError, which the command line's framework reads as Ctrl-D ("aborted")."""
    plain, packed = tmp_path / "access.log", tmp_path / "access.log.gz"
    write_log(plain, Traffic(), 3000, "mpmsim", seed=5)
    data = gzip.compress(plain.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data = data[:20] + bytes(b ^ 0x55 for b in data[20:60]) + data[60:]
    packed.write_bytes(data)
    with pytest.raises(InputError, match=f"access.log.gz: the gzip data is {damage}"):
        list(read_access_log(packed, "mpmsim"))


def test_a_truncated_gzip_log_on_the_command_line(mpmsim: Cli, tmp_path: Path) -> None:
    plain, packed = tmp_path / "access.log", tmp_path / "access.log.gz"
    write_log(plain, Traffic(), 3000, "mpmsim", seed=5)
    data = gzip.compress(plain.read_bytes())
    packed.write_bytes(data[: len(data) // 2])
    out = mpmsim("trace", "fit", str(packed), "--format", "mpmsim", "-o", str(tmp_path / "t.yaml"))
    assert out.returncode == 2 and "aborted" not in out.stderr
    assert "the gzip data is truncated" in out.stderr and "Traceback" not in out.stderr


def test_synthetic_log_round_trips_with_bad_lines_counted(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    written = write_log(path, Traffic(), 3000, "mpmsim", seed=7, bad_every=100)
    bad = BadLines()
    records = list(read_access_log(path, "mpmsim", bad_lines=bad))
    assert (written, bad.count, bad.lines_read) == (30, 30, 3030)
    assert [n for n, _ in bad.first] == [101, 202, 303, 404, 505]
    assert bad.first[1] == (202, "garbage")
    assert (
        "30 of 3030 lines do not match the format (first: line 101: ''; line 202:" in bad.summary()
    )
    starts = [r.start_s or 0.0 for r in records]
    assert starts != sorted(starts)  # logged by end time: starts go back and forth, read as is
    for record, truth in zip(records, take(Traffic(), 3000, seed=7), strict=True):
        assert record.start_s == truth.start_us / 1e6
        assert (record.duration_us, record.keepalive_requests, record.connection_status) == (
            truth.duration_us,
            truth.keepalive_requests,
            truth.connection_status,
        )
        assert (record.path, record.user_agent, record.referer) == (
            truth.path,
            truth.user_agent,
            truth.referer,
        )


def test_bytes_that_are_not_utf8_are_kept_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "latin1.log"
    path.write_bytes(COMBINED_LINE.replace("Mozilla", "Mozill\xe4").encode("latin-1"))
    (record,) = read_access_log(path)
    assert record.user_agent is not None
    assert record.user_agent.startswith("Mozill\udce4")  # the byte, as surrogateescape keeps it


def test_a_format_copied_from_the_config_reads_its_escaped_quotes() -> None:
    assert resolve_format('%h %l %u %t \\"%r\\" %>s %b') == NICKNAMES["common"]
    config = 'LogFormat "%h %l %u %t \\"%r\\" \\\n   %>s %b" common\n'
    assert resolve_format(config) == NICKNAMES["common"]


def test_impossible_times_are_bad_lines_not_errors() -> None:
    bad = BadLines()
    good = COMBINED_LINE
    records = list(
        parse_lines([good, *BAD_TIMES, good, good, good], compile_format("combined"), bad)
    )
    assert (len(records), bad.count) == (4, len(BAD_TIMES))


def test_mostly_bad_lines_raise_at_the_end_of_a_short_log() -> None:
    parser = compile_format("combined")
    half = [COMBINED_LINE, "junk"] * 10
    assert len(list(parse_lines(half, parser))) == 10  # exactly half: not "most"
    with pytest.raises(InputError, match=r"^log: 11 of 20 lines do not match .* format '%h %l"):
        list(parse_lines([*half[:-2], "junk", "junk"], parser, source="log"))


def test_a_wrong_format_stops_the_read_early() -> None:
    endless = itertools.chain(
        itertools.repeat("not a log line", EARLY_LINES), itertools.repeat(COMBINED_LINE)
    )
    bad = BadLines()
    with pytest.raises(InputError, match=f"{EARLY_LINES} of {EARLY_LINES} lines"):
        for _ in parse_lines(endless, compile_format("combined"), bad):
            pass
    assert bad.lines_read == EARLY_LINES


def test_a_read_stopped_early_tallies_the_lines_it_read() -> None:
    bad = BadLines()
    stream = parse_lines(
        [COMBINED_LINE, *BAD_LINES[:2], *[COMBINED_LINE] * 10], compile_format("combined"), bad
    )
    for _ in itertools.islice(stream, 3):
        pass
    stream.close()
    assert (bad.lines_read, bad.count) == (5, 2)


def test_missing_file_and_bad_format_fail_at_the_call(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_access_log(tmp_path / "nope.log")
    (tmp_path / "a.log").write_text(COMBINED_LINE)
    with pytest.raises(InputError, match=r"a\.log: %Z is not"):
        read_access_log(tmp_path / "a.log", "%Z")

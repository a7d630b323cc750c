"""The one server bench talks to: URL checks, a connect probe and the mid-run mod_status read.

Nothing here contacts a host other than the benchmarked URL's: status_url must name the same
host, and its fetch uses no proxy and follows no redirect.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from mpmsim.errors import InputError
from mpmsim.workloads.readers.mod_status import SCOREBOARD_KEYS, STATUS_COLUMNS, parse_mod_status

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
PROBE_TIMEOUT_S = 5.0
STATUS_TIMEOUT_S = 5.0


def check_url(url: str, field: str, local: bool) -> str:
    """The host of an ``http://`` URL; with ``local``, it must be a loopback name."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise InputError(f"expected an http:// URL, got {url!r}", field=field)
    try:
        _ = parts.port
    except ValueError as exc:
        raise InputError(f"bad port in {url!r}", field=field) from exc
    if local and parts.hostname not in LOCAL_HOSTS:
        raise InputError(
            f"local sampling (apache_pid_file) needs a loopback URL "
            f"({', '.join(LOCAL_HOSTS)}), got host {parts.hostname!r}",
            field=field,
        )
    return parts.hostname


def probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Open and close one TCP connection to the URL's host and port: None, or why it failed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        with socket.create_connection((host, parts.port or 80), timeout=timeout):
            return None
    except socket.gaierror as exc:
        return f"cannot resolve host {host!r}: {exc.strerror}"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return reason[:1].lower() + reason[1:]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuses redirects: a redirect could name another host."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def status_cells(text: str, source: str) -> dict[str, object]:
    """mod_status ``?auto`` text as status_* and sb_* cells (counts as whole numbers)."""
    fields = parse_mod_status(text, source)
    cells: dict[str, object] = {
        column: int(value)
        for key, column in STATUS_COLUMNS.items()
        if isinstance(value := fields.get(key), float)
    }
    if "Scoreboard" in fields:
        cells.update({column: int(fields[column]) for column in SCOREBOARD_KEYS.values()})
    return cells


def _auto_url(status_url: str) -> str:
    """mod_status's machine-readable page: ``status_url?auto`` unless it asks for it already."""
    return status_url if "auto" in urlsplit(status_url).query else f"{status_url}?auto"


def _get(url: str, timeout: float) -> tuple[int, str]:
    """One GET of ``url`` with no proxy and no redirect (a redirect could name another host):
    the HTTP status and the text; urllib's errors (an HTTP error status among them) raise."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)
    with opener.open(url, timeout=timeout) as response:
        return response.status, response.read().decode("utf-8", "replace")


def same_host(a: str, b: str) -> bool:
    """Two URL host names for one server: equal, or both loopback names (localhost is 127.0.0.1
    or ::1 on the machine bench runs on, and bench's local checks accept either)."""
    return a == b or (a in LOCAL_HOSTS and b in LOCAL_HOSTS)


def status_problem(status_url: str, timeout: float = STATUS_TIMEOUT_S) -> str | None:
    """Why ``status_url?auto`` gives no mod_status reading (one GET, as ``fetch_status``), or
    None: asked before a campaign, so that a wrong URL is not found out in rows without it."""
    url = _auto_url(status_url)
    hint = "(mod_status loaded, with SetHandler server-status at that path and access from here?)"
    try:
        _, text = _get(url, timeout)
    except urllib.error.HTTPError as exc:
        return f"GET {url} answered HTTP {exc.code} {exc.reason} {hint}"
    except (OSError, ValueError) as exc:
        return f"GET {url} failed: {getattr(exc, 'reason', exc)}"
    try:
        status_cells(text, url)
    except InputError:
        return f"GET {url} answered a page that is not mod_status's ?auto text {hint}"
    return None


def fetch_status(status_url: str, timeout: float = STATUS_TIMEOUT_S) -> dict[str, object]:
    """One ``GET <status_url>?auto`` (no proxy, no redirect): status_mid_ok, fetch time, cells."""
    url = _auto_url(status_url)
    started = time.monotonic()
    row: dict[str, object] = {"status_mid_ok": 0}
    try:
        code, text = _get(url, timeout)
        if code == 200:
            row.update(status_cells(text, url), status_mid_ok=1)
    except (OSError, ValueError, InputError):
        pass  # no reading: status_mid_ok stays 0
    row["status_mid_fetch_ms"] = round((time.monotonic() - started) * 1000, 1)
    return row


__all__ = [
    "LOCAL_HOSTS",
    "check_url",
    "fetch_status",
    "probe",
    "same_host",
    "status_cells",
    "status_problem",
]

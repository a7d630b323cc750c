"""One access-log line as a flat, immutable record (``AccessRecord``)."""

from __future__ import annotations

from typing import NamedTuple


class AccessRecord(NamedTuple):
    """One request as its access-log line tells it; ``None`` where the format does not log it.

    Times are epoch seconds. Apache stamps ``%t`` (and ``%{begin:...}t``) when the request was
    *received* and writes the line when it *ends*, so ``start_s`` comes from those and ``end_s``
    from ``%{end:...}t``; either is derived from the other and ``duration_us`` when only one is
    logged. A timestamp written without a zone is read with the reader's ``local_offset_s``.
    ``extra`` holds every other directive's text, in the order of ``LineParser.extra_names``.
    """

    start_s: float | None
    """When the request was received (``%t``, ``%{begin:...}t``, or end - duration)."""
    end_s: float | None
    """When the line was written (``%{end:...}t``, or start + duration)."""
    duration_us: int | None
    """Time to serve, microseconds: ``%D``, ``%{us}T``, ``%{ms}T`` x 1e3, ``%T`` x 1e6."""
    client: str | None
    """Client address ``%a`` (or ``%{c}a``), else the host ``%h``."""
    client_port: int | None
    """Client TCP port ``%{remote}p``: with the client it names the connection."""
    server: str | None
    """Virtual host ``%v`` (or ``%V``)."""
    server_port: int | None
    """Server port ``%p`` (``%{canonical}p``, ``%{local}p``)."""
    pid: int | None
    """Child process id ``%P``."""
    tid: int | None
    """Thread id ``%{tid}P`` (``%{hextid}P``)."""
    connection_id: str | None
    """Connection log id ``%{c}L``."""
    request_id: str | None
    """Request log id ``%L``."""
    keepalive_requests: int | None
    """Requests this connection carried before this one ``%k`` (0: the first)."""
    connection_status: str | None
    """``%X`` after the response: ``+`` may be kept alive, ``-`` closes, ``X`` aborted."""
    method: str | None
    """First word of the request line ``%r`` (or ``%m``)."""
    path: str | None
    """Target of the request line (or ``%U%q``), escapes decoded."""
    protocol: str | None
    """Last word of the request line (or ``%H``); ``None`` for an HTTP/0.9 line."""
    status: int | None
    """Final status ``%>s``, else ``%s``/``%<s``."""
    body_bytes: int | None
    """Response body bytes ``%b``/``%B`` (``%b``'s ``-`` means 0)."""
    bytes_in: int | None
    """Bytes received, headers included ``%I`` (mod_logio)."""
    bytes_out: int | None
    """Bytes sent, headers included ``%O`` (mod_logio)."""
    referer: str | None
    """``%{Referer}i``."""
    user_agent: str | None
    """``%{User-Agent}i``."""
    user: str | None
    """Authenticated user ``%u``."""
    extra: tuple[str | None, ...]
    """Every other directive's text (escapes decoded, ``-`` as ``None``)."""


__all__ = ["AccessRecord"]

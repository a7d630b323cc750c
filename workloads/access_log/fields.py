"""Converters of one field's text: Apache's escapes and the request line's three words."""

from __future__ import annotations

import re

_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{2}|.)", re.DOTALL)
_NAMED = {b"b": b"\b", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v", b"f": b"\f"}


def _unescape_one(match: re.Match[bytes]) -> bytes:
    """The byte one escape sequence stands for."""
    code = match.group(1)
    if code[:1] == b"x" and len(code) == 3:
        return bytes((int(code[1:], 16),))
    return _NAMED.get(code, code)


def unescape(text: str) -> str:
    """Decode Apache's log escapes (``\\"``, ``\\\\``, ``\\xhh``, ``\\n`` ...) in ``text``.

    Apache (``ap_escape_logitem``) escapes the *bytes* of a header or request line, so the
    escaped bytes are put back and the whole decoded as UTF-8; bytes that are not UTF-8 come
    back as surrogates (``surrogateescape``), as the reader decodes the file itself.
    """
    if "\\" not in text:
        return text
    raw = _ESCAPE.sub(_unescape_one, text.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "surrogateescape")


def split_request(line: str) -> tuple[str, str | None, str | None]:
    """Method, target and protocol of a request line (``%r``), already unescaped.

    ``"GET /a HTTP/1.1"`` gives all three; ``"GET /a"`` (HTTP/0.9) no protocol; a line with
    no space (junk, a TLS hello on a plain port) only a method. Words between the first and
    the last belong to the target, so joining the parts with spaces gives the line back.
    """
    parts = line.split(" ")
    count = len(parts)
    if count == 3:
        return parts[0], parts[1], parts[2]
    if count == 1:
        return line, None, None
    if count == 2:
        return parts[0], parts[1], None
    return parts[0], " ".join(parts[1:-1]), parts[-1]


__all__ = ["split_request", "unescape"]

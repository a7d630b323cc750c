"""Decoding mod_unique_id's ``UNIQUE_ID``: which child process and connection slot served a request.

mod_unique_id packs a record in network byte order and writes it with its own base64 alphabet
(``A-Z a-z 0-9 @ -``). Up to Apache 2.4.25 the record is 18 bytes (24 characters): time stamp,
server address, child pid, counter, ``thread_index``; later versions put 10 random bytes drawn
once per child where the address and pid were (20 bytes, 27 characters). In both,
``thread_index`` is ``r->connection->id``, the slot (child, thread) that took the connection: it
stays the same for every request the connection carries, even when event hands a later request
of it to another worker thread.
"""

from __future__ import annotations

from typing import NamedTuple

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@-"
_VALUE = {char: index for index, char in enumerate(_ALPHABET)}
_OLD_CHARS = 24
_NEW_CHARS = 27


class UniqueId(NamedTuple):
    """What a ``UNIQUE_ID`` tells: when, which child process, which connection slot."""

    stamp_s: int
    """The request's time, whole epoch seconds."""
    process: str
    """The child: its pid (up to 2.4.25) or its random per-child bytes in hex (later)."""
    counter: int
    """The child's request counter (wraps at 65,536)."""
    slot: int
    """``thread_index``: the connection's id, one per (child, thread) slot."""


def _bytes_of(text: str) -> bytes | None:
    """The bytes behind the encoded text, or ``None`` when a character is not in the alphabet."""
    bits = 0
    held = 0
    out = bytearray()
    for char in text:
        value = _VALUE.get(char)
        if value is None:
            return None
        bits = (bits << 6) | value
        held += 6
        if held >= 8:
            held -= 8
            out.append((bits >> held) & 0xFF)
    return bytes(out)


def decode_unique_id(text: str | None) -> UniqueId | None:
    """The fields of one ``UNIQUE_ID`` (24 or 27 characters); ``None`` for anything else."""
    if text is None or len(text) not in (_OLD_CHARS, _NEW_CHARS):
        return None
    raw = _bytes_of(text)
    if raw is None:
        return None
    stamp = int.from_bytes(raw[0:4], "big")
    if len(text) == _OLD_CHARS:
        process = str(int.from_bytes(raw[8:12], "big"))
        rest = raw[12:18]
    else:
        process = raw[4:14].hex()
        rest = raw[14:20]
    return UniqueId(
        stamp, process, int.from_bytes(rest[0:2], "big"), int.from_bytes(rest[2:6], "big")
    )


__all__ = ["UniqueId", "decode_unique_id"]

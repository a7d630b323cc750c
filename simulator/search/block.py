"""The Apache block optimize prints to paste: written, read back, and run through Apache's rules."""

from __future__ import annotations

from typing import Any

from mpmsim.models.apache.directives import (
    EffectiveDirectives,
    apply_apache_rules,
    normalize_directives,
)
from mpmsim.search.space import spare_warnings


def apache_block(mpm: str, effective: dict[str, Any], keepalive: dict[str, Any] | None) -> str:
    """The ``<IfModule mpm_X_module>`` block to paste (plus KeepAlive lines when changed)."""
    if mpm == "prefork":
        names = ["StartServers", "MinSpareServers", "MaxSpareServers", "ServerLimit"]
    else:
        names = ["StartServers", "MinSpareThreads", "MaxSpareThreads", "ThreadLimit"]
        names += ["ThreadsPerChild", "ServerLimit"]
    names += ["MaxRequestWorkers", "MaxConnectionsPerChild"]
    if mpm == "event":
        names.append("AsyncRequestWorkerFactor")
    width = max(len(n) for n in names) + 1
    lines = [f"<IfModule mpm_{mpm}_module>"]
    lines += [f"    {n.ljust(width)}{_fmt(effective[n])}" for n in names]
    lines.append("</IfModule>")
    for name, value in (keepalive or {}).items():
        lines.append(f"{name} {_fmt(value)}")
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_block(block: str) -> tuple[str, dict[str, str]]:
    """Read back an Apache block written by :func:`apache_block`: (mpm, raw directives)."""
    mpm = ""
    raw: dict[str, str] = {}
    for line in block.splitlines():
        text = line.strip()
        if text.startswith("<IfModule mpm_"):
            mpm = text.removeprefix("<IfModule mpm_").split("_module")[0]
        elif text and not text.startswith("<"):
            name, _, value = text.partition(" ")
            raw[name] = value.strip()
    return mpm, raw


def check_block(block: str, vcpus: int) -> tuple[EffectiveDirectives, list[str]]:
    """Run a block through Apache's start-up rules; return (effective, warnings)."""
    mpm, raw = parse_block(block)
    values, notes = normalize_directives(raw, source="<block>")
    effective, warnings = apply_apache_rules(mpm, values, vcpus=vcpus)
    return effective, notes + warnings + spare_warnings(mpm, effective.as_dict())

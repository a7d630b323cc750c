"""The sizing report as Markdown (``--format md``): the page's text, GitHub tables, no charts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mpmsim.sizing.page import DETAIL_COLUMNS, Row, build_page
from mpmsim.sizing.result import SizingReport


def _cell(text: str) -> str:
    """A table cell: pipes escaped and line breaks folded, so one row stays one line."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(columns: Sequence[str], rows: Sequence[Row]) -> list[str]:
    """A GitHub table; the recommended row in bold."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [_cell(c) for c in row.cells]
        if row.recommended:
            cells = [f"**{c}**" if c else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _fence(text: str) -> list[str]:
    """A fenced block longer than any run of backticks inside it."""
    fence = "```"
    while fence in text:
        fence += "`"
    return [fence + "apache", text.rstrip("\n"), fence]


def render_markdown(report: SizingReport | Mapping[str, Any]) -> str:
    """A sizing report (or its JSON dict) as Markdown."""
    if not isinstance(report, SizingReport):
        report = SizingReport(dict(report))
    page = build_page(report.to_dict(), report.recommended_run)
    lines = [f"# {page.title}", "", f"**{page.answer}**", ""]
    if page.assumed:
        lines += [*(f"> {a}  " for a in page.assumed), ""]
    lines += _table(page.columns, page.rows)
    if page.fleet:
        lines += ["", page.fleet]
    lines += ["", page.goals]
    if page.block is not None:
        lines += ["", "## The recommended configuration", "", *_fence(page.block)]
        if page.measured:
            lines += ["", page.measured]
        if page.notes:
            lines += ["", "What its run logged:", ""] + [f"- {_cell(n)}" for n in page.notes]
    if page.assumptions:
        lines += ["", "## Assumptions", ""] + [f"- {a}" for a in page.assumptions]
    lines += ["", "## Every instance type", "", *_table(DETAIL_COLUMNS, page.details)]
    for name, block in page.blocks:
        lines += ["", f"### {name}", "", *_fence(block)]
    return "\n".join(lines) + "\n"

"""Notebooks run: their code cells execute top to bottom without a Jupyter kernel, and every cell
that ends in an expression shows what Jupyter would display (a table with rows, a figure with
traces), not None or an empty frame."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.helpers import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
SLOW = {"sizing-optimize", "trace-to-sizing"}  # an optimize over three MPMs: ~30 s each


def _run_cell(source: str, name: str, namespace: dict[str, Any]) -> tuple[bool, Any]:
    """Execute a cell as Jupyter does; return (whether it ends in a shown expression, its value).

    A trailing ``print(...)`` shows its output, not its value, so it counts as a statement.
    """
    tree = ast.parse(source, name)
    last = tree.body[-1] if tree.body else None
    shown = isinstance(last, ast.Expr) and not (
        isinstance(last.value, ast.Call)
        and isinstance(last.value.func, ast.Name)
        and last.value.func.id == "print"
    )
    if not shown:
        exec(compile(tree, name, "exec"), namespace)
        return False, None
    assert isinstance(last, ast.Expr)
    exec(compile(ast.Module(body=tree.body[:-1], type_ignores=[]), name, "exec"), namespace)
    return True, eval(compile(ast.Expression(last.value), name, "eval"), namespace)


def _is_empty(value: Any) -> bool:
    """Nothing to look at: None, a frame without rows, a plotly figure without traces."""
    if isinstance(value, pd.DataFrame):
        return value.empty
    if type(value).__module__.startswith("plotly."):
        return len(value.data) == 0
    return value is None


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW else p for p in NOTEBOOKS],
    ids=lambda p: p.stem,
)
def test_notebook_executes(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = json.loads(path.read_text())
    monkeypatch.chdir(path.parent)  # where Jupyter starts a notebook's kernel
    namespace: dict[str, Any] = {"__name__": "__notebook__"}
    shown = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        name = f"{path.name}[cell {i}]"
        ends_in_expression, value = _run_cell("".join(cell["source"]), name, namespace)
        if ends_in_expression:
            assert not _is_empty(value), f"{name} shows nothing: {value!r}"
            shown.append(name)
    assert shown, f"{path.name} shows no table or figure"

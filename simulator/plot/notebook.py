"""Figures that show in every notebook front end and survive an HTML export."""

from __future__ import annotations

from typing import Any

RENDERER = "plotly_mimetype+notebook"
"""plotly's own MIME type (JupyterLab, VS Code) and an HTML rendering (classic Jupyter, and
nbconvert's HTML export, which keeps only the HTML); the HTML draws with the plotly.js that
:func:`setup_notebook` writes into the notebook once, so an exported file needs no network."""


def setup_notebook() -> str:
    """Set plotly's renderer for notebooks and return its name.

    Call it in a notebook's first cell. Inside a Jupyter kernel (JupyterLab, classic Jupyter,
    VS Code, ``jupyter nbconvert --execute``) it selects :data:`RENDERER` and writes plotly.js
    (about 4.8 MB, no CDN) into that cell's output, so every figure after it also draws in the
    notebook exported to HTML. Outside a kernel (a plain Python script) it changes nothing.
    """
    import plotly.io as pio

    if not _in_kernel():
        return str(pio.renderers.default)
    from plotly.offline import init_notebook_mode

    init_notebook_mode(connected=False)  # RENDERER, activated now: plotly.js into this cell
    return str(pio.renderers.default)


def _in_kernel() -> bool:
    """Whether this code runs in a Jupyter kernel (an IPython shell with a kernel)."""
    try:
        from IPython import get_ipython
    except ImportError:  # IPython is not installed: no notebook can be running this
        return False
    shell: Any = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None

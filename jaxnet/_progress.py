"""When a progress bar shows: asked for, or left to jaxnet (a terminal, or a Jupyter notebook).

``tqdm.auto`` draws a notebook widget in Jupyter (text where ``ipywidgets`` is missing) and a
text bar in a terminal; what this module decides is whether to draw one at all when the caller
left it open (``progress=None``): on a terminal's stderr, and in a Jupyter kernel, whose stderr
is not a terminal but whose cells show what is drawn. Left out: the bars themselves.
"""

from __future__ import annotations

import sys


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (a notebook, JupyterLab, VS Code, Colab).

    Asked of IPython only when it is already imported, as ``tqdm.auto`` asks: a plain Python
    process or an IPython terminal is not a notebook.
    """
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    try:
        shell = get() if get is not None else None
        return shell is not None and "IPKernelApp" in getattr(shell, "config", {})
    except Exception:  # an IPython that answers oddly is no notebook of ours
        return False


def wanted(progress: bool | None) -> bool:
    """``progress`` when it is given, else whether stderr is a terminal or this is a notebook."""
    if progress is not None:
        return bool(progress)
    try:
        terminal = sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stderr
        terminal = False
    return terminal or in_notebook()

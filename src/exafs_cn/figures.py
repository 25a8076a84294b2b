"""Writing figures: atomically, and without choosing the user's matplotlib backend.

No module of the package calls ``matplotlib.use``: in a notebook the figures are drawn with
the notebook's backend. The command line (``exafs_cn.__main__``) defaults ``MPLBACKEND``
to ``Agg`` before matplotlib loads, so it never needs a display.
"""

from __future__ import annotations

from pathlib import Path


def save_figure(fig, path: Path) -> Path:
    """PNG written to a temporary name, then renamed: never a half-written figure.

    The figure is closed in any case, so a failed write (a full disk) leaks nothing.
    """
    import matplotlib.pyplot as plt

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        tmp.replace(path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path

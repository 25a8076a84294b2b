"""Writing figures: atomically, and without choosing the user's matplotlib backend.

No module of the package calls ``matplotlib.use``: in a notebook the figures are drawn with
the notebook's backend. The command line (``exafs_cn.__main__``) defaults ``MPLBACKEND``
to ``Agg`` before matplotlib loads, so it never needs a display.
"""

from __future__ import annotations

from pathlib import Path

from exafs_cn.atomic import write_atomic, write_new_atomic


def save_figure(fig, path: Path, replace: bool = True) -> Path:
    """PNG written to a temporary name, then renamed: never a half-written figure.

    ``replace=False``: FileExistsError where ``path`` exists (a file this run did not write).
    The figure is closed in any case, so a failed write (a full disk) leaks nothing.
    """
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write = write_atomic if replace else write_new_atomic
        return write(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"))
    finally:
        plt.close(fig)

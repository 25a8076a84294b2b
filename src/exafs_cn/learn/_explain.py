"""Which part of |chi(R)| drives the answer: Gini importance as a curve over R.

The study reads tree-ensemble importance as a function of R and finds most weight
below 3 A and little beyond 6 A. Here the per-feature importances of the R-space
columns are normalised to sum to one, so the shares below 3 A and above 6 A can be
compared across elements, models and with the study.
"""

from __future__ import annotations

import numpy as np

from exafs_cn.features import r_grid
from exafs_cn.settings import DEFAULT_SETTINGS, ProcessingSettings

NEAR_R = 3.0
FAR_R = 6.0


def importance_over_r(importances: np.ndarray, settings: ProcessingSettings = DEFAULT_SETTINGS) -> tuple[np.ndarray, np.ndarray]:
    """(R grid, importance of each |chi(R)| column normalised to sum 1).

    Columns after the R grid (e.g. peak features) are left out, so the curve means
    the same thing for the ``r`` and ``r_peaks`` feature sets.
    """
    r = r_grid(settings)
    curve = np.asarray(importances[: len(r)], float)
    total = curve.sum()
    return r, curve / total if total > 0 else curve


def importance_shares(importances: np.ndarray, settings: ProcessingSettings = DEFAULT_SETTINGS) -> dict[str, float]:
    r, curve = importance_over_r(importances, settings)
    return {
        "below_3A": float(curve[r < NEAR_R].sum()),
        "3A_to_6A": float(curve[(r >= NEAR_R) & (r <= FAR_R)].sum()),
        "above_6A": float(curve[r > FAR_R].sum()),
    }

"""E0 as a nuisance parameter: the shift at which a measured chi(k) looks most like the training spectra.

A measured E0 (the half-step rule on measured mu) sits 10-20 eV from where the measured
chi(k) lines up in phase with FEFF's, by an amount that changes with the chemistry
(``studies/sim_vs_measured.py``). The profile tries E0 shifts over :data:`OFFSETS` and
scores each by how well k^2 chi(k) over :data:`K_RANGE` correlates with the training
spectra of the element: the mean correlation with the :data:`TOP` best-matching of them.

A shift only re-maps chi(E) to k (k' = sqrt(k^2 - 0.2625 dE)), so one background removal
serves every shift; the chosen shift is then used for a full processing
(:attr:`exafs_cn.measured._readers.MeasuredSpectrum.e0_shift`). The training spectra come
from the models folder (``exafs_cn.models._e0_references.E0References``).

Examples
--------
>>> k = np.arange(0, 15, 0.05)
>>> chi = np.sin(2 * 2.0 * k) * np.exp(-0.01 * k**2) / np.maximum(k, 1) ** 2
>>> moved = shifted_chi(k, chi, 8.0, np.arange(3, 10.01, 0.05))  # E0 8 eV higher
>>> references = np.stack([shifted_chi(k, chi, 0.0, np.arange(3, 10.01, 0.05)) * np.arange(3, 10.01, 0.05) ** 2])
>>> best = profile(k, chi, references, grid=np.arange(3, 10.01, 0.05))
>>> best.shift, round(best.score, 3)
(0.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exafs_cn.features import shifted_chi
from exafs_cn.models._e0_references import FLOOR_PERCENTILE, K_RANGE, TOP, normalised_rows, score_floor

#: E0 shifts tried (eV, added to the rule's E0): the 5-95% range of the measured offsets
#: (-21 to +12 eV) with a margin.
OFFSETS = np.arange(-25.0, 15.01, 1.0)


@dataclass(frozen=True)
class E0Profile:
    """The chosen shift, its score, and how sharply the score peaked there.

    ``sharpness``: the best score less the median score over the shifts tried (0: flat, no
    shift is preferred; 0.3 and more: a clear phase match).
    """

    shift: float
    score: float
    sharpness: float
    offsets: np.ndarray
    scores: np.ndarray


def profile(
    k: np.ndarray,
    chi: np.ndarray,
    references: np.ndarray,
    grid: np.ndarray | None = None,
    offsets: np.ndarray = OFFSETS,
    top: int = TOP,
) -> E0Profile:
    """The E0 shift at which k^2 chi(k) correlates best with ``references``.

    Parameters
    ----------
    k, chi : ndarray
        chi(k) from the rule's E0 (Larch autobk's grid).
    references : ndarray
        The training spectra's k^2 chi(k) on ``grid``, one per row.
    grid : ndarray, optional
        The k grid of ``references``; default :data:`K_RANGE` in 0.05 steps.
    offsets : ndarray
        The shifts tried, eV.
    top : int
        How many best-matching references make each shift's score.
    """
    grid = np.arange(K_RANGE[0], K_RANGE[1] + 1e-9, 0.05) if grid is None else grid
    refs = normalised_rows(np.asarray(references, float))
    candidates = normalised_rows(np.stack([shifted_chi(k, chi, float(d), grid) * grid**2 for d in offsets]))
    correlations = candidates @ refs.T  # shifts x references
    best = np.sort(correlations, axis=1)[:, -min(top, refs.shape[0]) :]
    scores = best.mean(axis=1)
    i = int(np.argmax(scores))
    return E0Profile(float(offsets[i]), float(scores[i]), float(scores[i] - np.median(scores)), np.asarray(offsets), scores)


__all__ = [
    "E0Profile",
    "FLOOR_PERCENTILE",
    "K_RANGE",
    "OFFSETS",
    "TOP",
    "normalised_rows",
    "profile",
    "score_floor",
    "shifted_chi",
]

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

import warnings
from dataclasses import dataclass

import numpy as np
from larch.xafs.xafsutils import ETOK

from exafs_cn.models._e0_references import K_RANGE

#: E0 shifts tried (eV, added to the rule's E0): the 5-95% range of the measured offsets
#: (-21 to +12 eV) with a margin.
OFFSETS = np.arange(-25.0, 15.01, 1.0)
#: How many of the best-matching training spectra make the score.
TOP = 5
#: A spectrum whose best score is below this percentile of its element's training spectra's own
#: scores (each against the others, :func:`score_floor`) gets no answer: its chi(k) matches none
#: of them at any E0 tried, less than 99 in 100 of them match each other.
FLOOR_PERCENTILE = 1.0


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


def shifted_chi(k: np.ndarray, chi: np.ndarray, shift: float, grid: np.ndarray) -> np.ndarray:
    """chi on ``grid`` as it reads with E0 moved up by ``shift`` eV (chi(E) unchanged)."""
    source = np.sqrt(np.clip(grid**2 + shift * ETOK, 0.0, None))
    return np.interp(source, k, chi, left=0.0, right=0.0)


def normalised_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows less their mean, of unit length: their dot products are correlations."""
    centred = matrix - matrix.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return centred / np.where(norms > 0, norms, 1.0)


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


def score_floor(references: np.ndarray, percentile: float = FLOOR_PERCENTILE, top: int = TOP) -> float:
    """The ``percentile`` of the training spectra's own scores: each row's mean correlation with
    its ``top`` best-matching other rows (rows that are copies, correlation above 0.999, left out:
    polymorphs FEFF gives the same spectrum). Where a row has fewer than ``top`` others, all count.

    Examples
    --------
    >>> grid = np.arange(3, 10.01, 0.1)
    >>> close = np.stack([np.sin(2 * r * grid) * grid for r in np.linspace(1.8, 2.2, 40)])  # one shell, R 1.8-2.2 A
    >>> spread = np.stack([np.sin(2 * r * grid) * grid for r in np.linspace(1.6, 2.4, 40)])
    >>> round(score_floor(close), 2), round(score_floor(spread), 2)
    (0.87, 0.61)
    >>> score_floor(close[:1])  # one spectrum: no floor
    nan
    """
    unit = normalised_rows(np.asarray(references, float)).astype(np.float32)
    k = min(top, unit.shape[0] - 1)
    if k < 1:  # one spectrum: no floor to take
        return float("nan")
    correlations = unit @ unit.T
    correlations[correlations > 0.999] = -np.inf  # itself and its copies
    best = np.partition(correlations, -k, axis=1)[:, -k:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a row with no other than copies: NaN, left out
        scores = np.nanmean(np.where(np.isfinite(best), best, np.nan), axis=1)
        return float(np.nanpercentile(scores, percentile))


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

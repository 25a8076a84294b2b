"""Evidence from below the edge: the height of the pre-edge peak.

A 1s -> 3d transition is dipole-forbidden; it gains intensity where the site has no
centre of inversion and 3d mixes with 4p. A tetrahedral or five-coordinate site of a
d0-d5 ion (chromate, permanganate, vanadate, tetrahedral Ti) shows a pre-edge peak at
half the edge step or more; an octahedral one a tenth or so (Farges, Brown and Rehr,
Phys. Rev. B 56, 1809 (1997) for Ti; Wilke et al., Am. Mineral. 86, 714 (2001) for Fe).
FEFF8L cannot simulate it, so the models never saw it: its weight is learned from
measured spectra (:mod:`exafs_cn.models._measured_calibration`).

The height is measured with Larch's ``pre_edge_baseline`` over a window placed from the
half-step edge (:func:`exafs_cn.features.half_step_e0`, which does not land on the peak
itself, as the largest derivative does on a chromate).
"""

from __future__ import annotations

import numpy as np
from larch import Group
from larch.xafs.prepeaks import pre_edge_baseline

from exafs_cn.features import half_step_e0
from exafs_cn.larch_output import captured

#: The pre-edge window relative to the half-step edge (eV): the baseline is fitted over
#: [LOW, PEAK_LOW] and at PEAK_HIGH, the peak looked for in between. Pre-edge peaks of
#: the 3d K edges lie 8-20 eV below the half-step edge.
LOW, PEAK_LOW, PEAK_HIGH = -45.0, -25.0, -6.0


def pre_edge_peak_height(energy: np.ndarray, norm: np.ndarray) -> float | None:
    """The tallest pre-edge peak above a linear baseline, in units of the edge step.

    Parameters
    ----------
    energy : ndarray
        Energies (eV), increasing.
    norm : ndarray
        mu(E) normalised to an edge step of 1 (Larch's ``pre_edge`` ``norm``).

    Returns
    -------
    float or None
        The height (0 where there is no peak above the baseline); None where the data do
        not start 45 eV below the edge or there is no edge to place the window on.

    Examples
    --------
    >>> e = np.arange(5950.0, 6100.0, 0.5)
    >>> edge = 1 / (1 + np.exp(-(e - 6010.0) / 1.0))
    >>> peak = 0.6 * np.exp(-((e - 5994.0) ** 2) / 2.0)
    >>> round(pre_edge_peak_height(e, edge + peak), 2)
    0.6
    >>> round(pre_edge_peak_height(e, edge), 2)
    0.0
    >>> pre_edge_peak_height(e[80:], edge[80:]) is None  # the scan starts 20 eV below the edge
    True
    """
    energy, norm = np.asarray(energy, float), np.asarray(norm, float)
    edge = half_step_e0(energy, norm)
    if edge is None or energy[0] > edge + LOW or np.count_nonzero(energy <= edge + PEAK_LOW) < 4:
        return None
    group = Group()
    with captured():  # Larch prints lmfit's warnings; a user sees them in notes, not on stdout
        pre_edge_baseline(
            energy, norm, group=group, form="linear", emin=edge + LOW, elo=edge + PEAK_LOW, ehi=edge + PEAK_HIGH, emax=edge + PEAK_HIGH
        )
    peaks = np.asarray(group.prepeaks.peaks, float)
    inside = (group.prepeaks.energy > edge + PEAK_LOW) & (group.prepeaks.energy < edge + PEAK_HIGH)
    if not inside.any() or not np.all(np.isfinite(peaks[inside])):
        return None
    return max(float(peaks[inside].max()), 0.0)

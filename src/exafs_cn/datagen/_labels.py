"""Coordination-number labels: CrystalNN per site, and MP-style site averages.

The study we reproduce labels each (material, absorber element) with the CrystalNN
CN averaged over the element's inequivalent sites, weighted by multiplicity, because
that is how Materials Project averages its spectra; pairs whose average is not a
whole number are dropped. The same rule lives here, once.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from pymatgen.analysis.local_env import CrystalNN
from pymatgen.core import Structure

#: Keyword arguments given to CrystalNN; the empty dict means pymatgen's defaults,
#: as in the study. Recorded in the dataset provenance.
CRYSTALNN_SETTINGS: dict[str, object] = {}

#: How far a weighted average may sit from a whole number and still count as one.
INTEGER_TOLERANCE = 1e-6


@lru_cache(maxsize=1)
def crystalnn() -> CrystalNN:
    """The one CrystalNN of the process, with :data:`CRYSTALNN_SETTINGS`."""
    return CrystalNN(**CRYSTALNN_SETTINGS)


def crystalnn_cn(structure: Structure, site_index: int) -> int:
    """CrystalNN coordination number of one site (unweighted neighbour count).

    CrystalNN warns on every call for structures without oxidation states (all of
    MP's); the study ran it the same way, so the warnings carry no news.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return int(round(crystalnn().get_cn(structure, site_index, use_weights=False)))


def crystalnn_label_weight(structure: Structure, site_index: int, cn: int) -> float:
    """CrystalNN's own weight for ``cn`` at a site: how sure it is of the label it gives.

    CrystalNN scores every candidate CN (``cn_weights``) and reports the likeliest;
    1.0 means no other CN competed, ~0.5 a near tie (bcc metals: 8 against 14). Used to
    weigh training labels and to split errors by label confidence, never to relabel.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(crystalnn().get_nn_data(structure, site_index).cn_weights.get(int(cn), 0.0))


def crystalnn_description() -> str:
    """Human-readable settings for provenance records."""
    nn = crystalnn()
    params = {
        "weighted_cn": nn.weighted_cn,
        "cation_anion": nn.cation_anion,
        "distance_cutoffs": nn.distance_cutoffs,
        "x_diff_weight": nn.x_diff_weight,
        "porous_adjustment": nn.porous_adjustment,
        "search_cutoff": nn.search_cutoff,
    }
    return f"pymatgen CrystalNN({params}), get_cn(use_weights=False)"


def site_averaged_cn(cns: Sequence[float], multiplicities: Sequence[int]) -> float:
    """Multiplicity-weighted mean CN over an element's inequivalent sites."""
    return float(np.average(np.asarray(cns, float), weights=np.asarray(multiplicities, float)))


def is_integer_cn(cn: float) -> bool:
    """The study's filter: keep a pair only when its averaged CN is a whole number."""
    return abs(cn - round(cn)) < INTEGER_TOLERANCE

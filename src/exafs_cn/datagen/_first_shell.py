"""First-shell labels: how far the CrystalNN neighbours that give a site its CN are, and what they are.

The CN label of a site is the number of its CrystalNN neighbours (``labels.crystalnn_cn``);
the same neighbours give its first shell: the mean absorber-neighbour distance (A, from
the structure's coordinates: Materials Project's PBE cells, whose distances run ~1% long
against experiment), its spread (population standard deviation over the neighbours), the
shortest and longest, and the neighbours' elements with their counts. Per (material,
element) pair the site values are averaged with the multiplicities as weights, as the CN
is (:func:`pair_first_shell`).

The neighbour element is reported in classes (:data:`NEIGHBOUR_CLASSES`), because EXAFS
tells backscatterers apart by their row of the periodic table and not much further: O, S,
N, halogens, P, C, Se/As, a metal, and "other" for the rest (H, B, Si, Te, ...).
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
from pymatgen.core import Element, Structure

from exafs_cn.datagen._labels import crystalnn
from exafs_cn.elements import NEIGHBOUR_CLASSES
from exafs_cn.exceptions import StructureError

_HALOGENS = {"F", "Cl", "Br", "I"}


def neighbour_class(symbol: str) -> str:
    """The class of a neighbour element, one of :data:`NEIGHBOUR_CLASSES`.

    Examples
    --------
    >>> [neighbour_class(s) for s in ("O", "Cl", "As", "Fe", "La", "H")]
    ['O', 'halogen', 'Se/As', 'metal', 'metal', 'other']
    """
    if symbol in ("O", "S", "N", "P", "C"):
        return symbol
    if symbol in _HALOGENS:
        return "halogen"
    if symbol in ("Se", "As"):
        return "Se/As"
    element = Element(symbol)
    if element.is_metal and not element.is_metalloid:
        return "metal"
    return "other"


def site_first_shell(structure: Structure, site_index: int) -> dict:
    """The first shell of one site: ``cn``, ``r1``, ``r1_std``, ``r1_min``, ``r1_max`` (A) and
    ``neighbours`` ({element: count}), from the CrystalNN neighbours that give its CN.

    Examples
    --------
    >>> from pymatgen.core import Lattice
    >>> nio = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.177), ["Ni", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> shell = site_first_shell(nio, 0)
    >>> shell["cn"], round(shell["r1"], 2), shell["neighbours"]
    (6, 2.09, {'O': 6})
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CrystalNN warns on every structure without oxidation states
        neighbours = crystalnn().get_nn_info(structure, site_index)
    if not neighbours:
        raise StructureError(f"site {site_index} has no CrystalNN neighbours")
    centre = structure[site_index].coords
    distances = np.array([np.linalg.norm(n["site"].coords - centre) for n in neighbours])
    counts = Counter(n["site"].specie.symbol for n in neighbours)
    return {
        "cn": len(neighbours),
        "r1": float(distances.mean()),
        "r1_std": float(distances.std()),
        "r1_min": float(distances.min()),
        "r1_max": float(distances.max()),
        "neighbours": dict(sorted(counts.items())),
    }


def class_shares(neighbours: Mapping[str, float]) -> dict[str, float]:
    """Share of each neighbour class in ``{element: count}`` (classes absent left out)."""
    total = float(sum(neighbours.values()))
    shares: Counter = Counter()
    for symbol, count in neighbours.items():
        shares[neighbour_class(symbol)] += count / total
    return {name: round(shares[name], 6) for name in NEIGHBOUR_CLASSES if shares[name] > 0}


def dominant_class(neighbours: Mapping[str, float]) -> str:
    """The neighbour class with the largest share (ties: the first in :data:`NEIGHBOUR_CLASSES`)."""
    shares = class_shares(neighbours)
    return max(shares, key=lambda name: (shares[name], -NEIGHBOUR_CLASSES.index(name)))


def pair_first_shell(sites: Sequence[Mapping], multiplicities: Sequence[float]) -> dict:
    """The first shell of a (material, element) pair from its sites' (:func:`site_first_shell`);
    of a mixture from its pairs', with the absorber shares as ``multiplicities``.

    ``r1`` is the multiplicity-weighted mean of the sites' mean distances; ``r1_std`` the
    spread of all the pair's neighbour distances around it (within and between sites);
    ``neighbours`` the weighted neighbour counts per absorber (so they sum to the pair's CN).
    """
    weights = np.asarray(multiplicities, float) / float(np.sum(multiplicities))
    r1 = np.array([site["r1"] for site in sites])
    spread = np.array([site["r1_std"] for site in sites])
    mean = float(weights @ r1)
    neighbours: Counter = Counter()
    for w, site in zip(weights, sites):
        for symbol, count in _counts(site["neighbours"]).items():
            neighbours[symbol] += w * count
    return {
        "r1": mean,
        "r1_std": float(np.sqrt(weights @ (spread**2 + (r1 - mean) ** 2))),
        "neighbours": {symbol: round(count, 6) for symbol, count in sorted(neighbours.items())},
    }


def _counts(neighbours: Mapping[str, float] | str) -> Mapping[str, float]:
    """Counts as stored (a JSON object in Parquet) or as computed (a dict)."""
    return json.loads(neighbours) if isinstance(neighbours, str) else neighbours

"""The bond lengths beside the models: the training pairs' first-shell distance by neighbour class and CN.

A first-shell distance says much about the CN where the chi(R) amplitude is ambiguous: Zn-O
bonds are 1.96-2.03 A in tetrahedra and 2.08-2.18 A in octahedra, Cr-O 1.65-1.70 A in
chromates and 1.95-2.05 A in Cr(III) oxides (Shannon's radii grow with the CN). The first-shell
model's R1 is an estimate from the same spectrum, with an interval of its own; these
distributions, from the Materials Project structures the models were trained on, turn it into
a likelihood of each CN class (:meth:`BondLengths.log_likelihoods`), which the measured
calibration weighs (:mod:`exafs_cn.models._measured_calibration`).

The file (``bond_lengths.npz``) is plain arrays (``numpy.savez``, read with
``allow_pickle=False``): per element the pairs' R1 (A), neighbour class index into
:data:`~exafs_cn.elements.NEIGHBOUR_CLASSES` and integer CN. ``exafs_cn.learn._bond_lengths``
builds it from a dataset; ``train`` writes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exafs_cn.elements import NEIGHBOUR_CLASSES
from exafs_cn.exceptions import ReferencesFileError
from exafs_cn.models._npz import read_npz, write_npz

#: The file beside the models.
BOND_LENGTHS_FILE = "bond_lengths.npz"
#: Largest file read (the shipped one is about 100 KB).
MAX_BOND_LENGTHS_BYTES = 16 * 2**20
#: The likelihood's floor (per A): the density of a uniform over 20 A of distances. A class
#: that no training pair of the neighbour class has is this unlikely, not impossible.
DENSITY_FLOOR = 0.05
#: The z-score of a 90% interval's ends: the first-shell model's interval, read as a normal one.
Z_90 = 1.6449
#: The narrowest spread read from an interval (A): below it the training pairs' own spacing rules.
MIN_SIGMA = 0.01


@dataclass(frozen=True)
class BondLengths:
    """Each element's training pairs: ``r1`` (A), ``neighbour`` (index into ``NEIGHBOUR_CLASSES``), ``cn``.

    Examples
    --------
    >>> pairs = BondLengths({"Zn": (np.array([1.97, 1.99, 2.12, 2.14]), np.zeros(4, int), np.array([4, 4, 6, 6]))})
    >>> logl = pairs.log_likelihoods("Zn", 2.11, (2.06, 2.16), {"O": 1.0}, [4, 6])
    >>> [round(float(v), 2) for v in logl]  # a Zn-O bond of 2.11 A: octahedral far likelier
    [-3.0, 2.33]
    """

    by_element: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]

    def log_likelihoods(
        self,
        element: str,
        r1: float,
        r1_interval: tuple[float, float],
        neighbour_probabilities: Mapping[str, float],
        classes: Sequence[int],
    ) -> np.ndarray | None:
        """log p(R1 | CN class) for each of ``classes``: the training pairs' distances of that CN,
        smoothed by the R1 estimate's own spread, averaged over the neighbour classes as likely as
        the neighbour model says; floored at :data:`DENSITY_FLOOR`. None where the element has no pairs.

        Parameters
        ----------
        element : str
            The absorber.
        r1, r1_interval : float, (float, float)
            The first-shell model's distance and its 90% interval (A); the spread is the
            interval's width over 2 x 1.645, at least :data:`MIN_SIGMA`.
        neighbour_probabilities : mapping of str to float
            The neighbour model's probability of each class (``NEIGHBOUR_CLASSES`` names).
        classes : sequence of int
            The CN classes to score (the classifier's, in its order).
        """
        pairs = self.by_element.get(element)
        if pairs is None or len(pairs[0]) == 0 or not math.isfinite(r1):
            return None
        distances, neighbours, cns = pairs
        sigma = max((r1_interval[1] - r1_interval[0]) / (2 * Z_90), MIN_SIGMA)
        density = np.exp(-0.5 * ((r1 - distances) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        # Each likely neighbour class's pairs, found once for all the CN classes.
        of_neighbour = [
            (weight, neighbours == NEIGHBOUR_CLASSES.index(name))
            for name, weight in neighbour_probabilities.items()
            if weight > 0 and name in NEIGHBOUR_CLASSES
        ]
        out = np.zeros(len(classes))
        for j, cn in enumerate(classes):
            of_class = cns == cn
            for weight, members_of_neighbour in of_neighbour:
                members = of_class & members_of_neighbour
                if members.any():
                    out[j] += weight * float(density[members].mean())
        return np.log(np.maximum(out, DENSITY_FLOOR))

    def save(self, path: Path) -> Path:
        """Write atomically: float32 distances, int8 neighbour classes and CNs (compressed)."""
        arrays = {"neighbour_classes": np.array(NEIGHBOUR_CLASSES)}
        for element, (distances, neighbours, cns) in self.by_element.items():
            arrays[f"r1_{element}"] = np.asarray(distances, np.float32)
            arrays[f"neighbour_{element}"] = np.asarray(neighbours, np.int8)
            arrays[f"cn_{element}"] = np.asarray(cns, np.int8)
        return write_npz(path, arrays, compressed=True)

    @classmethod
    def load(cls, path: Path) -> BondLengths:
        """Read and check ``path`` (a regular file of bounded size, plain arrays only);
        ReferencesFileError in one line otherwise."""
        stored = read_npz(path, MAX_BOND_LENGTHS_BYTES, "bond-lengths file")
        try:
            names = tuple(str(n) for n in stored["neighbour_classes"])
            elements = sorted(key[3:] for key in stored if key.startswith("r1_"))
            by_element = {
                el: (np.asarray(stored[f"r1_{el}"], float), np.asarray(stored[f"neighbour_{el}"], int), np.asarray(stored[f"cn_{el}"], int))
                for el in elements
            }
        except (KeyError, ValueError, TypeError) as exc:
            raise ReferencesFileError(f"{path}: unusable bond-lengths file ({' '.join(str(exc).split())[:100]})") from None
        if names != NEIGHBOUR_CLASSES:
            raise ReferencesFileError(f"{path}: unusable bond-lengths file (neighbour classes {', '.join(names)[:80]}, not this release's)")
        for element, (distances, neighbours, cns) in by_element.items():
            if not (
                distances.ndim == 1
                and distances.shape == neighbours.shape == cns.shape
                and np.all(np.isfinite(distances))
                and np.all((distances > 0.5) & (distances < 5.0))
                and np.all((neighbours >= 0) & (neighbours < len(NEIGHBOUR_CLASSES)))
                and np.all((cns >= 1) & (cns <= 32))
            ):
                raise ReferencesFileError(f"{path}: the {element} bond lengths are not distances (0.5-5 A) with neighbour classes and CNs (1-32)")
        return cls(by_element)


__all__ = ["BOND_LENGTHS_FILE", "DENSITY_FLOOR", "Z_90", "BondLengths"]

"""Probabilities recalibrated on measured spectra: one exponent, fitted on compound-grouped folds.

The classifiers' probabilities are calibrated (isotonic) on held-out *simulated*
materials; on measured spectra they are not (under-confident where they are right,
over-confident on chemistries FEFF and the corpus part on). One exponent ``a`` maps a
probability vector to ``p**a / sum(p**a)``: it keeps every ranking (so every CN
answer) and the zeros an RF gives, and, with a single parameter, cannot learn the few
compounds it is fitted on by heart. It is fitted by the multiclass Brier score (finite
where the true class got probability 0, unlike the log loss) and scored, before it is
shipped, by leave-one-compound-out on the measured corpus (``studies/measured.py``).

Near-edge evidence: FEFF8L has no pre-edge peak, so the models never saw the one thing
that tells a tetrahedral chromate or permanganate from an octahedral oxide at a glance
(:mod:`exafs_cn.measured._near_edge`). Its weight is one number learned here with the
exponent, added to the log-probability of the classes without a centre of inversion
that the corpus holds (CN 4 and 5): ``log p'_c = a log p_c + w h [c in (4, 5)]``, ``h``
the pre-edge peak height in units of the edge step. One weight shared by the two classes
and all elements, so that it cannot learn a compound by heart; where it is used, class
probabilities are floored at ``FLOOR`` first so that evidence can lift a class the forest
gave zero.

Bond lengths: the first-shell model's R1 (with its interval) is turned into a likelihood of
each CN class by the training pairs' distances (:mod:`exafs_cn.models._bond_lengths`: Zn-O
is ~1.99 A in tetrahedra and ~2.14 A in octahedra), and a third number weighs it:
``log p'_c = a log p_c + w h [c in (4, 5)] + v log L_c``. The three are fitted in two
stages: ``a`` and ``w`` as before, then ``w`` and ``v`` with ``a`` held. Fitted together,
the Brier score drove ``a`` (and with it every probability) to its bound once the bond
length made the corpus's answers nearly all right: grouped, three wrong answers then came
at p >= 0.99 (docs/measured.md).

The file ``measured_calibration.json`` beside the models holds the exponent, the weights
and what they were fitted on; ``predict`` applies them where the file is present.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.optimize import OptimizeResult, minimize, minimize_scalar

from exafs_cn.exceptions import CalibrationFileError

#: Name of the file beside the models.
CALIBRATION_FILE = "measured_calibration.json"
#: Largest calibration file read (ours is a few hundred bytes; a link to /dev/zero is refused).
MAX_CALIBRATION_BYTES = 2**20
#: Exponents outside this range are refused when a file is read (a hand-edited or damaged file).
EXPONENT_RANGE = (0.1, 10.0)
#: Pre-edge weights outside this range are refused when a file is read.
WEIGHT_RANGE = (0.0, 50.0)
#: The classes the pre-edge weight lifts: sites without a centre of inversion.
PRE_EDGE_CLASSES = (4, 5)
#: Where an evidence term is used, probabilities are floored here before the exponent.
FLOOR = 1e-3
#: Bond-length weights outside this range are refused when a file is read.
FIRST_SHELL_WEIGHT_RANGE = (0.0, 20.0)


@dataclass(frozen=True)
class PowerCalibration:
    """``p -> p**exponent / sum(p**exponent)``, with an optional pre-edge term, fitted on measured spectra.

    Parameters
    ----------
    exponent : float
        Above 1 sharpens (for under-confident probabilities), below 1 flattens.
    fitted_on : dict
        Where it came from: corpus, spectra, compounds, the grouped figures.
    pre_edge_weight : float
        Added, times the pre-edge peak height, to the log-probability of each class in
        ``PRE_EDGE_CLASSES``; 0 (the default) leaves the probabilities a pure power.
    pre_edge_elements : tuple of str or None
        The absorbers the pre-edge term applies to; None: all.
    first_shell_weight : float
        Multiplies each class's bond-length log-likelihood
        (:meth:`exafs_cn.models._bond_lengths.BondLengths.log_likelihoods`); 0 leaves it out.

    Examples
    --------
    >>> cal = PowerCalibration(2.0)
    >>> cal.apply(np.array([0.6, 0.3, 0.1])).round(3)
    array([0.783, 0.196, 0.022])
    >>> with_edge = PowerCalibration(1.0, pre_edge_weight=5.0)
    >>> with_edge.apply(np.array([0.2, 0.8]), classes=[4, 6], pre_edge_height=0.6).round(3)
    array([0.834, 0.166])
    >>> with_bonds = PowerCalibration(1.0, first_shell_weight=1.0)  # the bond length favours CN 6
    >>> with_bonds.apply(np.array([0.6, 0.4]), classes=[4, 6], first_shell=np.array([-3.0, 2.1])).round(3)
    array([0.009, 0.991])
    """

    exponent: float
    fitted_on: dict = field(default_factory=dict)
    pre_edge_weight: float = 0.0
    pre_edge_elements: tuple[str, ...] | None = None
    first_shell_weight: float = 0.0

    def apply(
        self,
        proba: np.ndarray,
        classes: Sequence[int] | None = None,
        pre_edge_height: float | None = None,
        element: str | None = None,
        first_shell: np.ndarray | None = None,
    ) -> np.ndarray:
        """Recalibrated probabilities, rows summing to 1 (a row of zeros stays zeros).

        Parameters
        ----------
        proba : ndarray
            Probability vector(s) over ``classes``.
        classes : sequence of int, optional
            The CN of each column; needed for the pre-edge term.
        pre_edge_height : float, optional
            The spectrum's pre-edge peak height (one spectrum); None: no pre-edge term.
        element : str, optional
            The absorber: no pre-edge term where it is not among ``pre_edge_elements``.
        first_shell : ndarray, optional
            The spectrum's bond-length log-likelihood of each class (one spectrum); None: no
            bond-length term.
        """
        if self.pre_edge_elements is not None and element not in self.pre_edge_elements:
            pre_edge_height = None
        proba = np.clip(np.asarray(proba, float), 0.0, 1.0)
        edge = bool(self.pre_edge_weight) and pre_edge_height is not None and classes is not None
        bonds = bool(self.first_shell_weight) and first_shell is not None
        if (edge or bonds) and proba.sum() > 0:
            logits = self.exponent * np.log(np.maximum(proba, FLOOR))
            if edge:
                lifted = np.isin(np.asarray(classes, int), PRE_EDGE_CLASSES)
                logits = logits + self.pre_edge_weight * float(pre_edge_height) * lifted
            if bonds:
                logits = logits + self.first_shell_weight * np.asarray(first_shell, float)
            powered = np.exp(logits - logits.max(axis=-1, keepdims=True))
        else:
            powered = proba**self.exponent
        total = powered.sum(axis=-1, keepdims=True)
        return np.divide(powered, total, out=np.zeros_like(powered), where=total > 0)

    @classmethod
    def fit(cls, probabilities: Sequence[np.ndarray], true_index: Sequence[int | None], **fitted_on) -> PowerCalibration:
        """The exponent that minimises the mean multiclass Brier score.

        Parameters
        ----------
        probabilities : sequence of ndarray
            One probability vector per spectrum (each on its own element's classes).
        true_index : sequence of int or None
            Index of the true class in each vector; None where the true CN is not among
            the classes (it still counts: every class is then wrong).
        **fitted_on
            Recorded with the result.

        Returns
        -------
        PowerCalibration
        """
        vectors = [np.asarray(p, float) for p in probabilities]
        targets = _targets(vectors, true_index)

        def brier(log_exponent: float) -> float:
            return _mean_brier(cls(math.exp(log_exponent)), vectors, targets)

        low, high = (math.log(v) for v in EXPONENT_RANGE)
        best = minimize_scalar(brier, bounds=(low, high), method="bounded", options={"xatol": 1e-4})
        return cls(round(math.exp(best.x), 4), dict(fitted_on))

    @classmethod
    def fit_with_pre_edge(
        cls,
        probabilities: Sequence[np.ndarray],
        classes: Sequence[Sequence[int]],
        pre_edge_heights: Sequence[float | None],
        true_index: Sequence[int | None],
        elements: Sequence[str] | None = None,
        pre_edge_elements: Sequence[str] | None = None,
        **fitted_on,
    ) -> PowerCalibration:
        """The exponent and pre-edge weight that minimise the mean multiclass Brier score together.

        Parameters
        ----------
        probabilities, true_index
            As in :meth:`fit`.
        classes : sequence of sequence of int
            The CN of each entry of each vector.
        pre_edge_heights : sequence of float or None
            Each spectrum's pre-edge peak height (None where it could not be measured: no term).
        elements : sequence of str, optional
            Each spectrum's absorber (needed with ``pre_edge_elements``).
        pre_edge_elements : sequence of str, optional
            The absorbers the term applies to (recorded in the result); None: all.
        **fitted_on
            Recorded with the result.

        Returns
        -------
        PowerCalibration
        """
        if pre_edge_elements is not None:
            pre_edge_elements = tuple(pre_edge_elements)
        pre_edge_heights = _heights_applied(pre_edge_heights, elements, pre_edge_elements)
        vectors = [np.asarray(p, float) for p in probabilities]
        targets = _targets(vectors, true_index)
        (low, high), (w_low, w_high) = (tuple(math.log(v) for v in EXPONENT_RANGE), WEIGHT_RANGE)

        def brier(params: np.ndarray) -> float:
            log_exponent, weight = float(np.clip(params[0], low, high)), float(np.clip(params[1], w_low, w_high))
            return _mean_brier(cls(math.exp(log_exponent), pre_edge_weight=weight), vectors, targets, classes, pre_edge_heights)

        # The Brier surface is flat far out in the weight: two starts, keep the better.
        best = _best_nelder_mead(brier, ((0.0, 0.0), (1.0, 3.0)))
        exponent = round(math.exp(float(np.clip(best.x[0], low, high))), 4)
        return cls(exponent, dict(fitted_on), round(float(np.clip(best.x[1], w_low, w_high)), 4), pre_edge_elements)

    @classmethod
    def fit_with_evidence(
        cls,
        probabilities: Sequence[np.ndarray],
        classes: Sequence[Sequence[int]],
        pre_edge_heights: Sequence[float | None],
        first_shell: Sequence[np.ndarray | None],
        true_index: Sequence[int | None],
        elements: Sequence[str] | None = None,
        pre_edge_elements: Sequence[str] | None = None,
        **fitted_on,
    ) -> PowerCalibration:
        """The exponent, pre-edge weight and bond-length weight, in two stages.

        First the exponent and the pre-edge weight (:meth:`fit_with_pre_edge`); then, with
        that exponent held, the pre-edge and bond-length weights that minimise the mean
        multiclass Brier score together. The exponent is held because, free, the Brier score
        sharpens every probability towards 0 or 1 once the evidence leaves few training
        spectra wrong, whatever that does to the spectra it is not fitted on.

        Parameters
        ----------
        probabilities, classes, pre_edge_heights, true_index, elements, pre_edge_elements
            As in :meth:`fit_with_pre_edge`.
        first_shell : sequence of ndarray or None
            Each spectrum's bond-length log-likelihood per class (None: no term for it).
        **fitted_on
            Recorded with the result.

        Returns
        -------
        PowerCalibration
        """
        first = cls.fit_with_pre_edge(probabilities, classes, pre_edge_heights, true_index, elements, pre_edge_elements, **fitted_on)
        pre_edge_heights = _heights_applied(pre_edge_heights, elements, first.pre_edge_elements)
        vectors = [np.asarray(p, float) for p in probabilities]
        targets = _targets(vectors, true_index)
        (w_low, w_high), (v_low, v_high) = WEIGHT_RANGE, FIRST_SHELL_WEIGHT_RANGE

        def brier(params: np.ndarray) -> float:
            weight, bonds = float(np.clip(params[0], w_low, w_high)), float(np.clip(params[1], v_low, v_high))
            calibration = cls(first.exponent, pre_edge_weight=weight, first_shell_weight=bonds)
            return _mean_brier(calibration, vectors, targets, classes, pre_edge_heights, first_shell)

        best = _best_nelder_mead(brier, ((first.pre_edge_weight, 0.0), (3.0, 0.5), (10.0, 1.0)))
        return replace(
            first,
            pre_edge_weight=round(float(np.clip(best.x[0], w_low, w_high)), 4),
            first_shell_weight=round(float(np.clip(best.x[1], v_low, v_high)), 4),
        )

    def to_dict(self) -> dict:
        return {
            "exponent": self.exponent,
            "pre_edge_weight": self.pre_edge_weight,
            "pre_edge_classes": list(PRE_EDGE_CLASSES),
            "pre_edge_elements": None if self.pre_edge_elements is None else list(self.pre_edge_elements),
            "first_shell_weight": self.first_shell_weight,
            "fitted_on": self.fitted_on,
        }

    @classmethod
    def from_dict(cls, values: Mapping, where: str = "calibration") -> PowerCalibration:
        exponent = values.get("exponent") if isinstance(values, Mapping) else None
        if isinstance(exponent, bool) or not isinstance(exponent, (int, float)) or not math.isfinite(exponent):
            raise CalibrationFileError(f"{where}: no finite 'exponent'")
        if not EXPONENT_RANGE[0] <= exponent <= EXPONENT_RANGE[1]:
            raise CalibrationFileError(f"{where}: exponent {exponent} outside {EXPONENT_RANGE[0]}-{EXPONENT_RANGE[1]}")
        weight = values.get("pre_edge_weight", 0.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not WEIGHT_RANGE[0] <= weight <= WEIGHT_RANGE[1]:
            raise CalibrationFileError(f"{where}: pre_edge_weight {weight!r} is not a number in {WEIGHT_RANGE[0]:g}-{WEIGHT_RANGE[1]:g}")
        if weight and values.get("pre_edge_classes") != list(PRE_EDGE_CLASSES):
            raise CalibrationFileError(f"{where}: pre_edge_classes {values.get('pre_edge_classes')!r} are not {list(PRE_EDGE_CLASSES)}, the classes this release lifts")
        elements = values.get("pre_edge_elements")
        if elements is not None and (not isinstance(elements, list) or not all(isinstance(e, str) and e.isalpha() and len(e) <= 2 for e in elements)):
            raise CalibrationFileError(f"{where}: pre_edge_elements {elements!r:.60} is not a list of element symbols")
        bonds = values.get("first_shell_weight", 0.0)
        low, high = FIRST_SHELL_WEIGHT_RANGE
        if isinstance(bonds, bool) or not isinstance(bonds, (int, float)) or not low <= bonds <= high:
            raise CalibrationFileError(f"{where}: first_shell_weight {bonds!r} is not a number in {low:g}-{high:g}")
        fitted_on = values.get("fitted_on", {})
        return cls(
            float(exponent),
            dict(fitted_on) if isinstance(fitted_on, Mapping) else {},
            float(weight),
            None if elements is None else tuple(elements),
            float(bonds),
        )

    def save(self, path: Path) -> Path:
        from exafs_cn.atomic import write_json_atomic

        write_json_atomic(self.to_dict(), path)
        return path

    @classmethod
    def load(cls, path: Path) -> PowerCalibration:
        """Read and check ``path``; CalibrationFileError (one line) if it cannot be used."""
        from exafs_cn.regular_files import NotRegularFileError, read_regular

        try:
            values = json.loads(read_regular(path, MAX_CALIBRATION_BYTES).decode("utf-8"))
        except NotRegularFileError as exc:
            raise CalibrationFileError(f"{path}: unusable calibration file: {exc}") from None
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise CalibrationFileError(f"{path}: unreadable calibration file: {' '.join(str(exc).split())[:120]}") from None
        return cls.from_dict(values, str(path))


def _mean_brier(calibration: PowerCalibration, vectors, targets, classes=None, heights=None, first_shell=None) -> float:
    """The mean multiclass Brier score of ``calibration`` over the vectors (with their classes,
    pre-edge heights and bond-length log-likelihoods)."""
    n = len(vectors)
    classes, heights, first_shell = (x if x is not None else [None] * n for x in (classes, heights, first_shell))
    return float(
        np.mean(
            [
                np.sum((calibration.apply(p, c, h, first_shell=f) - t) ** 2)
                for p, c, h, f, t in zip(vectors, classes, heights, first_shell, targets)
            ]
        )
    )


def _heights_applied(heights: Sequence[float | None], elements: Sequence[str] | None, pre_edge_elements: tuple[str, ...] | None) -> list:
    """The pre-edge heights with None for the absorbers the term does not apply to (as ``apply`` treats them)."""
    if pre_edge_elements is None:
        return list(heights)
    return [h if el in pre_edge_elements else None for h, el in zip(heights, elements)]


def _best_nelder_mead(objective, starts) -> OptimizeResult:
    """scipy's Nelder-Mead from each start; the result with the lowest objective."""
    options = {"xatol": 1e-4, "fatol": 1e-8, "maxiter": 4000}
    return min((minimize(objective, np.array(start, float), method="Nelder-Mead", options=options) for start in starts), key=lambda r: r.fun)


def _targets(vectors: Sequence[np.ndarray], true_index: Sequence[int | None]) -> list[np.ndarray]:
    """One-hot vectors of the true classes (all zeros where the true CN is not a class)."""
    targets = []
    for p, index in zip(vectors, true_index):
        target = np.zeros_like(p)
        if index is not None:
            target[index] = 1.0
        targets.append(target)
    return targets

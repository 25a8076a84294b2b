"""Probabilities recalibrated on measured spectra: one exponent, fitted on compound-grouped folds.

The classifiers' probabilities are calibrated (isotonic) on held-out *simulated*
materials; on measured spectra they are not (under-confident where they are right,
over-confident on chemistries FEFF and the corpus part on). One exponent ``a`` maps a
probability vector to ``p**a / sum(p**a)``: it keeps every ranking (so every CN
answer) and the zeros an RF gives, and, with a single parameter, cannot learn the few
compounds it is fitted on by heart. It is fitted by the multiclass Brier score (finite
where the true class got probability 0, unlike the log loss) and scored, before it is
shipped, by leave-one-compound-out on the measured corpus (``studies/measured.py``).

The file ``measured_calibration.json`` beside the models holds the exponent and what it
was fitted on; ``predict`` applies it where it is present.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar

from exafs_cn.exceptions import ExafsCnError

#: Name of the file beside the models.
CALIBRATION_FILE = "measured_calibration.json"
#: Largest calibration file read (ours is a few hundred bytes; a link to /dev/zero is refused).
MAX_CALIBRATION_BYTES = 2**20
#: Exponents outside this range are refused when a file is read (a hand-edited or damaged file).
EXPONENT_RANGE = (0.1, 10.0)


class CalibrationFileError(ExafsCnError, ValueError):
    """A calibration file that cannot be used; one line naming it."""


@dataclass(frozen=True)
class PowerCalibration:
    """``p -> p**exponent / sum(p**exponent)``, fitted on measured spectra.

    Parameters
    ----------
    exponent : float
        Above 1 sharpens (for under-confident probabilities), below 1 flattens.
    fitted_on : dict
        Where it came from: corpus, spectra, compounds, the grouped figures.

    Examples
    --------
    >>> cal = PowerCalibration(2.0)
    >>> cal.apply(np.array([0.6, 0.3, 0.1])).round(3)
    array([0.783, 0.196, 0.022])
    """

    exponent: float
    fitted_on: dict = field(default_factory=dict)

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Recalibrated probabilities, rows summing to 1 (a row of zeros stays zeros)."""
        proba = np.clip(np.asarray(proba, float), 0.0, 1.0)
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
        targets = []
        for p, index in zip(vectors, true_index):
            target = np.zeros_like(p)
            if index is not None:
                target[index] = 1.0
            targets.append(target)

        def brier(log_exponent: float) -> float:
            calibration = cls(math.exp(log_exponent))
            return float(np.mean([np.sum((calibration.apply(p) - t) ** 2) for p, t in zip(vectors, targets)]))

        low, high = (math.log(v) for v in EXPONENT_RANGE)
        best = minimize_scalar(brier, bounds=(low, high), method="bounded", options={"xatol": 1e-4})
        return cls(round(math.exp(best.x), 4), dict(fitted_on))

    def to_dict(self) -> dict:
        return {"exponent": self.exponent, "fitted_on": self.fitted_on}

    @classmethod
    def from_dict(cls, values: Mapping, where: str = "calibration") -> PowerCalibration:
        exponent = values.get("exponent") if isinstance(values, Mapping) else None
        if isinstance(exponent, bool) or not isinstance(exponent, (int, float)) or not math.isfinite(exponent):
            raise CalibrationFileError(f"{where}: no finite 'exponent'")
        if not EXPONENT_RANGE[0] <= exponent <= EXPONENT_RANGE[1]:
            raise CalibrationFileError(f"{where}: exponent {exponent} outside {EXPONENT_RANGE[0]}-{EXPONENT_RANGE[1]}")
        fitted_on = values.get("fitted_on", {})
        return cls(float(exponent), dict(fitted_on) if isinstance(fitted_on, Mapping) else {})

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

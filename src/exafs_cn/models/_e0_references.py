"""The E0 references beside the models: the training spectra's k^2 chi(k) per element.

``predict``'s E0 profile (``exafs_cn.measured._e0_profile``) correlates a measured chi(k)
with them; ``exafs_cn.learn._e0_references`` builds them from a dataset and ``train`` writes
them. The file is plain arrays (``numpy.savez``, read with ``allow_pickle=False``), with each
element's score floor (:func:`score_floor`) computed when it is written: for Cu's 2,223 rows
that is ~0.07 s, which a one-file ``predict`` would otherwise pay at every start.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exafs_cn.exceptions import ReferencesFileError

#: The k range (1/A) compared: above the near edge, below where measured noise dominates.
K_RANGE = (3.0, 10.0)

#: The file beside the models that holds the training spectra's k^2 chi(k) per element.
REFERENCES_FILE = "e0_references.npz"
#: Largest references file read (the shipped one is about 2 MB).
MAX_REFERENCES_BYTES = 64 * 2**20
#: The references' k step (1/A): correlations on it differ from a 0.05 grid's by < 0.001.
REFERENCE_K_STEP = 0.1
#: How many of the best-matching training spectra make a profile score.
TOP = 5
#: A spectrum whose best score is below this percentile of its element's training spectra's own
#: scores (each against the others, :func:`score_floor`) gets no answer: its chi(k) matches none
#: of them at any E0 tried, less than 99 in 100 of them match each other.
FLOOR_PERCENTILE = 1.0
#: How the floors a file stores were made; a file that says otherwise gets them computed.
_FLOOR_RULE = {"percentile": FLOOR_PERCENTILE, "top": TOP}


def normalised_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows less their mean, of unit length: their dot products are correlations."""
    centred = matrix - matrix.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return centred / np.where(norms > 0, norms, 1.0)


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


@dataclass(frozen=True)
class E0References:
    """The training spectra's k^2 chi(k) on ``grid``, per element, and the processing they were made with.

    ``settings``: the processing settings (as a model file stores them) of the training
    spectra; the profile is used only for models trained with the same ones.
    ``stored_floors``: each element's :func:`score_floor` as the file holds it (with today's
    :data:`FLOOR_PERCENTILE` and :data:`TOP`; a file written with others, or before floors were
    stored, holds none and :meth:`floor` computes them).
    """

    grid: np.ndarray
    by_element: dict[str, np.ndarray]
    settings: dict
    stored_floors: dict[str, float] = field(default_factory=dict)

    def floor(self, element: str) -> float:
        """The element's score floor: stored, or computed from its rows (NaN: no floor)."""
        stored = self.stored_floors.get(element)
        return stored if stored is not None else score_floor(self.by_element[element])

    def save(self, path: Path) -> Path:
        """Write atomically, as float16 rows (the correlations do not need more), with each
        element's score floor computed from the rows as written. Not compressed: float16 rows
        compress by 8%, and inflating them cost ~30 ms at every ``predict`` start."""
        import json

        from exafs_cn.models._npz import write_npz

        rows = {el: np.asarray(m, np.float16) for el, m in self.by_element.items()}
        arrays = {f"element_{el}": m for el, m in rows.items()}
        floors = {f"floor_{el}": np.array(score_floor(m)) for el, m in rows.items()}
        settings = np.array(json.dumps(self.settings, sort_keys=True))
        floor_rule = np.array(json.dumps(_FLOOR_RULE))
        return write_npz(path, {"grid": self.grid, "settings": settings, "floor_rule": floor_rule, **arrays, **floors})

    @classmethod
    def load(cls, path: Path) -> E0References:
        """Read and check ``path`` (a regular file of bounded size, plain arrays only);
        ReferencesFileError in one line otherwise."""
        import json

        from exafs_cn.models._npz import read_npz

        stored = read_npz(path, MAX_REFERENCES_BYTES, "E0 references file")
        try:
            grid = np.asarray(stored["grid"], float)
            settings = json.loads(str(stored["settings"]))
            by_element = {key[8:]: np.asarray(stored[key], float) for key in stored if key.startswith("element_")}
            rule = json.loads(str(stored["floor_rule"])) if "floor_rule" in stored else None
            floors = {key[6:]: float(stored[key]) for key in stored if key.startswith("floor_") and key != "floor_rule"}
        except (ValueError, TypeError, KeyError) as exc:
            raise ReferencesFileError(f"{path}: unusable E0 references file ({' '.join(str(exc).split())[:100]})") from None
        if grid.ndim != 1 or grid.size < 10 or not np.all(np.isfinite(grid)) or not isinstance(settings, dict):
            raise ReferencesFileError(f"{path}: unusable E0 references file (no k grid or settings)")
        for element, matrix in by_element.items():
            if matrix.ndim != 2 or matrix.shape[1] != grid.size or not np.all(np.isfinite(matrix)):
                raise ReferencesFileError(f"{path}: the {element} references are not finite rows on its k grid")
        if rule != _FLOOR_RULE:  # floors of another rule, or none: computed when asked
            floors = {}
        if set(floors) - set(by_element) or not all(np.isnan(f) or -1.0 <= f <= 1.0 for f in floors.values()):
            raise ReferencesFileError(f"{path}: unusable E0 references file (score floors that are no correlations of its elements)")
        return cls(grid, by_element, settings, floors)

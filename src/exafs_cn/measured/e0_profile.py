"""E0 as a nuisance parameter: the shift at which a measured chi(k) looks most like the training spectra.

A measured E0 (the half-step rule on measured mu) sits 10-20 eV from where the measured
chi(k) lines up in phase with FEFF's, by an amount that changes with the chemistry
(``studies/sim_vs_measured.py``). The profile tries E0 shifts over :data:`OFFSETS` and
scores each by how well k^2 chi(k) over :data:`K_RANGE` correlates with the training
spectra of the element: the mean correlation with the :data:`TOP` best-matching of them.

A shift only re-maps chi(E) to k (k' = sqrt(k^2 - 0.2625 dE)), so one background removal
serves every shift; the chosen shift is then used for a full processing
(:attr:`exafs_cn.measured.readers.MeasuredSpectrum.e0_shift`).

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
from pathlib import Path

import numpy as np
from larch.xafs.xafsutils import ETOK

from exafs_cn.exceptions import ExafsCnError

#: E0 shifts tried (eV, added to the rule's E0): the 5-95% range of the measured offsets
#: (-21 to +12 eV) with a margin.
OFFSETS = np.arange(-25.0, 15.01, 1.0)
#: The k range (1/A) compared: above the near edge, below where measured noise dominates.
K_RANGE = (3.0, 10.0)
#: How many of the best-matching training spectra make the score.
TOP = 5


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


#: The file beside the models that holds the training spectra's k^2 chi(k) per element.
REFERENCES_FILE = "e0_references.npz"
#: Largest references file read (the shipped one is about 2 MB).
MAX_REFERENCES_BYTES = 64 * 2**20
#: The references' k step (1/A): correlations on it differ from a 0.05 grid's by < 0.001.
REFERENCE_K_STEP = 0.1


class ReferencesFileError(ExafsCnError, ValueError):
    """An E0 references file that cannot be used; one line naming it."""


@dataclass(frozen=True)
class E0References:
    """The training spectra's k^2 chi(k) on ``grid``, per element, and the processing they were made with.

    ``settings``: the processing settings (as a model file stores them) of the training
    spectra; the profile is used only for models trained with the same ones.
    """

    grid: np.ndarray
    by_element: dict[str, np.ndarray]
    settings: dict

    def save(self, path: Path) -> Path:
        """Write atomically, as float16 rows (the correlations do not need more)."""
        import io
        import json

        from exafs_cn.atomic import write_atomic

        arrays = {f"element_{el}": np.asarray(m, np.float16) for el, m in self.by_element.items()}
        settings = np.array(json.dumps(self.settings, sort_keys=True))

        def write(tmp: Path) -> None:
            buffer = io.BytesIO()
            np.savez_compressed(buffer, grid=self.grid, settings=settings, **arrays)
            tmp.write_bytes(buffer.getvalue())

        return write_atomic(path, write)

    @classmethod
    def load(cls, path: Path) -> E0References:
        """Read and check ``path`` (a regular file of bounded size, plain arrays only);
        ReferencesFileError in one line otherwise."""
        import io
        import json
        import zipfile

        from exafs_cn.regular_files import NotRegularFileError, read_regular

        try:
            raw = read_regular(path, MAX_REFERENCES_BYTES)
            with np.load(io.BytesIO(raw), allow_pickle=False) as stored:
                grid = np.asarray(stored["grid"], float)
                settings = json.loads(str(stored["settings"]))
                by_element = {key[8:]: np.asarray(stored[key], float) for key in stored.files if key.startswith("element_")}
        except (NotRegularFileError, OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
            raise ReferencesFileError(f"{path}: unusable E0 references file ({' '.join(str(exc).split())[:100]})") from None
        if grid.ndim != 1 or grid.size < 10 or not np.all(np.isfinite(grid)) or not isinstance(settings, dict):
            raise ReferencesFileError(f"{path}: unusable E0 references file (no k grid or settings)")
        for element, matrix in by_element.items():
            if matrix.ndim != 2 or matrix.shape[1] != grid.size or not np.all(np.isfinite(matrix)):
                raise ReferencesFileError(f"{path}: the {element} references are not finite rows on its k grid")
        return cls(grid, by_element, settings)


__all__ = [
    "REFERENCES_FILE",
    "E0Profile",
    "E0References",
    "K_RANGE",
    "OFFSETS",
    "ReferencesFileError",
    "TOP",
    "normalised_rows",
    "profile",
    "shifted_chi",
]

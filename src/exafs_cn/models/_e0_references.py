"""The E0 references beside the models: the training spectra's k^2 chi(k) per element.

``predict``'s E0 profile (``exafs_cn.measured._e0_profile``) correlates a measured chi(k)
with them; ``exafs_cn.learn._e0_references`` builds them from a dataset and ``train`` writes
them. The file is plain arrays (``numpy.savez``, read with ``allow_pickle=False``).
"""

from __future__ import annotations

from dataclasses import dataclass
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

"""The E0 references beside a models folder: the training spectra's k^2 chi(k) per element.

``predict`` places a measured spectrum's E0 where its chi(k) correlates best with these
(:mod:`exafs_cn.measured._e0_profile`). They are the integer-CN pair spectra the models
learn from, processed with the models' settings (the ``k`` feature set from the feature
cache), on the profile's k range and a 0.1/A grid. ``train`` writes them beside every
models folder; ``exafs-cn dataset e0-references`` for a folder made before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exafs_cn.datagen._dataset import Dataset
from exafs_cn.features import k_grid
from exafs_cn.learn._corpus import load_features
from exafs_cn.models._e0_references import K_RANGE, REFERENCE_K_STEP, REFERENCES_FILE, E0References
from exafs_cn.settings import DEFAULT_SETTINGS, ProcessingSettings


def build_references(
    dataset: Dataset,
    settings: ProcessingSettings = DEFAULT_SETTINGS,
    preset: str = "fast",
    *,
    cache_dir: Path | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> E0References:
    """The references of ``dataset``'s integer-CN pairs processed with ``settings``.

    Parameters
    ----------
    dataset : Dataset
        The training data.
    settings : ProcessingSettings
        The models' processing (their E0 rule decides the phase the references have).
    preset : str
        The FEFF preset of the spectra.
    cache_dir, workers, progress
        As for :func:`exafs_cn.learn._corpus.load_features` (the ``k`` features are cached).

    Returns
    -------
    E0References
    """
    meta, matrices = load_features(dataset, ("k",), settings, preset, cache_dir=cache_dir, workers=workers, progress=progress)
    source = k_grid(settings)
    grid = np.arange(K_RANGE[0], K_RANGE[1] + 1e-9, REFERENCE_K_STEP)
    rows = matrices["k"]
    usable = np.all(np.isfinite(rows), axis=1)
    by_element = {}
    for element in sorted(meta["absorber"].unique()):
        chosen = rows[usable & (meta["absorber"] == element).to_numpy()]
        by_element[str(element)] = np.stack([np.interp(grid, source, row) for row in chosen]) if len(chosen) else np.zeros((0, grid.size))
    return E0References(grid, by_element, settings.to_dict())


def write_references(dataset: Dataset, models_dir: Path, settings: ProcessingSettings = DEFAULT_SETTINGS, **options) -> Path:
    """Build the references and write them beside the models (``e0_references.npz``)."""
    return build_references(dataset, settings, **options).save(Path(models_dir) / REFERENCES_FILE)


__all__ = ["build_references", "write_references"]

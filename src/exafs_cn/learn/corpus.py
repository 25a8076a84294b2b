"""Training spectra and their features, cached by data and settings.

Featurizing the whole dataset takes minutes; the result is stored under a name made
from the dataset's shard list, the processing settings and the feature sets, so a
second run with the same inputs loads it in a second, and any change to data or
settings misses the cache instead of reusing stale features.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from exafs_cn.datagen.dataset import Dataset
from exafs_cn.features import Spectrum, featurize_many
from exafs_cn.settings import DEFAULT_SETTINGS, ProcessingSettings

META_COLUMNS = ["material_id", "formula", "absorber", "pair_cn", "n_sites", "e0"]


def default_cache_dir() -> Path:
    return Path(os.environ.get("EXAFS_CN_CACHE", Path.home() / ".cache" / "exafs-cn"))


def pair_spectra(
    dataset: Dataset, preset: str = "fast", settings: ProcessingSettings = DEFAULT_SETTINGS
) -> tuple[pd.DataFrame, list[Spectrum]]:
    """MP-style (site-averaged) spectra with integer CN, as Spectrum records.

    FEFF normalises mu itself and has no pre-edge, so the edge step is 1 and E0 comes
    from FEFF (plus ``settings.feff_e0_offset``, see there).
    """
    pairs = dataset.pairs(preset)
    spectra = [
        Spectrum(
            np.asarray(row.energy, float),
            np.asarray(row.mu, float),
            row.absorber,
            e0=row.e0 + settings.feff_e0_offset,
            edge_step=1.0,
            name=row.material_id,
        )
        for row in pairs.itertuples(index=False)
    ]
    return pairs[META_COLUMNS].reset_index(drop=True), spectra


def dataset_fingerprint(dataset: Dataset, preset: str) -> str:
    """Changes whenever a shard is added or replaced."""
    digest = hashlib.sha256()
    for kind in ("spectra", "failures"):
        folder = dataset.shard_dir(kind, preset)
        for path in sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []:
            stat = path.stat()
            digest.update(f"{kind}/{path.name}:{stat.st_size}".encode())
    digest.update(str(dataset.labels_path.stat().st_size if dataset.labels_path.exists() else 0).encode())
    return digest.hexdigest()[:12]


def load_features(
    dataset: Dataset,
    feature_sets: Sequence[str],
    settings: ProcessingSettings = DEFAULT_SETTINGS,
    preset: str = "fast",
    *,
    select: Callable[[pd.DataFrame], np.ndarray] | None = None,
    select_key: str = "all",
    cache_dir: Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Metadata and feature matrices of the integer-CN pairs, from the cache when possible.

    ``select`` picks rows of the metadata (e.g. a fixed subset); ``select_key`` names
    that choice in the cache key. Rows that could not be processed have NaN features
    and their reason in the ``processing_error`` column.
    """
    cache_dir = Path(cache_dir or default_cache_dir())
    key = f"{dataset_fingerprint(dataset, preset)}-{settings.key()}-{preset}-{_short_hash(select_key)}"
    meta_path = cache_dir / f"meta-{key}.parquet"
    paths = {name: cache_dir / f"features-{name}-{key}.npy" for name in feature_sets}
    if meta_path.exists() and all(p.exists() for p in paths.values()):
        try:
            return pd.read_parquet(meta_path), {name: np.load(p) for name, p in paths.items()}
        except (OSError, ValueError, EOFError):  # a damaged cache entry is rebuilt, not fatal
            pass

    meta, spectra = pair_spectra(dataset, preset, settings)
    if select is not None:
        rows = select(meta)
        meta = meta.iloc[rows].reset_index(drop=True)
        spectra = [spectra[i] for i in rows]
    matrices, errors = featurize_many(
        spectra, list(feature_sets), settings, workers=workers, scheduler=scheduler, progress=progress
    )
    meta = meta.assign(processing_error=errors)
    cache_dir.mkdir(parents=True, exist_ok=True)
    for name, matrix in matrices.items():
        tmp = paths[name].with_name(f".{paths[name].stem}.tmp.npy")
        np.save(tmp, matrix)
        os.replace(tmp, paths[name])
    tmp_meta = meta_path.with_name(f".{meta_path.name}.tmp")
    meta.to_parquet(tmp_meta)
    os.replace(tmp_meta, meta_path)
    return meta, matrices


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]

"""Training spectra and their features, cached by data and settings.

Featurizing the whole dataset takes minutes; the result is stored under a name made
from the dataset's shard list, the processing settings and the feature sets, so a
second run with the same inputs loads it in a second, and any change to data or
settings misses the cache instead of reusing stale features.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from exafs_cn.atomic import write_atomic
from exafs_cn.datagen._dataset import Dataset
from exafs_cn.datagen._labels import is_integer_cn
from exafs_cn.features import Spectrum, featurize_many
from exafs_cn.learn._mixtures import DEFAULT_DESIGN, MixtureDesign, assign_blocks, design_mixtures, mixture_spectra
from exafs_cn.settings import DEFAULT_SETTINGS, ProcessingSettings

META_COLUMNS = ["material_id", "formula", "absorber", "pair_cn", "n_sites", "e0"]

#: How pair and mixture spectra are made from the shards, for cache names: the shards and
#: the processing settings have keys of their own, the code between them has this. Bump it
#: when that code changes what a spectrum holds. 2: an average's E0 is kept inside its data.
SPECTRA_VERSION = 2


def default_cache_dir() -> Path:
    return Path(os.environ.get("EXAFS_CN_CACHE", Path.home() / ".cache" / "exafs-cn"))


def pair_spectra(
    dataset: Dataset, preset: str = "fast", settings: ProcessingSettings = DEFAULT_SETTINGS, integer_only: bool = True
) -> tuple[pd.DataFrame, list[Spectrum]]:
    """MP-style (site-averaged) spectra, as Spectrum records: integer-CN pairs (the
    classifiers' data, as in the study) or all pairs (``integer_only=False``: the
    average-CN regressors' data; ``pair_cn`` is then a float).

    FEFF normalises mu itself and has no pre-edge, so the edge step is 1 and E0 comes
    from FEFF (plus ``settings.feff_e0_offset``, see there).
    """
    pairs = dataset.pairs(preset, integer_only=integer_only)
    spectra = [feff_spectrum(row, settings) for row in pairs.itertuples(index=False)]
    meta = pairs[META_COLUMNS].reset_index(drop=True)
    if not integer_only:
        meta["pair_cn"] = meta["pair_cn"].astype(float)
    return meta, spectra


def feff_spectrum(row, settings: ProcessingSettings = DEFAULT_SETTINGS) -> Spectrum:
    """A stored FEFF spectrum (a pair's or a site's row: energy, mu, absorber, e0, material_id) as a Spectrum."""
    return Spectrum(
        np.asarray(row.energy, float),
        np.asarray(row.mu, float),
        row.absorber,
        e0=row.e0 + settings.feff_e0_offset,
        edge_step=1.0,
        name=row.material_id,
    )


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


def spectra_key(dataset: Dataset, preset: str, settings: ProcessingSettings) -> str:
    """What the features of the dataset's spectra depend on, for every cache name built on them:
    the shards, the way pairs and mixtures are made from them, and the processing settings."""
    return f"{dataset_fingerprint(dataset, preset)}-v{SPECTRA_VERSION}-{settings.key()}-{preset}"


def load_features(
    dataset: Dataset,
    feature_sets: Sequence[str],
    settings: ProcessingSettings = DEFAULT_SETTINGS,
    preset: str = "fast",
    *,
    select: Callable[[pd.DataFrame], np.ndarray] | None = None,
    select_key: str = "all",
    integer_only: bool = True,
    cache_dir: Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Metadata and feature matrices of the integer-CN pairs (or of all pairs, with
    ``integer_only=False``), from the cache when possible.

    ``select`` picks rows of the metadata (e.g. a fixed subset); ``select_key`` names
    that choice in the cache key. Rows that could not be processed have NaN features
    and their reason in the ``processing_error`` column.
    """
    pairs = "" if integer_only else "all-pairs-"
    key = f"{pairs}{spectra_key(dataset, preset, settings)}-{short_hash(select_key)}"

    def build() -> tuple[pd.DataFrame, list[Spectrum]]:
        meta, spectra = pair_spectra(dataset, preset, settings, integer_only)
        if select is None:
            return meta, spectra
        rows = select(meta)
        return meta.iloc[rows].reset_index(drop=True), [spectra[i] for i in rows]

    return cached_features(
        key, build, feature_sets, settings, cache_dir=cache_dir, workers=workers, scheduler=scheduler, progress=progress
    )


def cached_features(
    key: str,
    build: Callable[[], tuple[pd.DataFrame, list[Spectrum]]],
    feature_sets: Sequence[str],
    settings: ProcessingSettings = DEFAULT_SETTINGS,
    *,
    cache_dir: Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Metadata and features of the spectra ``build`` makes, stored under ``key``.

    ``build`` runs only on a cache miss: reading and averaging the spectra costs
    seconds, featurizing them minutes. ``key`` must change whenever what ``build``
    returns would. Entries are written atomically; a damaged one is rebuilt.
    """
    cache_dir = Path(cache_dir or default_cache_dir())
    meta_path = cache_dir / f"meta-{key}.parquet"
    paths = {name: cache_dir / f"features-{name}-{key}.npy" for name in feature_sets}
    meta, matrices = _read_cached(meta_path, paths)
    missing = [name for name in feature_sets if name not in matrices]
    if not missing:
        return meta, matrices

    # Only the sets not yet stored are computed: a new feature set costs its own
    # featurization, not that of every set cached beside it.
    built_meta, spectra = build()
    new, errors = featurize_many(spectra, missing, settings, workers=workers, scheduler=scheduler, progress=progress)
    for name in missing:
        store_in_cache(paths[name], lambda tmp, matrix=new[name]: np.save(tmp, matrix))
    if meta is None:
        meta = built_meta.assign(processing_error=errors)
        store_in_cache(meta_path, meta.to_parquet)
    return meta, {name: matrices.get(name, new.get(name)) for name in feature_sets}


_UNWRITABLE_CACHES: set[Path] = set()


def store_in_cache(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` then rename to ``path``: never a half-written entry. A cache that
    cannot be written (HOME read-only, ``EXAFS_CN_CACHE=/dev/null``, a full disk) costs
    speed, not the run: one warning per folder, and the work goes on uncached."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, write)
    except OSError as exc:
        if path.parent not in _UNWRITABLE_CACHES:
            _UNWRITABLE_CACHES.add(path.parent)
            warnings.warn(
                f"cache {path.parent} cannot be written ({exc.strerror or exc}); working without it "
                "(set EXAFS_CN_CACHE to a writable folder)",
                stacklevel=2,
            )


def _read_cached(meta_path: Path, paths: dict[str, Path]) -> tuple[pd.DataFrame | None, dict[str, np.ndarray]]:
    """The stored metadata and whichever feature matrices are stored with it; a damaged
    entry counts as absent (it is rebuilt, not fatal), and without metadata nothing is kept.
    """
    try:
        meta = pd.read_parquet(meta_path) if meta_path.exists() else None
    except (OSError, ValueError):
        meta = None
    matrices: dict[str, np.ndarray] = {}
    for name, path in paths.items():
        if meta is None or not path.exists():
            continue
        try:
            matrix = np.load(path)
        except (OSError, ValueError, EOFError):
            continue
        if len(matrix) == len(meta):
            matrices[name] = matrix
    return meta, matrices


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


#: ``kind`` of a row of the average-CN data: a pair whose site-averaged CN is an
#: integer, one whose is not, or a synthetic mixture of pairs.
ROW_KINDS = ("integer", "non_integer", "mixture")


def pair_kinds(cn: np.ndarray) -> np.ndarray:
    """"integer" or "non_integer" per pair, by the same tolerance as the labels use."""
    return np.array(["integer" if is_integer_cn(c) else "non_integer" for c in cn], dtype=object)


def load_average_cn_features(
    dataset: Dataset,
    feature_sets: Sequence[str],
    settings: ProcessingSettings = DEFAULT_SETTINGS,
    preset: str = "fast",
    *,
    n_blocks: int,
    seed: int,
    design: MixtureDesign | None = None,
    select: Callable[[pd.DataFrame], np.ndarray] | None = None,
    select_key: str = "all",
    cache_dir: Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Every pair (integer CN or not) and mixtures of them, with features.

    The metadata has ``kind`` (:data:`ROW_KINDS`) and ``block``: pairs are put in
    ``n_blocks`` blocks by composition, and each mixture is made of the pairs of one
    block (:mod:`exafs_cn.learn._mixtures`), so folds over the blocks keep a mixture
    with its components. Pair rows come first, in the order of
    :func:`load_features`; ``components`` of a mixture number those rows.
    """
    design = design or DEFAULT_DESIGN
    options = dict(cache_dir=cache_dir, workers=workers, scheduler=scheduler, progress=progress)
    pairs, pair_matrices = load_features(
        dataset, feature_sets, settings, preset, select=select, select_key=select_key, integer_only=False, **options
    )
    blocks = assign_blocks(pairs["absorber"].to_numpy(), pairs["formula"].to_numpy(), n_blocks, seed)
    mixtures = design_mixtures(pairs, blocks, design, seed)
    choice = f"{select_key}|{n_blocks}|{seed}|{design.to_dict()}"
    key = f"mixtures-{spectra_key(dataset, preset, settings)}-{short_hash(choice)}"

    def build() -> tuple[pd.DataFrame, list[Spectrum]]:
        meta, spectra = pair_spectra(dataset, preset, settings, integer_only=False)
        if select is not None:
            spectra = [spectra[i] for i in select(meta)]
        return mixtures, mixture_spectra(spectra, mixtures)

    mixed, mixed_matrices = cached_features(key, build, feature_sets, settings, **options)
    pairs = pairs.assign(kind=pair_kinds(pairs["pair_cn"].to_numpy(float)), block=blocks)
    mixed = mixed.assign(kind="mixture", n_sites=0, e0=np.nan)
    meta = pd.concat([pairs, mixed[[*pairs.columns, "components", "weights"]]], ignore_index=True)
    matrices = {name: np.vstack([pair_matrices[name], mixed_matrices[name]]) for name in feature_sets}
    return meta, matrices

"""Training copies of FEFF spectra that look measured: the gap from theory to experiment.

FEFF gives sigma2 = 0, S02 = 1, an exact E0, no noise and chi(k) to 20/A. A measured
spectrum has thermal and static disorder, an amplitude reduction, an E0 off by a few
eV, noise that grows with k, data to 10-16/A, and a background someone removed with
their own rbkg. Each augmented copy draws one value of each from :class:`Augmentation`
and applies it where it acts physically: rbkg in Larch's autobk on mu(E); the rest on
chi(k) as the EXAFS equation has them,

    chi'(k) = S02 * chi(k_shifted) * exp(-2 sigma2 k^2) + noise(k),  k_shifted^2 = k^2 + ETOK * dE0,

then the same xftf as every other spectrum. One sigma2 for all paths understates the
damping of far shells; it is the first-order effect and what a per-path model would
need FEFF's path list for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from larch.xafs.xafsutils import ETOK

from exafs_cn.features import (
    Processed,
    ProcessingError,
    Spectrum,
    background,
    feature_labels,
    featurizers_for,
    transform,
)
from exafs_cn.parallel import map_unordered
from exafs_cn.settings import DEFAULT_SETTINGS, ProcessingSettings


@dataclass(frozen=True)
class Augmentation:
    """Ranges each copy draws from (uniformly); recorded with every model trained on them.

    sigma2: 0.001-0.012 A^2 spans first shells of oxides at low temperature to metals and
    disordered sites at room temperature. noise: standard deviation of chi at k = 10/A,
    growing as k^2 (counting noise weighted like k^2 chi); 0.002 is a poor but usable scan.
    kmax: from 6.5/A (quick and XANES-extended scans) to 16/A, so short data are predicted
    by models that have seen them.
    """

    sigma2: tuple[float, float] = (0.001, 0.012)
    s02: tuple[float, float] = (0.7, 1.0)
    e0_shift: tuple[float, float] = (-5.0, 5.0)
    noise_at_k10: tuple[float, float] = (0.0, 0.002)
    kmax: tuple[float, float] = (6.5, 16.0)
    rbkg: tuple[float, float] = (0.8, 1.3)

    def to_dict(self) -> dict:
        return {k: list(v) for k, v in asdict(self).items()}


DEFAULT_AUGMENTATION = Augmentation()


def distort(k: np.ndarray, chi: np.ndarray, rng: np.random.Generator, aug: Augmentation) -> tuple[np.ndarray, float]:
    """One measured-looking chi(k) and the kmax its 'data' reach."""
    sigma2 = rng.uniform(*aug.sigma2)
    s02 = rng.uniform(*aug.s02)
    shift = rng.uniform(*aug.e0_shift)
    noise = rng.uniform(*aug.noise_at_k10)
    kmax = rng.uniform(*aug.kmax)
    shifted = np.sqrt(np.clip(k**2 + ETOK * shift, 0.0, None))
    out = s02 * np.interp(shifted, k, chi) * np.exp(-2.0 * sigma2 * k**2)
    out = out + rng.normal(0.0, 1.0, k.shape) * noise * (k / 10.0) ** 2
    return out, kmax


def augmented_processed(
    spectrum: Spectrum,
    n_copies: int,
    seed: int,
    settings: ProcessingSettings = DEFAULT_SETTINGS,
    aug: Augmentation = DEFAULT_AUGMENTATION,
) -> list[Processed]:
    """``n_copies`` distorted versions of one spectrum (the clean one is not among them)."""
    rng = np.random.default_rng(seed)
    copies = []
    for _ in range(n_copies):
        k, chi, e0, _group = background(spectrum, settings, rbkg=rng.uniform(*aug.rbkg))
        chi, kmax = distort(k, chi, rng, aug)
        copies.append(transform(k, chi, e0, settings, kmax=kmax))
    return copies


def augmented_features(
    spectrum: Spectrum,
    feature_set: str,
    n_copies: int,
    seed: int,
    settings: ProcessingSettings = DEFAULT_SETTINGS,
    aug: Augmentation = DEFAULT_AUGMENTATION,
) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows of ``n_copies`` augmented copies (NaN where processing failed) and each copy's kmax."""
    featurizers = featurizers_for(feature_set, settings)
    try:
        copies = augmented_processed(spectrum, n_copies, seed, settings, aug)
    except ProcessingError:
        size = sum(len(f.feature_labels()) for f in featurizers)
        return np.full((n_copies, size), np.nan), np.full(n_copies, np.nan)
    rows = [np.concatenate([f.featurize(processed) for f in featurizers]) for processed in copies]
    return np.vstack(rows), np.array([processed.kmax for processed in copies])


@dataclass(frozen=True)
class _Chunk:
    spectra: tuple[Spectrum, ...]
    feature_set: str
    n_copies: int
    seed: int
    offset: int
    settings: ProcessingSettings
    aug: Augmentation


def _augment_chunk(chunk: _Chunk) -> tuple[int, np.ndarray, np.ndarray]:
    results = [
        augmented_features(s, chunk.feature_set, chunk.n_copies, chunk.seed + chunk.offset + i, chunk.settings, chunk.aug)
        for i, s in enumerate(chunk.spectra)
    ]
    return chunk.offset, np.stack([rows for rows, _ in results]), np.stack([kmax for _, kmax in results])


def augment_many(
    spectra: Sequence[Spectrum],
    feature_set: str,
    n_copies: int,
    seed: int,
    settings: ProcessingSettings = DEFAULT_SETTINGS,
    aug: Augmentation = DEFAULT_AUGMENTATION,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    chunk_size: int = 32,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Features of augmented copies, shape (spectra, copies, features), and each copy's kmax
    (spectra, copies), on all cores.

    Spectrum i always draws from seed + i, so the result does not depend on chunking
    or on the number of workers.
    """
    size = len(feature_labels(feature_set, settings))
    out = np.full((len(spectra), n_copies, size), np.nan)
    kmax = np.full((len(spectra), n_copies), np.nan)
    chunks = [
        _Chunk(tuple(spectra[i : i + chunk_size]), feature_set, n_copies, seed, i, settings, aug)
        for i in range(0, len(spectra), chunk_size)
    ]
    for offset, block, block_kmax in map_unordered(
        _augment_chunk, chunks, workers=workers, scheduler=scheduler, total=len(chunks), desc="augmented copies (chunks)", progress=progress
    ):
        out[offset : offset + len(block)] = block
        kmax[offset : offset + len(block)] = block_kmax
    return out, kmax

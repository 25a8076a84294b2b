"""Training copies of FEFF spectra that look measured: the gap from theory to experiment.

FEFF gives sigma2 = 0, S02 = 1, an exact E0, no noise and chi(k) to 20/A. A measured
spectrum has thermal and static disorder, an amplitude reduction, an E0 off by a few
eV, noise that grows with k, data to 10-16/A, and a background someone removed with
their own rbkg. Each augmented copy draws one value of each from :class:`Augmentation`
and applies it where it acts physically: rbkg in Larch's autobk on mu(E); the rest on
chi(k) as the EXAFS equation has them,

    chi'(k) = S02 exp(-2 sigma2 k^2) [chi_1 + A_out exp(-2 sigma2_out k^2) chi_out](k_shifted) + noise(k),
    k_shifted^2 = k^2 + ETOK * dE0,

with chi_1 the first shell and chi_out the rest (a Fourier filter, :func:`split_first_shell`),
then the same xftf as every other spectrum. Shells beyond the first get their own extra
damping because measured ones are damped more than the first, relative to FEFF's
(``studies/sim_vs_measured.py``); per path it would need FEFF's path list.
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
    first_shell_index,
    transform,
)
from exafs_cn.parallel import map_unordered
from exafs_cn.settings import DEFAULT_SETTINGS, ProcessingSettings


@dataclass(frozen=True)
class Augmentation:
    """Ranges each copy draws from (uniformly); recorded with every model trained on them.

    The amplitude ranges come from the measured corpus set beside FEFF for the same
    material (``studies/sim_vs_measured.py``, ratio method at the E0 the models use,
    one value per compound, 40 compounds; the 5th to 95th percentiles, cut where a value
    has no physical meaning relative to FEFF's sigma2 = 0):

    - s02: first-shell amplitude factor 0.35-0.95 (median 0.77);
    - sigma2: first-shell Debye-Waller factor, 5th percentile -0.004 (cut at 0) to 0.012 A^2;
    - outer_amplitude and outer_sigma2: the shells beyond the first are damped more than
      the first, by a further factor 0.3-1.7 (median 0.77; cut at 1: FEFF's outer shells
      already carry no disorder) and sigma2 -0.009-0.015 A^2 more (cut at 0). Salts and
      molecular ions (chromates, permanganate, sulfates) keep little beyond their first
      shell, which one sigma2 for all shells never produced.

    noise: standard deviation of chi at k = 10/A, growing as k^2 (counting noise weighted
    like k^2 chi); 0.002 is a poor but usable scan. kmax: from 6.5/A (quick and
    XANES-extended scans) to 16/A, so short data are predicted by models that have seen
    them. E0: with the half-step rule a measured first shell lies where FEFF's does
    (median offset in R 0.00 A over the compounds), so the shift stays +-5 eV.
    """

    sigma2: tuple[float, float] = (0.0, 0.012)
    s02: tuple[float, float] = (0.35, 0.95)
    outer_amplitude: tuple[float, float] = (0.3, 1.0)
    outer_sigma2: tuple[float, float] = (0.0, 0.015)
    e0_shift: tuple[float, float] = (-5.0, 5.0)
    noise_at_k10: tuple[float, float] = (0.0, 0.002)
    kmax: tuple[float, float] = (6.5, 16.0)
    rbkg: tuple[float, float] = (0.8, 1.3)

    def to_dict(self) -> dict:
        return {k: list(v) for k, v in asdict(self).items()}


DEFAULT_AUGMENTATION = Augmentation()


def distort(k: np.ndarray, chi: np.ndarray, rng: np.random.Generator, aug: Augmentation) -> tuple[np.ndarray, float]:
    """One measured-looking chi(k) and the kmax its 'data' reach.

    ``k`` is autobk's uniform grid from 0. The first shell and the rest are damped apart
    (see :func:`split_first_shell`), then both are shifted in E0 and noise is added.
    """
    sigma2 = rng.uniform(*aug.sigma2)
    s02 = rng.uniform(*aug.s02)
    outer_amplitude = rng.uniform(*aug.outer_amplitude)
    outer_sigma2 = rng.uniform(*aug.outer_sigma2)
    shift = rng.uniform(*aug.e0_shift)
    noise = rng.uniform(*aug.noise_at_k10)
    kmax = rng.uniform(*aug.kmax)
    first, outer = split_first_shell(k, chi)
    damped = s02 * np.exp(-2.0 * sigma2 * k**2) * (first + outer_amplitude * np.exp(-2.0 * outer_sigma2 * k**2) * outer)
    shifted = np.sqrt(np.clip(k**2 + ETOK * shift, 0.0, None))
    out = np.interp(shifted, k, damped)
    out = out + rng.normal(0.0, 1.0, k.shape) * noise * (k / 10.0) ** 2
    return out, kmax


def split_first_shell(k: np.ndarray, chi: np.ndarray, margin: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """chi(k) as its first shell plus the rest: ``first + outer == chi`` exactly.

    The first shell is what a Fourier filter keeps below ``margin`` A past the first
    |chi(R)| peak (the lowest peak at 1-3.5 A at least half the tallest there, on
    k^2 chi, not phase-corrected as in every R here); the edge of the filter is a 0.2 A
    cosine ramp so that it rings little.

    Parameters
    ----------
    k : ndarray
        Uniform grid from 0 (1/A), as autobk gives it.
    chi : ndarray
        chi(k) on it.
    margin : float
        Where the first shell ends, past its peak (A).

    Returns
    -------
    first, outer : ndarray
        The two parts on ``k``.
    """
    step = float(k[1] - k[0])
    size = 2048 if k.size <= 2048 else int(2 ** np.ceil(np.log2(k.size)))
    spectrum = np.fft.rfft(chi, size)
    r = np.pi * np.fft.rfftfreq(size, step)  # sin(2kR) has 2R/(2 pi) cycles per unit k
    peak = first_shell_index(r, np.abs(np.fft.rfft(chi * k**2, size)))
    if peak is None:
        return chi.copy(), np.zeros_like(chi)
    edge = r[peak] + margin
    mask = np.clip((edge + 0.1 - r) / 0.2, 0.0, 1.0)
    mask = 0.5 - 0.5 * np.cos(np.pi * mask)
    first = np.fft.irfft(spectrum * mask, size)[: k.size]
    return first, chi - first


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

"""Augmentation acts on a real FEFF spectrum as the EXAFS equation says it should."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from exafs_cn.datagen._dataset import Dataset
from exafs_cn.features import background, process
from exafs_cn.learn._augment import DEFAULT_AUGMENTATION, augment_many, augmented_features, distort
from exafs_cn.learn._corpus import pair_spectra

FIXED = replace(
    DEFAULT_AUGMENTATION,
    sigma2=(0.0, 0.0),
    s02=(1.0, 1.0),
    outer_amplitude=(1.0, 1.0),
    outer_sigma2=(0.0, 0.0),
    e0_shift=(0.0, 0.0),
    noise_at_k10=(0.0, 0.0),
    kmax=(20.0, 20.0),
)


@pytest.fixture(scope="module")
def feff_chi(data_slice):
    _, spectra = pair_spectra(Dataset(data_slice))
    k, chi, _, _ = background(spectra[0])
    return spectra[:6], k, chi


def test_identity_ranges_leave_chi_unchanged(feff_chi):
    _, k, chi = feff_chi
    out, kmax = distort(k, chi, np.random.default_rng(0), FIXED)
    np.testing.assert_allclose(out, chi)
    assert kmax == 20.0


def test_debye_waller_and_s02_scale_chi_as_the_exafs_equation(feff_chi):
    _, k, chi = feff_chi
    aug = replace(FIXED, sigma2=(0.01, 0.01), s02=(0.8, 0.8))
    out, _ = distort(k, chi, np.random.default_rng(0), aug)
    np.testing.assert_allclose(out, 0.8 * chi * np.exp(-2 * 0.01 * k**2))


def test_noise_grows_with_k_and_copies_damp_the_first_shell(feff_chi):
    spectra, k, chi = feff_chi
    aug = replace(FIXED, noise_at_k10=(0.01, 0.01))
    residual = np.array([distort(k, chi, np.random.default_rng(s), aug)[0] - chi for s in range(200)])
    low, high = residual[:, (k > 3) & (k < 5)].std(), residual[:, (k > 11) & (k < 13)].std()
    assert high > 4 * low
    clean = process(spectra[0]).chir_mag
    copies, kmax = augmented_features(spectra[0], "r", 8, seed=1)
    assert copies.shape == (8, clean.size) and np.all(np.isfinite(copies))
    assert np.all((kmax >= DEFAULT_AUGMENTATION.kmax[0]) & (kmax <= DEFAULT_AUGMENTATION.kmax[1]))
    # sigma2 >= 0.001 and S02 <= 1 can only lower the first-shell peak (R < 3 A).
    assert np.all(copies[:, :98].max(axis=1) < clean[:98].max() * 1.05)


def test_augment_many_is_independent_of_chunking_and_workers(feff_chi):
    spectra, _, _ = feff_chi
    serial, serial_kmax = augment_many(spectra, "r", 2, seed=3, workers=1, chunk_size=2, progress=False)
    parallel, parallel_kmax = augment_many(spectra, "r", 2, seed=3, workers=2, chunk_size=4, progress=False)
    np.testing.assert_array_equal(serial, parallel)
    np.testing.assert_array_equal(serial_kmax, parallel_kmax)
    assert serial.shape == (6, 2, 326) and serial_kmax.shape == (6, 2)


def test_outer_shells_are_damped_apart_from_the_first(feff_chi):
    from exafs_cn.features import transform
    from exafs_cn.learn._augment import split_first_shell

    spectra, k, chi = feff_chi
    first, outer = split_first_shell(k, chi)
    np.testing.assert_allclose(first + outer, chi, atol=1e-12)
    clean = transform(k, chi, 0.0)
    out, _ = distort(k, chi, np.random.default_rng(0), replace(FIXED, outer_amplitude=(0.3, 0.3)))
    damped = transform(k, out, 0.0)
    r1 = clean.r[np.argmax(np.where((clean.r > 1) & (clean.r < 3.5), clean.chir_mag, 0))]
    peak = np.abs(clean.r - r1) < 0.15
    beyond = (clean.r > r1 + 1.0) & (clean.r < 5.0)
    # The first shell keeps its height; what lies a shell further out drops to about 0.3.
    assert abs(damped.chir_mag[peak].max() / clean.chir_mag[peak].max() - 1) < 0.1
    ratio = damped.chir_mag[beyond].sum() / clean.chir_mag[beyond].sum()
    assert 0.25 < ratio < 0.4

"""Larch features of real FEFF spectra from the committed dataset."""

import numpy as np
import pytest

from exafs_cn.datagen._dataset import Dataset
from exafs_cn.features import (
    FEATURE_SETS,
    ProcessingError,
    Spectrum,
    feature_labels,
    featurize_many,
    k_grid,
    process,
    r_grid,
)
from exafs_cn.learn._corpus import pair_spectra
from exafs_cn.settings import DEFAULT_SETTINGS, ProcessingSettings


@pytest.fixture(scope="module")
def some_spectra(data_slice):
    meta, spectra = pair_spectra(Dataset(data_slice))
    pick = np.flatnonzero(meta["absorber"].to_numpy() == "Ni")[:12]
    return meta.iloc[pick].reset_index(drop=True), [spectra[i] for i in pick]


def test_r_grid_is_larchs_326_points_to_10_A(some_spectra):
    processed = process(some_spectra[1][0])
    r = r_grid()
    assert len(r) == 326
    assert r[1] == pytest.approx(0.0307, abs=1e-4) and r[-1] == pytest.approx(9.97, abs=0.01)
    np.testing.assert_allclose(processed.r, r)


def test_feature_set_shapes_match_their_labels(some_spectra):
    matrices, errors = featurize_many(some_spectra[1], tuple(FEATURE_SETS), workers=2, progress=False)
    assert errors == [None] * len(some_spectra[1])
    n_peaks, below_6A = DEFAULT_SETTINGS.n_peaks, int(np.sum(r_grid() < DEFAULT_SETTINGS.peak_rmax))
    expected = {
        "r": 326,
        "r_peaks": 326 + 2 * n_peaks,
        "k": len(k_grid()),
        "wavelet": 24 * 18,
        "shells": 5 * n_peaks,
        "r_complex": 2 * below_6A,
        "k_weights": 2 * len(k_grid()),
    }
    for name, matrix in matrices.items():
        assert matrix.shape == (len(some_spectra[1]), expected[name]) == (len(some_spectra[1]), len(feature_labels(name)))
        assert np.all(np.isfinite(matrix))
    peaks = matrices["r_peaks"][:, 326 : 326 + DEFAULT_SETTINGS.n_peaks]
    assert np.all(np.diff(peaks, axis=1) >= 0), "peak positions are sorted by R"
    assert np.all((peaks[:, 0] > 0.8) & (peaks[:, 0] < 3.0)), "first shell of a Ni compound"


def test_richer_feature_sets_agree_with_the_studys(some_spectra):
    """Each richer set is another view of the same transform, so they must agree where they overlap."""
    matrices, _ = featurize_many(some_spectra[1], ("r", "r_peaks", "k", "shells", "r_complex", "k_weights"), workers=1, progress=False)
    n_peaks, half = DEFAULT_SETTINGS.n_peaks, matrices["r_complex"].shape[1] // 2
    # |chi(R)| is the modulus of Re + i Im on the same grid
    modulus = np.hypot(matrices["r_complex"][:, :half], matrices["r_complex"][:, half:])
    np.testing.assert_allclose(modulus, matrices["r"][:, :half], rtol=1e-9, atol=1e-12)
    # k^1 chi times k is the study's k^2 chi; the shells' positions and heights are the peaks'
    grid = k_grid()
    np.testing.assert_allclose(matrices["k_weights"][:, : len(grid)] * grid, matrices["k"], rtol=1e-9, atol=1e-12)
    shells = matrices["shells"].reshape(len(some_spectra[1]), 5, n_peaks)
    np.testing.assert_array_equal(shells[:, :2].reshape(len(some_spectra[1]), -1), matrices["r_peaks"][:, 326:])
    # every peak found has a width and a prominence, none taller than the peak; area is height x width
    found = shells[:, 0] > 0
    assert np.all(shells[:, 2][found] > 0) and np.all(shells[:, 2] < DEFAULT_SETTINGS.peak_rmax)
    assert np.all(shells[:, 3][found] > 0) and np.all(shells[:, 3] <= shells[:, 1])
    np.testing.assert_allclose(shells[:, 4], shells[:, 1] * shells[:, 2])


def test_featurize_many_matches_one_at_a_time(some_spectra):
    spectra = some_spectra[1][:3]
    parallel, _ = featurize_many(spectra, ("r",), workers=2, chunk_size=1, progress=False)
    serial = np.vstack([process(s).chir_mag for s in spectra])
    np.testing.assert_array_equal(parallel["r"], serial)


def test_settings_change_the_cache_key():
    assert ProcessingSettings().key() == DEFAULT_SETTINGS.key()
    assert ProcessingSettings(kmax=14).key() != DEFAULT_SETTINGS.key()
    with pytest.raises(ValueError, match="unknown processing settings: kmaxx"):
        ProcessingSettings.from_dict({"kmaxx": 3})


def test_too_short_k_range_is_a_processing_error(some_spectra):
    spectrum = some_spectra[1][0]
    short = spectrum.e0 + 3.81 * 5.5**2  # energy of k = 5.5/A, below MIN_KMAX
    keep = spectrum.energy < short
    cut = Spectrum(spectrum.energy[keep], spectrum.mu[keep], spectrum.absorber, e0=spectrum.e0, edge_step=1.0)
    with pytest.raises(ProcessingError, match="reaches only k = 5"):
        process(cut)


def test_an_e0_outside_the_data_is_a_processing_error(some_spectra):
    """Larch's autobk would replace it by an edge it finds itself, without a word."""
    spectrum = some_spectra[1][0]
    early = Spectrum(spectrum.energy, spectrum.mu, spectrum.absorber, e0=spectrum.energy[0] - 3.0, edge_step=1.0)
    with pytest.raises(ProcessingError, match="lies outside the data"):
        process(early)


def test_a_shorter_k_range_ends_the_window_where_the_data_end(some_spectra):
    spectrum = some_spectra[1][0]
    full = process(spectrum)
    short = spectrum.e0 + 3.81 * 10.0**2  # energy of k = 10/A
    keep = spectrum.energy < short
    cut = process(Spectrum(spectrum.energy[keep], spectrum.mu[keep], spectrum.absorber, e0=spectrum.e0, edge_step=1.0))
    assert cut.chir_mag.shape == full.chir_mag.shape
    # Same shells, less resolution: the first-shell peak stays where it was.
    first = slice(0, 100)  # R < 3 A
    assert abs(cut.r[np.argmax(cut.chir_mag[first])] - full.r[np.argmax(full.chir_mag[first])]) < 0.15


def test_wavelet_agrees_with_larchs_cauchy_wavelet(some_spectra):
    from larch import Group
    from larch.xafs import cauchy_wavelet

    from exafs_cn.features import WaveletFeaturizer, cauchy_wavelet_magnitude

    s = DEFAULT_SETTINGS
    for spectrum in some_spectra[1][:4]:
        processed = process(spectrum)
        k = np.arange(0, processed.k.max() + s.kstep / 2, s.kstep)
        chi = np.interp(k, processed.k, processed.chi)
        larch = Group()
        cauchy_wavelet(k, chi, group=larch, kweight=s.kweight, rmax_out=s.rmax_out, nfft=s.nfft)
        r, mag = cauchy_wavelet_magnitude(k, chi, kweight=s.kweight, rmax_out=s.rmax_out, nfft=s.nfft)
        np.testing.assert_allclose(r, larch.wcauchy_r)
        np.testing.assert_allclose(mag, larch.wcauchy_mag, rtol=0, atol=1e-6 * larch.wcauchy_mag.max())
        # The pooled features, against the same pooling of Larch's full transform.
        r_edges = np.linspace(0.0, s.wavelet_rmax, s.wavelet_r_bins + 1)
        k_edges = np.linspace(s.kmin, s.kmax, s.wavelet_k_bins + 1)
        r_idx, k_idx = np.searchsorted(larch.wcauchy_r, r_edges), np.searchsorted(k, k_edges)
        expected = [
            larch.wcauchy_mag[r_idx[i] : r_idx[i + 1], k_idx[j] : k_idx[j + 1]].mean()
            for i in range(len(r_edges) - 1)
            for j in range(len(k_edges) - 1)
        ]
        np.testing.assert_allclose(WaveletFeaturizer(s).featurize(processed), expected, rtol=1e-6, atol=1e-9)


def test_the_processings_of_one_measured_spectrum_share_larchs_pre_edge_and_give_the_same_chi():
    """A measured spectrum is processed more than once (the rule's E0, the profiled E0, and a
    companion model trained with other settings); Larch's pre_edge from its own E0, run by the
    reader's checks, serves all of them: each gives what a processing that runs its own pre_edge gives."""
    from dataclasses import replace
    from pathlib import Path

    from exafs_cn.measured._readers import read_spectra

    (measured,) = read_spectra(Path(__file__).parent / "data" / "experimental" / "data__Cu__cu_metal_rt.xdi")
    assert {"e0", "norm", "edge_step", "pre_edge"} <= set(measured.larch_edge)  # filled by the reader's checks
    assert not {"energy", "mu"} & set(measured.larch_edge)
    shifted = replace(measured, e0_shift=4.0)
    assert shifted.larch_edge is measured.larch_edge  # carried over: the same mu
    for settings in (ProcessingSettings(e0_rule="half_step"), ProcessingSettings(e0_rule="max_derivative")):
        for spectrum in (measured, shifted):
            shared = process(spectrum.to_spectrum(), settings)
            alone = process(replace(spectrum.to_spectrum(), larch_edge=None), settings)
            np.testing.assert_array_equal(shared.chi, alone.chi)
            np.testing.assert_array_equal(shared.chir_mag, alone.chir_mag)
            assert shared.e0 == alone.e0
            np.testing.assert_array_equal(shared.group.norm, alone.group.norm)


def test_chi_read_from_another_e0_is_close_to_a_processing_from_there():
    """The average-CN models' inputs on a measured spectrum: the classifier's chi(E) re-read from
    Larch's own E0 (no second autobk). From the same E0 it is the processing itself; on the Cu foil,
    whose rule and Larch E0 lie 6 eV apart, |chi(R)| is within 1% of a full processing from there
    (autobk's spline follows E0, so not equal); the data's kmax moves with E0."""
    from pathlib import Path

    from exafs_cn.features import reread_at_e0
    from exafs_cn.measured._readers import read_spectra

    (measured,) = read_spectra(Path(__file__).parent / "data" / "experimental" / "data__Cu__cu_metal_rt.xdi")
    larch_rule = ProcessingSettings(e0_rule="max_derivative")
    by_rule = process(measured.to_spectrum(), DEFAULT_SETTINGS)
    own = process(measured.to_spectrum(), larch_rule)
    same = reread_at_e0(by_rule, by_rule.e0, DEFAULT_SETTINGS)
    np.testing.assert_array_equal(same.chi, by_rule.chi)
    np.testing.assert_array_equal(same.chir_mag, by_rule.chir_mag)
    assert abs(by_rule.e0 - own.e0) > 3
    reread = reread_at_e0(by_rule, own.e0, larch_rule)
    assert reread.e0 == own.e0 and reread.kmax == pytest.approx(own.kmax, abs=0.01)
    inside = (own.r > 1) & (own.r < 6)
    assert np.max(np.abs(reread.chir_mag - own.chir_mag)[inside]) < 0.01 * np.max(own.chir_mag[inside])

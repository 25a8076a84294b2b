"""FEFF8L really runs: spectra of Cu fcc and NiO, and failures it hides behind exit 0."""

import shutil

import numpy as np
import pytest
from larch import Group
from larch.xafs import xftf
from scipy.signal import find_peaks

from exafs_cn.datagen._structures import inequivalent_sites
from exafs_cn.feff import (
    FEFF8L_MAX_ATOMS,
    PRESETS,
    FeffError,
    build_cluster,
    feff_input,
    read_xmu,
    run_feff_input,
    simulate_site,
)


def strong_peaks(spectrum) -> np.ndarray:
    """R of the |chi(R)| maxima at least a quarter of the tallest one."""
    group = Group(k=spectrum.k, chi=spectrum.chi)
    xftf(group, kmin=3, kmax=14, kweight=2, dk=1, window="hanning")
    peaks, _ = find_peaks(group.chir_mag, height=0.25 * group.chir_mag.max())
    return group.r[peaks]


@pytest.mark.parametrize(
    ("name", "element", "edge_ev", "peak_range"),
    # K edges from tables; the first-shell |chi(R)| peak sits ~0.3-0.5 A below the
    # bond length (Cu-Cu 2.55 A, Ni-O 2.09 A) because of the scattering phase shift.
    [("Cu", "Cu", 8979.0, (2.0, 2.5)), ("NiO", "Ni", 8333.0, (1.4, 2.0))],
)
def test_feff_spectrum_is_physical(structures, name, element, edge_ev, peak_range):
    structure = structures[name]
    site = inequivalent_sites(structure, element)[0]
    spectrum = simulate_site(structure, site.site_index, PRESETS["fast"], name)
    assert abs(spectrum.e0 - edge_ev) < 25
    assert spectrum.k.max() == pytest.approx(20.0)
    assert len(spectrum.energy) == len(spectrum.mu) == len(spectrum.chi) >= 400
    assert np.all(np.diff(spectrum.energy) > 0)
    assert np.abs(spectrum.chi[spectrum.k > 3]).max() > 0.01
    peaks = strong_peaks(spectrum)
    assert np.any((peaks > peak_range[0]) & (peaks < peak_range[1])), peaks
    assert not spectrum.trimmed and spectrum.cluster_radius == PRESETS["fast"].cluster_radius


def test_fatal_error_behind_exit_status_zero_is_caught(structures):
    """feff8l exits 0 on 'Too many atoms'; the log gives it away."""
    cluster = build_cluster(structures["Cu"], 0, radius=16.0, max_atoms=10**6)
    assert len(cluster.symbols) > FEFF8L_MAX_ATOMS
    with pytest.raises(FeffError, match="feff8l_rdinp: Too many atoms"):
        run_feff_input(feff_input(cluster, PRESETS["fast"], "too big"), timeout_s=60)


def test_feff_warning_is_not_a_failure(structures):
    """NaZn13: Na sits in a Zn cage, so FEFF warns 'NO ATOMS CLOSE ENOUGH TO OVERLAP'
    for the Na potential ('May be error in input file'), then writes a good spectrum."""
    nazn13 = structures["NaZn13"]
    site = inequivalent_sites(nazn13, "Zn")[0]
    cluster = build_cluster(nazn13, site.site_index, PRESETS["fast"].cluster_radius)
    folder, _ = run_feff_input(feff_input(cluster, PRESETS["fast"], "NaZn13"), timeout_s=120)
    try:
        assert "NO ATOMS CLOSE ENOUGH TO OVERLAP" in (folder / "log_pot.txt").read_text()
        _, _, k, chi, _ = read_xmu(folder / "xmu.dat")
    finally:
        shutil.rmtree(folder)
    assert np.abs(chi[k > 3]).max() > 0.01


def test_hydrogen_is_left_out_of_the_feff_cluster(structures):
    """feff8l's potential module runs for minutes on hydrides; the presets omit H."""
    tih2 = structures["TiH2"]
    site = inequivalent_sites(tih2, "Ti")[0]
    preset = PRESETS["fast"]
    with_h = build_cluster(tih2, site.site_index, preset.cluster_radius)
    without_h = build_cluster(tih2, site.site_index, preset.cluster_radius, omit_elements=preset.omit_elements)
    assert "H" in with_h.symbols and "H" not in without_h.symbols
    assert len(without_h.symbols) == sum(s != "H" for s in with_h.symbols)
    spectrum = simulate_site(tih2, site.site_index, preset, "TiH2")
    assert spectrum.n_atoms == len(without_h.symbols) and spectrum.seconds < preset.timeout_s


def test_large_cluster_is_trimmed_by_whole_shells(structures):
    full = build_cluster(structures["Cu"], 0, radius=7.0)
    trimmed = build_cluster(structures["Cu"], 0, radius=7.0, max_atoms=60)
    assert trimmed.trimmed and not full.trimmed
    assert len(trimmed.symbols) <= 60
    kept = trimmed.distances.max()
    # Nothing of the full cluster inside the kept radius was dropped.
    assert np.sum(full.distances <= kept + 1e-6) == len(trimmed.symbols)
    assert kept < trimmed.radius <= full.distances.max()


def test_cluster_short_of_rpath_is_refused(structures):
    from dataclasses import replace

    from exafs_cn import feff

    tiny = replace(PRESETS["fast"], cluster_radius=3.0)
    with pytest.raises(FeffError, match="RPATH"):
        feff.simulate_site(structures["Cu"], 0, tiny, "short")

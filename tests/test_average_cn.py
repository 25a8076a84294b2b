"""Average CN of mixed sites and mixtures: the linear rule, the fold rule, the interval, on real spectra."""

import numpy as np
import pytest

from exafs_cn.datagen._dataset import Dataset
from exafs_cn.features import background, process
from exafs_cn.learn._average_cn import average_cn_metrics, cross_validate_average_cn
from exafs_cn.learn._corpus import load_average_cn_features, pair_spectra
from exafs_cn.learn._mixtures import assign_blocks, design_mixtures, mixture_spectrum
from exafs_cn.models._files import SavedModel
from exafs_cn.models._quantile_forest import ConformalQuantileForest


@pytest.fixture(scope="module")
def slice_pairs(data_slice):
    return pair_spectra(Dataset(data_slice), integer_only=False)


@pytest.fixture(scope="module")
def average_cn_data(data_slice, tmp_path_factory):
    """Ni, Cu and Co pairs of the slice and mixtures of them in 4 blocks, with R and k features."""
    meta, matrices = load_average_cn_features(
        Dataset(data_slice),
        ("r", "k"),
        n_blocks=4,
        seed=0,
        select=lambda table: np.flatnonzero(np.isin(table["absorber"].to_numpy(), ["Ni", "Cu", "Co"])),
        select_key="Ni,Cu,Co",
        cache_dir=tmp_path_factory.mktemp("cache"),
        workers=2,
        progress=False,
    )
    return meta, np.hstack([matrices["r"], matrices["k"]])


def test_a_mixture_follows_the_linear_rule(slice_pairs):
    meta, spectra = slice_pairs
    nickel = meta["absorber"] == "Ni"
    tetrahedral = int(meta.index[nickel & (meta["pair_cn"] == 4)][0])  # Ni3Se2
    octahedral = int(meta.index[nickel & (meta["pair_cn"] == 6)][0])  # NiGe
    weights = np.array([0.3, 0.7])
    mixed = mixture_spectrum([spectra[tetrahedral], spectra[octahedral]], weights)
    # mu adds up per absorber on the shared grid...
    expected_mu = sum(w * np.interp(mixed.energy, spectra[i].energy, spectra[i].mu) for w, i in zip(weights, (tetrahedral, octahedral)))
    np.testing.assert_allclose(mixed.mu, expected_mu, rtol=1e-12)
    # ...and so does chi(k) after Larch's autobk, within what one background spline allows.
    chi_a, chi_b, chi_mix = (process(s) for s in (spectra[tetrahedral], spectra[octahedral], mixed))
    k = chi_mix.k
    band = (k >= 3) & (k <= 12)
    linear = weights[0] * np.interp(k, chi_a.k, chi_a.chi) + weights[1] * np.interp(k, chi_b.k, chi_b.chi)
    misfit = np.sqrt(np.mean(((chi_mix.chi - linear) * k**2)[band] ** 2)) / np.sqrt(np.mean((linear * k**2)[band] ** 2))
    assert misfit < 0.03
    assert not np.allclose(chi_a.chi[band], chi_b.chi[band], atol=0.01)  # the two parts do differ


def test_a_mixture_of_parts_with_distant_edges_keeps_its_e0(slice_pairs):
    """FEFF's grid starts at its E0, so a mixture's common grid starts at the highest
    part's edge; its E0 must still lie inside the data, or autobk drops it silently
    and finds an edge of its own partway up."""
    meta, spectra = slice_pairs
    nickel = np.flatnonzero(meta["absorber"].to_numpy() == "Ni")
    e0 = np.array([spectra[i].e0 for i in nickel])
    low, high = int(nickel[np.argmin(e0)]), int(nickel[np.argmax(e0)])
    assert spectra[high].e0 - spectra[low].e0 > 3  # edges several eV apart
    weights = np.array([0.8, 0.2])
    mixed = mixture_spectrum([spectra[low], spectra[high]], weights)
    assert np.dot(weights, [spectra[low].e0, spectra[high].e0]) < mixed.energy[0]  # the plain mean would lie outside
    lead = min(s.e0 - s.energy[0] for s in (spectra[low], spectra[high]))
    assert mixed.e0 == pytest.approx(mixed.energy[0] + lead)
    _, _, _, group = background(mixed)
    assert group.ek0 == pytest.approx(mixed.e0), "autobk used the mixture's E0"


def test_designed_mixtures_have_the_weighted_cn_and_stay_in_their_block(slice_pairs):
    meta, _ = slice_pairs
    blocks = assign_blocks(meta["absorber"].to_numpy(), meta["formula"].to_numpy(), 4, seed=0)
    for key, group in meta.assign(block=blocks).groupby(["absorber", "formula"]):
        assert group["block"].nunique() == 1, key  # per element: one composition, one block
    mixtures = design_mixtures(meta, blocks, seed=0)
    assert len(mixtures) > 0.4 * (blocks >= 0).sum()
    cn = meta["pair_cn"].to_numpy(float)
    for row in mixtures.itertuples():
        assert len(row.components) in (2, 3) and abs(sum(row.weights) - 1) < 1e-12
        assert row.pair_cn == pytest.approx(float(np.dot(row.weights, cn[row.components])))
        assert set(blocks[row.components]) == {row.block}
        assert set(meta["absorber"].to_numpy()[row.components]) == {row.absorber}
    assert (mixtures["pair_cn"] % 1 > 0.01).mean() > 0.5  # mostly CNs between the integers


def test_no_component_of_a_test_mixture_is_in_training(average_cn_data):
    meta, _ = average_cn_data
    blocks, ids = meta["block"].to_numpy(), meta["material_id"].to_numpy()
    pair_rows = meta["kind"].to_numpy() != "mixture"
    for element in ("Ni", "Cu", "Co"):  # folds are per element, as the models are
        mine = meta["absorber"].to_numpy() == element
        for block in set(blocks[mine & (blocks >= 0)]):
            test, train = mine & (blocks == block), mine & (blocks != block)
            trained_on, tested = set(ids[train & pair_rows]), set(ids[test & pair_rows])
            for row in meta[test & ~pair_rows].itertuples():
                assert set(ids[row.components]) <= tested and not set(ids[row.components]) & trained_on
                assert row.material_id == "mix:" + "+".join(ids[row.components])
            for row in meta[train & ~pair_rows].itertuples():  # ...and no training mixture holds a test material
                assert not set(ids[row.components]) & tested


def test_the_interval_covers_held_out_spectra(average_cn_data):
    meta, X = average_cn_data
    rows = np.flatnonzero(np.all(np.isfinite(X), axis=1) & (meta["block"].to_numpy() >= 0))
    y, kind, blocks = meta["pair_cn"].to_numpy(float)[rows], meta["kind"].to_numpy()[rows], meta["block"].to_numpy()[rows]
    element = meta["absorber"].to_numpy()[rows]
    onehot = (element[:, None] == np.array(["Ni", "Cu", "Co"])[None, :]).astype(float)
    cv = cross_validate_average_cn(ConformalQuantileForest(n_estimators=60, n_jobs=2), np.hstack([X[rows], onehot]), y, blocks)
    metrics = average_cn_metrics(y, cv["prediction"], cv["low"], cv["high"], kind)
    assert 0.8 <= metrics["coverage_90"] <= 0.99
    assert metrics["median_width_90"] < 8
    assert np.all(cv["low"] <= cv["prediction"] + 1e-9) and np.all(cv["prediction"] <= cv["high"] + 1e-9)
    # Better than knowing nothing but the training CNs: their median, per element.
    baseline = np.abs(y - np.array([np.median(y[element == e]) for e in element])).mean()
    assert metrics["mae"] < 0.8 * baseline
    assert metrics["n_mixtures"] > 0 and metrics["mae_mixtures"] is not None


def test_the_regressor_saves_as_a_trusted_model_file(average_cn_data, tmp_path):
    meta, X = average_cn_data
    rows = np.flatnonzero(np.all(np.isfinite(X), axis=1) & (meta["absorber"].to_numpy() == "Ni"))
    y, blocks = meta["pair_cn"].to_numpy(float)[rows], meta["block"].to_numpy()[rows]
    model = ConformalQuantileForest(n_estimators=20).fit(X[rows], y, blocks)
    path = tmp_path / "Ni" / "cn_mean.model"
    SavedModel("Ni", "cn_mean", "r", {}, [], model).save(path)
    loaded = SavedModel.load(path, element="Ni").estimator
    np.testing.assert_array_equal(loaded.predict(X[rows[:50]]), model.predict(X[rows[:50]]))
    np.testing.assert_array_equal(loaded.predict_interval(X[rows[:50]])[1], model.predict_interval(X[rows[:50]])[1])

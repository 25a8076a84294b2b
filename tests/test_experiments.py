"""Models, cross-validation, save/load and the report, on a real slice of the dataset."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import exafs_cn
from exafs_cn.datagen._dataset import Dataset
from exafs_cn.features import featurize_many
from exafs_cn.learn._corpus import pair_spectra
from exafs_cn.learn._evaluate import ElementData, cross_validate, majority_accuracy
from exafs_cn.learn._models import make_model
from exafs_cn.learn._report import write_report
from exafs_cn.learn._reproduce import ExperimentPlan, run_experiments
from exafs_cn.models._files import SavedModel


@pytest.fixture(scope="module")
def ni_data(data_slice):
    meta, spectra = pair_spectra(Dataset(data_slice))
    mask = meta["absorber"].to_numpy() == "Ni"
    matrices, _ = featurize_many([s for s, m in zip(spectra, mask) if m], ("r",), workers=2, progress=False)
    sub = meta[mask]
    return ElementData.build(
        "Ni", matrices["r"], sub["pair_cn"].to_numpy(int), sub["formula"].to_numpy(), sub["material_id"].to_numpy()
    )


def test_rare_classes_are_dropped_and_reported(ni_data):
    assert ni_data.dropped_classes  # e.g. CN 2, 3, 7 have fewer than 10 Ni spectra in the slice
    assert all(count < 10 for count in ni_data.dropped_classes.values())
    assert not set(ni_data.dropped_classes) & set(ni_data.classes)


TORCH = pytest.mark.torch
LIGHTGBM = pytest.mark.lightgbm


@pytest.mark.parametrize(
    "model",
    [
        "rf",
        "et",
        "bagging",
        pytest.param("nn", marks=TORCH),
        pytest.param("lgbm", marks=LIGHTGBM),
        pytest.param("rf_lgbm", marks=LIGHTGBM),
    ],
)
def test_model_beats_the_commonest_cn_under_grouped_cv(ni_data, model):
    result = cross_validate(ni_data, model, "grouped", n_splits=5, seed=0, n_jobs=2)
    metrics = result.metrics()
    assert metrics["n"] == len(ni_data.y)
    assert metrics["accuracy"] > majority_accuracy(ni_data.y) + 0.1
    np.testing.assert_allclose(result.proba.sum(axis=1), 1.0, atol=1e-6)


def test_params_override_the_default_estimator(ni_data):
    # Three fully grown trees vote in thirds: the override reached the forest that was fitted.
    result = cross_validate(ni_data, "rf", "grouped", n_splits=5, seed=0, n_jobs=2, params={"n_estimators": 3})
    np.testing.assert_allclose(result.proba * 3, np.round(result.proba * 3), atol=1e-9)


def test_grouped_folds_keep_compositions_together(ni_data):
    from exafs_cn.learn._evaluate import splitter

    for train, test in splitter("grouped", 5, 0).split(ni_data.X, ni_data.y, ni_data.groups):
        assert not set(ni_data.groups[train]) & set(ni_data.groups[test])


@pytest.mark.parametrize("model", ["rf", "et", pytest.param("nn", marks=TORCH)])
def test_save_load_round_trip_predicts_identically(ni_data, model, tmp_path):
    estimator = make_model(model, random_state=0, n_jobs=1).fit(ni_data.X, ni_data.y)
    saved = SavedModel("Ni", model, "r", {"kmax": 12.0}, ni_data.classes, estimator)
    saved.save(tmp_path / "Ni" / f"{model}.model")
    loaded = SavedModel.load(tmp_path / "Ni" / f"{model}.model", element="Ni")
    np.testing.assert_array_equal(loaded.estimator.predict_proba(ni_data.X), estimator.predict_proba(ni_data.X))
    assert loaded.classes == ni_data.classes and loaded.feature_set == "r"


def test_experiments_write_a_report(data_slice, tmp_path):
    plan = replace(ExperimentPlan(), elements=("Ni", "Co"), models=("rf", "et_all"), feature_sets=("r", "k"), n_splits=3)
    results = run_experiments(
        Dataset(data_slice), plan, workers=2, progress=False, log=lambda m: None, cache_dir=tmp_path / "cache"
    )
    page = write_report(results, tmp_path)
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["protocol"] == "grouped"
    assert set(stored["per_element"]) == {"Ni", "Co"}
    assert 0 < stored["mean_best_accuracy"] <= 1 and 0 < stored["importance_share_below_3A"] < 1
    assert stored["per_element"]["Ni"]["rf"]["accuracy"] == results["per_element"]["Ni"]["rf"]["accuracy"]
    # et_all reads R, k and wavelet features; the study's models only R. Best-of is over both.
    assert stored["per_element"]["Co"]["et_all"]["n"] == stored["per_element"]["Co"]["rf"]["n"]
    assert stored["mean_best_study_model_accuracy"] <= stored["mean_best_accuracy"]
    # the feature sets are compared with 100-tree forests: R space is scored anew, not reused from the 300-tree one
    assert stored["plan"]["comparison_trees"] == 100 and set(stored["feature_sets"]["Ni"]) == {"r", "k"}
    assert all(0 < v <= 1 for v in stored["feature_sets"]["Ni"].values())
    assert set(stored["importance"]["Ni"]) == {"rf"}  # importance over R only for models that read R alone
    joint = stored["cross_element"]
    assert set(joint["per_element"]) == {"Ni", "Co"} and joint["n"] == sum(stored["per_element"][e]["n"] for e in ("Ni", "Co"))
    assert 0 < joint["mean_accuracy"] <= 1 and joint["features"] == ["r", "k", "wavelet"]
    assert joint["params"] == {"max_features": 0.2, "n_estimators": 200}  # recorded, as the models ran
    # the same test rows scored three ways: the joint model, one model per element, their vote
    for part in (joint["per_element_models"], joint["vote"]):
        assert {e: m["n"] for e, m in part["per_element"].items()} == {e: m["n"] for e, m in joint["per_element"].items()}
    assert stored["mean_accuracy_vote"] == joint["vote"]["mean_accuracy"]
    assert "rf" in stored["random_split"]["Ni"] and "et_all" not in stored["random_split"]["Ni"]  # the random forest only
    average = stored["average_cn"]
    assert set(average["per_element"]) == {"Ni", "Co"} and average["counts"]["mixture"] > 0
    for metrics in average["per_element"].values():
        assert 0 < metrics["mae"] < 3 and 0.5 < metrics["coverage_90"] <= 1 and metrics["n_mixtures"] > 0
    assert len(average["scatter"]["Ni"]["true"]) == len(average["scatter"]["Ni"]["kind"]) > 0
    shell = stored["first_shell"]
    assert set(shell["per_element"]) == {"Ni", "Co"} and shell["features"] == "r_complex"
    for metrics in shell["per_element"].values():
        # held-out R1 and its interval on FEFF spectra of compositions the models never saw
        assert 0 < metrics["mae_r1"] < 0.3 and 0.6 <= metrics["coverage_90"] <= 1 and metrics["median_width_90"] > 0
        assert 0 < metrics["neighbour_accuracy"] <= 1 and 0 <= metrics["within_0_02"] <= 1
        assert np.asarray(metrics["confusion"]).sum() == metrics["n"] == len(metrics["r1_true"]) == len(metrics["r1_predicted"])
        assert len(metrics["confusion"]) == len(metrics["neighbour_classes"])
    assert shell["mean_mae_r1"] == pytest.approx(np.mean([m["mae_r1"] for m in shell["per_element"].values()]), abs=1e-4)
    assert {"mean_neighbour_accuracy", "mean_coverage_90"} <= set(shell)
    for png in ("accuracy_per_element", "confusion_matrices", "importance_over_r", "feature_sets", "average_cn", "first_shell_r1", "first_shell_neighbours"):
        assert (tmp_path / f"{png}.png").stat().st_size > 5000
    text = page.read_text()
    assert "Confusion matrices" in text and "study (Zeng, Hu, Yao 2025)" in text and "Average CN" in text and "First shell" in text

    # The second run finds the features in the cache and gives the same numbers.
    cached = list((tmp_path / "cache").glob("features-*.npy"))
    # r, k, the wavelet features et_all reads and r_complex for the first shell; r and k of all
    # pairs, and of the mixtures, for the average CN
    assert len(cached) == 8
    again = run_experiments(
        Dataset(data_slice), plan, workers=2, progress=False, log=lambda m: None, cache_dir=tmp_path / "cache"
    )
    assert again["per_element"]["Ni"]["rf"]["accuracy"] == results["per_element"]["Ni"]["rf"]["accuracy"]
    for element, metrics in results["average_cn"]["per_element"].items():  # the same, seconds aside
        assert {k: v for k, v in again["average_cn"]["per_element"][element].items() if k != "fit_seconds"} == {
            k: v for k, v in metrics.items() if k != "fit_seconds"
        }


def test_a_plan_without_the_studys_models_has_no_random_split_and_still_reports(data_slice, tmp_path):
    plan = replace(
        ExperimentPlan(),
        elements=("Ni",),
        models=("rf_all",),
        feature_sets=("r",),
        n_splits=3,
        cross_element=False,
        average_cn=False,
        first_shell=False,
    )
    results = run_experiments(
        Dataset(data_slice), plan, workers=2, progress=False, log=lambda m: None, cache_dir=tmp_path / "cache"
    )
    assert results["random_split"] == {} and results["mean_best_accuracy_random_split"] is None
    assert results["importance"] == {} and "average_cn" not in results  # rf_all reads more than R; no regression asked for
    assert "first_shell" not in results
    text = write_report(results, tmp_path).read_text()
    assert "random split (random forest; the study's protocol)</td><td>-</td>" in text and "First shell" not in text


@pytest.mark.skipif(
    not Path(exafs_cn.__file__).resolve().is_relative_to(Path(__file__).resolve().parents[1]),
    reason="the package is installed apart from this checkout (pip install .): it has no checkout's data/ to find",
)
def test_train_and_reproduce_find_the_dataset_from_any_folder(data_slice, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from exafs_cn.cli import app
    from exafs_cn.datagen._dataset import DatasetError, locate_dataset

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EXAFS_CN_DATA", raising=False)
    monkeypatch.delenv("EXAFS_CN_MODELS", raising=False)
    checkout = Path(__file__).resolve().parents[1] / "data"
    assert locate_dataset().resolve() == checkout.resolve()  # the checkout this package is installed from
    monkeypatch.setenv("EXAFS_CN_DATA", str(data_slice))
    assert locate_dataset() == data_slice
    with pytest.raises(DatasetError, match="no-such-folder: no such dataset folder"):
        locate_dataset(tmp_path / "no-such-folder")
    result = CliRunner().invoke(app, ["train", "--elements", "Ni"])
    assert result.exit_code == 2 and "--models-dir DIR or $EXAFS_CN_MODELS" in result.stderr
    result = CliRunner().invoke(app, ["reproduce", "--data", str(tmp_path / "missing"), "--quick"])
    assert result.exit_code == 2 and "missing: no such dataset folder" in result.stderr


def test_reproduce_without_enough_spectra_says_why_and_writes_nothing(data_slice, tmp_path):
    import shutil

    from typer.testing import CliRunner

    from exafs_cn.cli import app

    small = tmp_path / "one_shard"
    (small / "spectra" / "fast").mkdir(parents=True)
    for name in ("labels.parquet", "label_failures.parquet", "provenance.json"):
        shutil.copy(data_slice / name, small / name)
    shutil.copy(data_slice / "spectra" / "fast" / "part-00000.parquet", small / "spectra" / "fast")
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["reproduce", "--data", str(small), "--elements", "Cr,Mn", "--quick", "--out", str(out), "--no-progress"]
    )
    assert result.exit_code == 2, result.output
    assert "no element has enough usable spectra for 5-fold CV" in result.stderr
    assert "Cr: fewer than two CN classes with 10+ spectra" in result.stderr
    assert not (out / "results.json").exists()
    trained = CliRunner().invoke(
        app,
        [
            "train",
            "--data",
            str(small),
            "--elements",
            "Cr,Mn",
            "--models",
            "rf",
            "--models-dir",
            str(tmp_path / "m"),
            "--no-progress",
            "--workers",
            "1",
        ],
    )
    assert trained.exit_code == 1 and "no model written" in trained.stderr


def _first_nickel(meta):
    return np.flatnonzero(meta["absorber"].to_numpy() == "Ni")[:20]


def _nickel_features(data_slice, cache, feature_sets):
    """The slice's first 20 Ni pairs through the feature cache in ``cache``."""
    from exafs_cn.learn._corpus import load_features

    return load_features(
        Dataset(data_slice), feature_sets, select=_first_nickel, select_key="ni20", cache_dir=cache, workers=1, progress=False
    )


def test_a_damaged_feature_cache_entry_is_rebuilt(data_slice, tmp_path):
    cache = tmp_path / "cache"
    _, first = _nickel_features(data_slice, cache, ["r"])
    (entry,) = cache.glob("features-r-*.npy")
    entry.write_bytes(entry.read_bytes()[:100])  # truncated, as a full disk or a kill would leave it
    _, again = _nickel_features(data_slice, cache, ["r"])
    np.testing.assert_array_equal(again["r"], first["r"])
    assert np.load(entry).shape == first["r"].shape


def test_a_feature_set_added_later_is_computed_alone_beside_the_cached_ones(data_slice, tmp_path):
    cache = tmp_path / "cache"
    meta, first = _nickel_features(data_slice, cache, ["r"])
    (r_entry,) = cache.glob("features-r-*.npy")
    stamp = r_entry.stat().st_mtime_ns
    again, both = _nickel_features(data_slice, cache, ["r", "shells"])
    assert r_entry.stat().st_mtime_ns == stamp  # R read back, not recomputed
    np.testing.assert_array_equal(both["r"], first["r"])
    all_meta, spectra = pair_spectra(Dataset(data_slice))
    fresh, _ = featurize_many([spectra[i] for i in _first_nickel(all_meta)], ("shells",), workers=1, progress=False)
    np.testing.assert_array_equal(both["shells"], fresh["shells"])
    assert again.equals(meta)

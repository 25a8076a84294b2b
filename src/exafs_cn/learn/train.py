"""Final models for prediction: one per absorber element and model family.

Trained for measured spectra, not only for FEFF's: each training spectrum comes with
``augment_copies`` distorted copies (:mod:`exafs_cn.learn.augment`), and the probabilities are
calibrated (isotonic) on held-out materials (:mod:`exafs_cn.learn.calibration`).
Before the final fit on everything, one grouped hold-out (a fifth of the materials)
measures what the closing note and the model file report: accuracy on clean and on
augmented held-out spectra, and the expected calibration error.

Files land in ``<models_dir>/<element>/<model>.joblib`` with the feature set, the
processing settings, the augmentation ranges and the CN classes, where ``predict``
looks for them. The default folder is ``$EXAFS_CN_MODELS`` or ``./models``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from exafs_cn.datagen.dataset import Dataset, now_iso
from exafs_cn.datagen.structures import METALS_3D
from exafs_cn.features import featurize_many, r_grid
from exafs_cn.learn.augment import DEFAULT_AUGMENTATION, Augmentation, augment_many
from exafs_cn.learn.calibration import calibrated, expected_calibration_error, top_label_ece
from exafs_cn.learn.corpus import pair_spectra
from exafs_cn.learn.evaluate import DEFAULT_MIN_CLASS_COUNT
from exafs_cn.learn.models import SavedModel, make_model
from exafs_cn.parallel import default_workers
from exafs_cn.settings import DEFAULT_SETTINGS, ProcessingSettings

#: Augmented copies per training spectrum for the prediction models.
DEFAULT_COPIES = 3
#: Trees per ensemble of a prediction model. With 300 (as in the CV experiments) the
#: per-tree overhead of scikit-learn was ~2/3 of a 70 ms end-to-end prediction
#: (benchmarks/predict.py under load); 100 trees cut that part threefold.
PREDICT_TREES = 100
#: Percentiles of the training |chi(R)| per CN kept with a model, for predict's plots.
BAND_PERCENTILES = (5, 50, 95)


def default_models_dir() -> Path:
    return Path(os.environ.get("EXAFS_CN_MODELS", "models"))


def model_path(models_dir: Path, element: str, model_name: str) -> Path:
    return Path(models_dir) / element / f"{model_name}.joblib"


def train_models(
    dataset: Dataset,
    models_dir: Path,
    *,
    model_names: Sequence[str] = ("rf",),
    feature_set: str = "r",
    elements: Sequence[str] = METALS_3D,
    settings: ProcessingSettings = DEFAULT_SETTINGS,
    preset: str = "fast",
    seed: int = 0,
    min_class_count: int = DEFAULT_MIN_CLASS_COUNT,
    augment_copies: int = DEFAULT_COPIES,
    augmentation: Augmentation = DEFAULT_AUGMENTATION,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    log=print,
) -> list[Path]:
    n_jobs = workers or default_workers()  # scikit-learn reads n_jobs=None as one core
    meta, spectra = pair_spectra(dataset, preset, settings)
    wanted = np.isin(meta["absorber"].to_numpy(), list(elements))
    meta = meta[wanted].reset_index(drop=True)
    spectra = [s for s, keep in zip(spectra, wanted) if keep]
    clean = featurize_many(spectra, [feature_set], settings, workers=workers, scheduler=scheduler, progress=progress)[0][feature_set]
    copies = (
        augment_many(spectra, feature_set, augment_copies, seed, settings, augmentation, workers=workers, scheduler=scheduler, progress=progress)
        if augment_copies
        else np.empty((len(spectra), 0, clean.shape[1]))
    )
    written = []
    pooled: dict[str, list[np.ndarray]] = {"confidence": [], "correct": []}
    for element in elements:
        rows = _usable_rows(meta, clean, element, min_class_count)
        if rows is None:
            log(f"{element}: fewer than two CN classes with {min_class_count}+ spectra; no model")
            continue
        y = meta.loc[rows, "pair_cn"].to_numpy(int)
        groups = meta.loc[rows, "formula"].to_numpy()
        classes = sorted(int(c) for c in np.unique(y))
        dropped = _dropped(meta, element, classes)
        for name in model_names:
            holdout, confidence, correct = _holdout_check(name, clean[rows], copies[rows], y, groups, seed, n_jobs)
            pooled["confidence"].append(confidence)
            pooled["correct"].append(correct)
            X_all, y_all, g_all = _stack(clean[rows], copies[rows], y, groups)
            estimator = calibrated(make_model(name, random_state=seed, n_jobs=n_jobs, n_estimators=PREDICT_TREES), X_all, y_all, g_all, seed)
            saved = SavedModel(
                element=element,
                model_name=name,
                feature_set=feature_set,
                settings=settings.to_dict(),
                classes=classes,
                estimator=estimator,
                metadata={
                    "trained": now_iso(),
                    "n_spectra": int(len(y)),
                    "n_training_rows": int(len(y_all)),
                    "dropped_classes": dropped,
                    "dataset": str(dataset.root),
                    "preset": preset,
                    "seed": seed,
                    "augment_copies": augment_copies,
                    "augmentation": augmentation.to_dict(),
                    "calibration": "isotonic (sklearn CalibratedClassifierCV), 3 folds grouped by composition",
                    "holdout": holdout,
                    "bands": _bands(X_all, y_all, classes, settings) if feature_set.startswith("r") else None,
                },
            )
            path = model_path(models_dir, element, name)
            saved.save(path)
            written.append(path)
            log(
                f"{element}: {name} on {len(y)} spectra (+{augment_copies} copies each), CN {classes}; held-out accuracy "
                f"{holdout['accuracy_clean']:.3f} clean / {holdout['accuracy_augmented']:.3f} augmented, "
                f"ECE {holdout['ece_augmented']:.3f} -> {path}"
            )
    if written:
        ece = top_label_ece(np.concatenate(pooled["confidence"]), np.concatenate(pooled["correct"]))
        log(f"held-out ECE on augmented spectra, pooled over {len(written)} models: {ece:.3f}")
    return written


def _usable_rows(meta, clean: np.ndarray, element: str, min_class_count: int) -> np.ndarray | None:
    """Rows of ``element`` with features, in CN classes common enough to learn (the CV rule)."""
    mask = (meta["absorber"].to_numpy() == element) & np.all(np.isfinite(clean), axis=1)
    cns = meta["pair_cn"].to_numpy()
    values, counts = np.unique(cns[mask], return_counts=True)
    common = values[counts >= min_class_count]
    rows = np.flatnonzero(mask & np.isin(cns, common))
    return rows if len(common) >= 2 else None


def _dropped(meta, element: str, classes: list[int]) -> dict[str, int]:
    cns = meta.loc[meta["absorber"] == element, "pair_cn"].astype(int)
    return {str(cn): int(n) for cn, n in cns.value_counts().sort_index().items() if cn not in classes}


def _stack(clean: np.ndarray, copies: np.ndarray, y: np.ndarray, groups: np.ndarray):
    """Clean rows then every copy; copies that failed to process (NaN) are left out."""
    n_copies = copies.shape[1]
    X = np.vstack([clean, copies.reshape(-1, clean.shape[1])])
    y_all = np.concatenate([y, np.repeat(y, n_copies)])
    g_all = np.concatenate([groups, np.repeat(groups, n_copies)])
    ok = np.all(np.isfinite(X), axis=1)
    return X[ok], y_all[ok], g_all[ok]


def _holdout_check(name: str, clean, copies, y, groups, seed: int, n_jobs: int | None) -> tuple[dict, np.ndarray, np.ndarray]:
    """Fit on four fifths of the materials, measure on the rest (clean and augmented).

    Also returns the augmented hold-out's confidences and hits, for an ECE pooled over elements.
    """
    train, test = next(StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=seed).split(clean, y, groups))
    X_tr, y_tr, g_tr = _stack(clean[train], copies[train], y[train], groups[train])
    model = calibrated(make_model(name, random_state=seed, n_jobs=n_jobs, n_estimators=PREDICT_TREES), X_tr, y_tr, g_tr, seed)
    out = {"n_test_spectra": int(len(test))}
    if copies.shape[1]:
        X_aug = copies[test].reshape(-1, clean.shape[1])
        y_aug = np.repeat(y[test], copies.shape[1])
        ok = np.all(np.isfinite(X_aug), axis=1)
        X_aug, y_aug = X_aug[ok], y_aug[ok]
    else:
        X_aug, y_aug = clean[test], y[test]
    for label, X, y_true in (("clean", clean[test], y[test]), ("augmented", X_aug, y_aug)):
        proba = model.predict_proba(X)
        confidence, correct = proba.max(axis=1), model.classes_[proba.argmax(axis=1)] == y_true
        out[f"accuracy_{label}"] = round(float(np.mean(correct)), 4)
        out[f"ece_{label}"] = round(expected_calibration_error(proba, y_true, model.classes_), 4)
    return out, confidence, correct  # the augmented pass's, the last


def _bands(X: np.ndarray, y: np.ndarray, classes: list[int], settings: ProcessingSettings) -> dict[str, list[list[float]]]:
    """Per CN: the 5th, 50th and 95th percentile of |chi(R)| over the training rows."""
    n = len(r_grid(settings))
    return {str(c): np.round(np.percentile(X[y == c, :n], BAND_PERCENTILES, axis=0), 4).tolist() for c in classes}

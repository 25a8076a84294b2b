"""The first shell, learnt: targets per (material, element) pair, and the models that predict them.

The site rows (``Dataset.first_shell``) are averaged over each pair's inequivalent sites with
the multiplicities of ``labels.parquet`` as weights (``datagen._first_shell.pair_first_shell``),
as the CN is; the neighbour target is the pair's dominant neighbour class. A pair with a site
CrystalNN could not take has no first-shell target.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from exafs_cn.datagen._dataset import SITE_KEY, Dataset, now_iso
from exafs_cn.datagen._first_shell import class_shares, dominant_class, pair_first_shell
from exafs_cn.elements import METALS_3D, NEIGHBOUR_CLASSES
from exafs_cn.learn._holdout import HOLDOUT_FOLDS, classifier_scores, holdout_passes, score_holdout, stack_copies
from exafs_cn.models._files import SavedModel, model_path
from exafs_cn.models._names import FIRST_SHELL_MODELS, R1_MODEL
from exafs_cn.models._quantile_forest import ConformalQuantileForest
from exafs_cn.parallel import default_workers
from exafs_cn.settings import DEFAULT_SETTINGS, ProcessingSettings

#: The inputs of the first-shell models: Re and Im of chi(R) below 6 A, which carry the phase
#: (|chi(R)| drops it). Chosen against |chi(R)| on grouped 5-fold CV, where it was better on
#: every figure (studies/first_shell.py; studies/results/first_shell_r*.json).
FIRST_SHELL_FEATURE_SET = "r_complex"


def pair_labels(dataset: Dataset) -> pd.DataFrame:
    """One row per (material, absorber) pair: ``r1``, ``r1_std`` (A), ``neighbour`` (dominant
    class), ``neighbour_shares`` (JSON {class: share}) and ``neighbours`` (JSON {element: count})."""
    sites = dataset.labels()[[*SITE_KEY, "multiplicity"]].merge(dataset.first_shell(), on=SITE_KEY, how="inner")
    rows = []
    for (material_id, absorber), group in sites.groupby(["material_id", "absorber"], sort=True):
        if group["reason"].notna().any():
            continue
        shell = pair_first_shell(group.to_dict("records"), group["multiplicity"].tolist())
        rows.append(
            {
                "material_id": material_id,
                "absorber": absorber,
                "r1": shell["r1"],
                "r1_std": shell["r1_std"],
                "neighbour": dominant_class(shell["neighbours"]),
                "neighbour_shares": json.dumps(class_shares(shell["neighbours"])),
                "neighbours": json.dumps(shell["neighbours"]),
            }
        )
    return pd.DataFrame(rows, columns=["material_id", "absorber", "r1", "r1_std", "neighbour", "neighbour_shares", "neighbours"])


def mixture_labels(mixtures: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """The first shell of designed mixtures: absorber-count-weighted over their components.

    A mixture's absorbers are split ``weights`` between its component pairs, as a pair's are
    between its sites by multiplicity, so the same average applies
    (:func:`~exafs_cn.datagen._first_shell.pair_first_shell`): ``r1`` the weighted mean of the
    components' R1, ``r1_std`` the spread of all neighbour distances, the neighbour counts
    weighted, and the dominant class of those.

    Parameters
    ----------
    mixtures : DataFrame
        ``design_mixtures``' rows: ``components`` (row numbers of ``pairs``) and ``weights``.
    pairs : DataFrame
        The component pairs' labels (:func:`pair_labels` rows, in the numbering of ``components``).

    Returns
    -------
    DataFrame
        One row per mixture, in order: ``r1``, ``r1_std``, ``neighbour``, ``neighbour_shares``
        and ``neighbours`` (JSON), as :func:`pair_labels` gives for a pair; NaN and None where a
        component has no label.

    Examples
    --------
    >>> pairs = pd.DataFrame({"r1": [2.0, 2.4], "r1_std": [0.0, 0.0], "neighbours": ['{"O": 6}', '{"Cl": 4}']})
    >>> mixes = pd.DataFrame({"components": [[0, 1]], "weights": [[0.75, 0.25]]})
    >>> row = mixture_labels(mixes, pairs).iloc[0]
    >>> round(float(row["r1"]), 3), row["neighbour"], row["neighbours"]
    (2.1, 'O', '{"Cl": 1.0, "O": 4.5}')
    """
    records = pairs.to_dict("records")
    rows = []
    for components, weights in zip(mixtures["components"], mixtures["weights"]):
        parts = [records[i] for i in components]
        if any(not isinstance(p.get("neighbours"), str) or not np.isfinite(p.get("r1", np.nan)) for p in parts):
            rows.append({"r1": np.nan, "r1_std": np.nan, "neighbour": None, "neighbour_shares": None, "neighbours": None})
            continue
        shell = pair_first_shell(parts, weights)
        rows.append(
            {
                "r1": shell["r1"],
                "r1_std": shell["r1_std"],
                "neighbour": dominant_class(shell["neighbours"]),
                "neighbour_shares": json.dumps(class_shares(shell["neighbours"])),
                "neighbours": json.dumps(shell["neighbours"]),
            }
        )
    return pd.DataFrame(rows, columns=["r1", "r1_std", "neighbour", "neighbour_shares", "neighbours"])


def fit_first_shell_models(
    data,
    labels: pd.DataFrame,
    models_dir,
    *,
    names=FIRST_SHELL_MODELS,
    elements=METALS_3D,
    settings: ProcessingSettings = DEFAULT_SETTINGS,
    seed: int = 0,
    n_estimators: int = 40,
    min_samples_leaf: int = 5,
    provenance: dict | None = None,
    workers: int | None = None,
    log=print,
) -> list:
    """Per element, the R1 regressor (median and 90% interval) and the neighbour classifier.

    ``data`` is the classifiers' training set (integer-CN pairs and their augmented copies),
    ``labels`` :func:`pair_labels`. Each model is checked on one held-out fold of compositions
    (clean, augmented and short-k spectra, figures in its file), then fitted on everything. The
    neighbour classes are stored as indices into ``NEIGHBOUR_CLASSES`` (``classes`` of the file).
    """
    from sklearn.base import clone
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedGroupKFold

    from exafs_cn.learn._calibration import calibrated

    n_jobs = workers or default_workers()
    meta = data.meta.merge(labels, on=["material_id", "absorber"], how="left", validate="many_to_one")
    written = []
    for element in elements:
        rows = np.flatnonzero((meta["absorber"].to_numpy() == element) & meta["r1"].notna().to_numpy() & np.all(np.isfinite(data.clean), axis=1))
        groups = meta["formula"].to_numpy()[rows]
        if len(set(groups)) < HOLDOUT_FOLDS:
            log(f"{element}: spectra of {len(set(groups))} compositions; the first-shell hold-out needs {HOLDOUT_FOLDS}; no model")
            continue
        clean, copies, copy_kmax = data.clean[rows], data.copies[rows], data.copy_kmax[rows]
        r1 = meta["r1"].to_numpy(float)[rows]
        neighbour = np.array([NEIGHBOUR_CLASSES.index(c) for c in meta["neighbour"].to_numpy()[rows]])
        train, test = next(StratifiedGroupKFold(HOLDOUT_FOLDS, shuffle=True, random_state=seed).split(clean, neighbour, groups))
        passes = holdout_passes(clean, copies, copy_kmax, test, r1, neighbour)
        X_all, (r1_all, neighbour_all), groups_all = stack_copies(clean, copies, (r1, neighbour), groups)
        for name in names:
            if name == R1_MODEL:
                template = ConformalQuantileForest(n_estimators=n_estimators, min_samples_leaf=min_samples_leaf, random_state=seed, n_jobs=n_jobs)
                X_tr, (y_tr,), g_tr = stack_copies(clean[train], copies[train], (r1[train],), groups[train])
                fitted = clone(template).fit(X_tr, y_tr, g_tr)

                def score(label, X, y, _n, fitted=fitted):
                    median, low, high = fitted.predict_with_interval(X)
                    return r1_metrics(y, median, low, high)

                holdout = score_holdout(passes, score)
                estimator = clone(template).fit(X_all, r1_all, groups_all)
                classes: list[int] = []
            else:
                template = RandomForestClassifier(n_estimators, min_samples_leaf=min_samples_leaf, random_state=seed, n_jobs=n_jobs)
                if len(np.unique(neighbour)) < 2:  # one class only: the answer is known, a model would say nothing
                    log(f"{element}: every training pair has {NEIGHBOUR_CLASSES[neighbour[0]]} neighbours; no {name} model")
                    continue
                X_tr, (y_tr,), g_tr = stack_copies(clean[train], copies[train], (neighbour[train],), groups[train])
                fitted = calibrated(clone(template), X_tr, y_tr, g_tr, seed)

                def score(label, X, _r, y, fitted=fitted):
                    return classifier_scores(fitted.predict_proba(X), y, fitted.classes_)

                holdout = score_holdout(passes, score)
                estimator = calibrated(clone(template), X_all, neighbour_all, groups_all, seed)
                classes = [int(c) for c in estimator.classes_]
            saved = SavedModel(
                element=element,
                model_name=name,
                feature_set=data.feature_set,
                settings=settings.to_dict(),
                classes=classes,
                estimator=estimator,
                metadata={
                    **(provenance or {}),
                    "trained": now_iso(),
                    "n_spectra": int(len(rows)),
                    "n_training_rows": int(len(X_all)),
                    "model_params": {"n_estimators": n_estimators, "min_samples_leaf": min_samples_leaf},
                    "target": R1_TARGET if name == R1_MODEL else NEIGHBOUR_TARGET,
                    "neighbour_classes": list(NEIGHBOUR_CLASSES),
                    "holdout": holdout,
                },
            )
            path = model_path(models_dir, element, name)
            saved.save(path)
            written.append(path)
            if name == R1_MODEL:
                summary = f"MAE {holdout['mae_r1_clean']:.3f} A clean / {holdout['mae_r1_augmented']:.3f} augmented, 90% coverage {holdout['coverage_90_augmented']:.2f}"
            else:
                summary = f"accuracy {holdout['accuracy_clean']:.3f} clean / {holdout['accuracy_augmented']:.3f} augmented"
            log(f"{element}: {name} on {len(rows)} spectra; held-out {summary}; {path.stat().st_size / 1e6:.1f} MB -> {path}")
    return written


#: What the models predict, recorded in their files.
R1_TARGET = "mean first-shell distance (A) of the CrystalNN neighbours, multiplicity-weighted over the sites (MP PBE cells)"
NEIGHBOUR_TARGET = "dominant neighbour class of the CrystalNN first shell (index into neighbour_classes)"


def r1_metrics(r1: np.ndarray, median: np.ndarray, low: np.ndarray, high: np.ndarray) -> dict:
    """MAE (A), share within 0.02 A, coverage and median width of the 90% interval."""
    error = np.abs(median - r1)
    return {
        "mae_r1": round(float(error.mean()), 4),
        "within_0_02": round(float(np.mean(error <= 0.02)), 4),
        "coverage_90": round(float(np.mean((r1 >= low) & (r1 <= high))), 4),
        "median_width_90": round(float(np.median(high - low)), 4),
        "n": int(len(r1)),
    }


def first_shell_cv(
    X: np.ndarray,
    r1: np.ndarray,
    neighbour: np.ndarray,
    groups: np.ndarray,
    *,
    n_splits: int = 5,
    seed: int = 0,
    n_estimators: int = 40,
    min_samples_leaf: int = 5,
    n_jobs: int | None = None,
) -> dict:
    """Grouped CV of one element's first-shell models on FEFF spectra: the ``first_shell`` entry
    of ``reproduce``'s results.json for that element.

    Folds are StratifiedGroupKFold over compositions, stratified by neighbour class, shuffled
    with ``seed``. The models are the shipped ones' kinds and sizes: a conformalized quantile
    forest for R1 (median, 90% interval) and a random forest for the neighbour class.

    Parameters
    ----------
    X : ndarray of shape (n, p)
        The spectra's features (``FIRST_SHELL_FEATURE_SET``).
    r1 : ndarray of shape (n,)
        The pairs' mean first-shell distance (A).
    neighbour : ndarray of shape (n,)
        The pairs' dominant neighbour class (names of ``NEIGHBOUR_CLASSES``).
    groups : ndarray of shape (n,)
        Compositions: no composition is on both sides of a split.

    Returns
    -------
    dict
        ``mae_r1``, ``within_0_02``, ``coverage_90``, ``median_width_90``, ``neighbour_accuracy``,
        ``neighbour_commonest`` (always the training folds' commonest class), ``n``, the
        ``confusion`` matrix over ``neighbour_classes`` (rows true, columns predicted) and
        ``r1_true`` / ``r1_predicted`` (for the report's scatter), ``fit_seconds``.
    """
    import time

    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import StratifiedGroupKFold

    started = time.perf_counter()
    predicted, low, high = np.full(len(r1), np.nan), np.full(len(r1), np.nan), np.full(len(r1), np.nan)
    neighbour_predicted = np.empty(len(r1), dtype=object)
    commonest_hit = np.zeros(len(r1), bool)
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for train, test in folds.split(X, neighbour, groups):
        forest = ConformalQuantileForest(n_estimators=n_estimators, min_samples_leaf=min_samples_leaf, random_state=seed, n_jobs=n_jobs)
        forest.fit(X[train], r1[train], groups[train])
        predicted[test], low[test], high[test] = forest.predict_with_interval(X[test])
        classifier = RandomForestClassifier(n_estimators, min_samples_leaf=min_samples_leaf, random_state=seed, n_jobs=n_jobs)
        neighbour_predicted[test] = classifier.fit(X[train], neighbour[train]).predict(X[test])
        commonest_hit[test] = neighbour[test] == pd.Series(neighbour[train]).mode()[0]
    classes = [c for c in NEIGHBOUR_CLASSES if c in set(neighbour) | set(neighbour_predicted)]
    scores = r1_metrics(r1, predicted, low, high)
    return {
        **scores,
        "neighbour_accuracy": round(float(np.mean(neighbour_predicted == neighbour)), 4),
        "neighbour_commonest": round(float(commonest_hit.mean()), 4),
        "neighbour_classes": classes,
        "confusion": confusion_matrix(neighbour, neighbour_predicted.astype(str), labels=classes).tolist(),
        "r1_true": np.round(r1, 4).tolist(),
        "r1_predicted": np.round(predicted, 4).tolist(),
        "fit_seconds": round(time.perf_counter() - started, 1),
    }

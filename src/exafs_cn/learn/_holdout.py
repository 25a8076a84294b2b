"""What the final models' hold-out check shares with the first-shell models': the grouped fold
kept apart, the clean / augmented / short-k passes over it, and the classifier figures.

``train`` (the CN classifiers and average-CN regressors) and ``first_shell`` (the R1 and
neighbour models) both measure a fifth of the materials held out before their final fit;
this module is what they share, so that neither imports the other.
"""

from __future__ import annotations

import numpy as np

from exafs_cn.learn._calibration import expected_calibration_error

#: The hold-out check keeps one of this many composition-grouped folds apart.
HOLDOUT_FOLDS = 5

#: Augmented copies whose data end below this k count as "short" in the hold-out report.
SHORT_K = 9.0


def stack_copies(clean: np.ndarray, copies: np.ndarray, targets: tuple[np.ndarray, ...], groups: np.ndarray):
    """Clean rows then every copy, with each target and the groups repeated to match:
    ``(X, targets, groups)``; copies that failed to process (NaN) are left out."""
    n_copies = copies.shape[1]
    X = np.vstack([clean, copies.reshape(-1, clean.shape[1])])
    ok = np.all(np.isfinite(X), axis=1)
    repeated = tuple(np.concatenate([y, np.repeat(y, n_copies)])[ok] for y in targets)
    return X[ok], repeated, np.concatenate([groups, np.repeat(groups, n_copies)])[ok]


def classifier_scores(proba: np.ndarray, y_true: np.ndarray, classes: np.ndarray) -> dict:
    """A classifier's hold-out figures from its probabilities: accuracy, top-label ECE, count."""
    return {
        "accuracy": round(float(np.mean(np.asarray(classes)[proba.argmax(axis=1)] == y_true)), 4),
        "ece": round(expected_calibration_error(proba, y_true, classes), 4),
        "n": int(len(y_true)),
    }


def holdout_passes(clean, copies, copy_kmax, test, *columns: np.ndarray) -> dict[str, tuple]:
    """The held-out rows three ways, each ``(X, *columns)``: clean, their augmented copies, and
    the copies whose data end before ``SHORT_K``; copies that gave NaN features left out."""
    n_copies = copies.shape[1]
    X_aug = copies[test].reshape(-1, clean.shape[1])
    copied = [np.repeat(column[test], n_copies) for column in columns]
    ok = np.all(np.isfinite(X_aug), axis=1)
    short = ok & (copy_kmax[test].ravel() < SHORT_K)
    passes = {"clean": (clean[test], *(column[test] for column in columns))}
    if ok.any():
        passes["augmented"] = (X_aug[ok], *(column[ok] for column in copied))
    if short.any():
        passes["short_k"] = (X_aug[short], *(column[short] for column in copied))
    return passes


def score_holdout(passes: dict[str, tuple], score) -> dict:
    """``score(label, X, *columns)``'s figures for every pass, named ``<figure>_<pass>``; where
    there are no copies the clean pass stands in for the augmented one."""
    out = {"n_test_spectra": int(len(passes["clean"][0]))}
    for label, args in passes.items():
        out.update({f"{key}_{label}": value for key, value in score(label, *args).items()})
    if "augmented" not in passes:
        out.update({key.replace("_clean", "_augmented"): value for key, value in list(out.items()) if key.endswith("_clean")})
    return out

"""Cross-validation protocols and metrics, per absorber element.

Two protocols, same models, same features:

* ``random``: stratified 5-fold over spectra, as in the study;
* ``grouped``: stratified 5-fold where every spectrum of one composition (reduced
  formula: a material and its polymorphs) lands in a single fold, so no material is
  on both sides of a split. This is the protocol exafs-cn quotes.

Rare classes: a CN with fewer than ``min_class_count`` spectra of an element cannot be
stratified over 5 folds; such classes are dropped for that element and reported
(``dropped_classes``), never silently merged into a neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from exafs_cn.exceptions import UnknownNameError
from exafs_cn.learn._models import make_model, tree_importances

PROTOCOLS = ("grouped", "random")
DEFAULT_MIN_CLASS_COUNT = 10


@dataclass
class ElementData:
    """Feature matrix, CN labels and split groups of one absorber element."""

    element: str
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    ids: np.ndarray
    dropped_classes: dict[int, int] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        element: str,
        X: np.ndarray,
        y: np.ndarray,
        groups: np.ndarray,
        ids: np.ndarray,
        min_class_count: int = DEFAULT_MIN_CLASS_COUNT,
    ) -> ElementData:
        """Drop rows without features and classes too rare to stratify."""
        finite = np.all(np.isfinite(X), axis=1)
        X, y, groups, ids = X[finite], y[finite], groups[finite], ids[finite]
        values, counts = np.unique(y, return_counts=True)
        rare = {int(v): int(c) for v, c in zip(values, counts) if c < min_class_count}
        keep = ~np.isin(y, list(rare))
        return cls(element, X[keep], y[keep], groups[keep], ids[keep], rare)

    @property
    def classes(self) -> list[int]:
        return [int(c) for c in np.unique(self.y)]


def splitter(protocol: str, n_splits: int, seed: int):
    if protocol == "random":
        return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    if protocol == "grouped":
        return StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    raise UnknownNameError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")


@dataclass
class CVResult:
    """Out-of-fold predictions of one model on one element under one protocol."""

    element: str
    model: str
    protocol: str
    classes: list[int]
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray
    importances: np.ndarray | None
    fit_seconds: float

    def metrics(self) -> dict:
        return classification_metrics(self.y_true, self.y_pred, self.classes)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[int]) -> dict:
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", labels=classes, zero_division=0)),
        "mean_abs_cn_error": float(np.mean(np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float)))),
        "within_one": float(np.mean(np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float)) <= 1)),
        "classes": classes,
        "confusion": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    }


def majority_accuracy(y: np.ndarray) -> float:
    """Accuracy of always answering the commonest CN: the bar every model must clear."""
    _, counts = np.unique(y, return_counts=True)
    return float(counts.max() / counts.sum())


def cross_validate(
    data: ElementData,
    model_name: str,
    protocol: str,
    n_splits: int = 5,
    seed: int = 0,
    n_jobs: int | None = None,
    params: dict | None = None,
) -> CVResult:
    """Out-of-fold predictions; each fold fits a fresh clone of the same estimator.

    ``params`` are ``set_params`` overrides of :func:`make_model`'s estimator (fewer
    trees for a quick run, no class weights for an ablation), so variants differ from the
    default in exactly what they name.
    """
    import time

    template = make_model(model_name, random_state=seed, n_jobs=n_jobs).set_params(**(params or {}))
    classes = data.classes
    y_pred = np.empty_like(data.y)
    proba = np.zeros((len(data.y), len(classes)))
    importances = []
    seconds = 0.0
    groups = data.groups if protocol == "grouped" else None  # StratifiedKFold takes none
    for train, test in splitter(protocol, n_splits, seed).split(data.X, data.y, groups):
        model = clone(template)
        start = time.perf_counter()
        model.fit(data.X[train], data.y[train])
        seconds += time.perf_counter() - start
        fold_proba = model.predict_proba(data.X[test])
        columns = [classes.index(int(c)) for c in model.classes_]
        proba[np.ix_(test, columns)] = fold_proba
        y_pred[test] = np.asarray(model.classes_)[np.argmax(fold_proba, axis=1)]
        fold_importance = tree_importances(model)
        if fold_importance is not None:
            importances.append(fold_importance)
    return CVResult(
        element=data.element,
        model=model_name,
        protocol=protocol,
        classes=classes,
        y_true=data.y,
        y_pred=y_pred,
        proba=proba,
        importances=np.mean(importances, axis=0) if importances else None,
        fit_seconds=seconds,
    )

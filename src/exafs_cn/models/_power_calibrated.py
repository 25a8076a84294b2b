"""A classifier whose probabilities are raised to one exponent fitted out of fold.

Why one exponent (and not per-class isotonic or temperature scaling):
``exafs_cn.learn._calibration``, which trains it (``calibrated``) and measures ECE.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from exafs_cn.models._measured_calibration import PowerCalibration


class PowerCalibratedClassifier(ClassifierMixin, BaseEstimator):
    """A classifier whose probabilities are raised to one exponent fitted out of fold.

    Parameters
    ----------
    estimator : classifier
        Any scikit-learn classifier with ``predict_proba``.
    n_splits : int
        Folds (grouped and stratified) for the out-of-fold probabilities.
    random_state : int
        Seed of the folds.

    Examples
    --------
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> X, y = np.random.default_rng(0).normal(size=(60, 3)), np.repeat([4, 6], 30)
    >>> model = PowerCalibratedClassifier(RandomForestClassifier(20, random_state=0)).fit(X, y, groups=np.arange(60) // 2)
    >>> model.predict_proba(X[:2]).shape
    (2, 2)
    """

    def __init__(self, estimator=None, n_splits: int = 3, random_state: int = 0):
        self.estimator = estimator
        self.n_splits = n_splits
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> PowerCalibratedClassifier:
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        groups = np.arange(len(y)) if groups is None else groups
        splits = list(StratifiedGroupKFold(self.n_splits, shuffle=True, random_state=self.random_state).split(X, y, groups))
        out_of_fold = cross_val_predict(clone(self.estimator), X, y, cv=splits, method="predict_proba")
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        index = np.searchsorted(self.classes_, y)
        self.exponent_ = PowerCalibration.fit(list(out_of_fold), list(index)).exponent
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "exponent_")
        # Files of 0.2 were fitted before n_features_in_ was set here: the forest inside checks.
        X = validate_data(self, X, reset=False) if hasattr(self, "n_features_in_") else X
        return PowerCalibration(self.exponent_).apply(self.estimator_.predict_proba(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        proba = self.predict_proba(X)  # first: it says NotFittedError where the model is not fitted
        return self.classes_[np.argmax(proba, axis=1)]

"""The average-CN estimator: a conformalized quantile regression forest (median CN, 90% interval).

Why this estimator and how it was chosen: ``exafs_cn.learn._average_cn``. The forest is
scikit-learn's ``RandomForestRegressor``; what this module adds is the leaf bookkeeping
(training targets and leaf of every training row) and the quantiles.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sparse
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted, validate_data

#: The interval's target coverage, everywhere exafs-cn reports a mean CN.
COVERAGE = 0.9
#: Lower quantiles of the forest the conformal step may start from (upper: 1 - tail).
CANDIDATE_TAILS = (0.05, 0.1, 0.15, 0.2, 0.25)


class ConformalQuantileForest(RegressorMixin, BaseEstimator):
    """Median CN and a conformal interval from a quantile regression forest.

    ``fit(X, y, groups)``: one group-fold of the rows (a block of materials and their
    mixtures, see :mod:`exafs_cn.learn._mixtures`) is held out to learn the interval's
    margin; the forest is then refitted on all rows. ``predict`` is the median,
    ``predict_interval`` the ``coverage`` interval.
    """

    def __init__(
        self,
        n_estimators: int = 100,
        min_samples_leaf: int = 5,
        max_features: float | str | None = "sqrt",
        coverage: float = COVERAGE,
        calibration_folds: int = 4,
        random_state: int = 0,
        n_jobs: int | None = None,
    ):
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.coverage = coverage
        self.calibration_folds = calibration_folds
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y, groups=None):
        X, y = validate_data(self, X, y, dtype=np.float32, y_numeric=True)
        y = np.asarray(y, float)
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        n_folds = min(self.calibration_folds, len(set(groups)))
        if n_folds < 2:
            raise ValueError(
                f"ConformalQuantileForest needs rows of at least two groups to calibrate its interval (n_samples={len(y)})"
            )
        fit_rows, calibration = next(GroupKFold(n_splits=n_folds).split(X, y, groups))
        self._fit_forest(X[fit_rows], y[fit_rows])
        self.tail_, self.margin_ = self._calibrate(X[calibration], y[calibration])
        self.n_calibration_ = int(len(calibration))
        return self._fit_forest(X, y)

    def _calibrate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """The forest's quantile pair and CQR margin that give the narrowest interval on
        held-out rows at ``coverage``.

        Most CNs are integers, so a forest's 5-95% range often ends exactly on the true
        CN and already covers ~96%: the margin cannot go below zero there, and the
        interval is wider than it needs to be. Starting from a narrower quantile pair
        and letting the margin widen it reaches the coverage with less width; which pair
        is best is read off the held-out rows, never off the test data.
        """
        n = len(y)
        level = min(1.0, np.ceil((n + 1) * self.coverage) / n)
        best = None
        # One pass over the leaves for every candidate pair: the weights are the costly part.
        quantiles = self.predict_quantiles(X, [q for tail in CANDIDATE_TAILS for q in (tail, 1.0 - tail)])
        for tail, low, high in zip(CANDIDATE_TAILS, quantiles[::2], quantiles[1::2]):
            margin = float(np.quantile(np.maximum(low - y, y - high), level, method="higher"))
            width = float(np.median(high - low)) + 2 * margin
            if best is None or width < best[0] - 1e-9:
                best = (width, tail, margin)
        return best[1], best[2]

    def _fit_forest(self, X: np.ndarray, y: np.ndarray):
        forest = RandomForestRegressor(
            n_estimators=self.n_estimators,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        ).fit(X, y)
        order = np.argsort(y, kind="stable")
        self.forest_ = forest
        self.y_train_ = y[order]
        # Leaf ids are node numbers: the smallest unsigned type that holds them keeps a
        # shipped model's bookkeeping small (uint16 for every forest we train).
        nodes = max(tree.tree_.node_count for tree in forest.estimators_)
        self.train_leaves_ = forest.apply(X[order]).astype(np.min_scalar_type(nodes))
        self.__dict__.pop("_members", None)
        return self

    def _leaf_members(self) -> list[sparse.csr_matrix]:
        """Per tree, (nodes x training rows) with each leaf's rows sharing 1; built once per model."""
        if "_members" not in self.__dict__:
            n_train = len(self.y_train_)
            members = []
            for t, tree in enumerate(self.forest_.estimators_):
                leaf = self.train_leaves_[:, t].astype(np.intp)
                sizes = np.bincount(leaf, minlength=tree.tree_.node_count)
                members.append(sparse.csr_matrix((1.0 / sizes[leaf], (leaf, np.arange(n_train))), shape=(tree.tree_.node_count, n_train)))
            self._members = members
        return self._members

    def __getstate__(self) -> dict:
        """Without the leaf matrices: they are rebuilt from ``train_leaves_`` on first use."""
        state = super().__getstate__()
        state.pop("_members", None)
        return state

    def leaf_weights(self, X) -> np.ndarray:
        """(rows of X, training rows): each tree gives its leaf's training rows equal shares."""
        check_is_fitted(self, "forest_")
        # Files of 0.2 were fitted before n_features_in_ was set here: the forest inside checks.
        X = validate_data(self, X, dtype=np.float32, reset=False) if hasattr(self, "n_features_in_") else X
        leaves = self.forest_.apply(np.asarray(X, np.float32))
        weights = np.zeros((len(leaves), len(self.y_train_)))
        for t, members in enumerate(self._leaf_members()):
            weights += members[leaves[:, t]].toarray()
        return weights / len(self.forest_.estimators_)

    def predict_quantiles(self, X, quantiles) -> list[np.ndarray]:
        """Weighted quantiles of the training CNs, interpolated between neighbouring values."""
        weights = self.leaf_weights(X)
        out = np.empty((len(quantiles), len(weights)))
        for i, w in enumerate(weights):
            used = w > 0
            cumulative = np.cumsum(w[used])
            midpoints = cumulative - w[used] / 2
            out[:, i] = np.interp(quantiles, midpoints, self.y_train_[used])
        return list(out)

    def predict(self, X) -> np.ndarray:
        return self.predict_quantiles(X, [0.5])[0]

    def predict_interval(self, X) -> tuple[np.ndarray, np.ndarray]:
        """The ``coverage`` interval (see :meth:`predict_with_interval`)."""
        return self.predict_with_interval(X)[1:]

    def predict_with_interval(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Median, and the ``coverage`` interval: never without the median, never below CN 0.

        One pass over the leaves for both. The margin may be negative (the forest's
        quantiles were wider than needed); the interval is then narrowed, but not past
        the median it is reported with.
        """
        check_is_fitted(self, "margin_")
        low, median, high = self.predict_quantiles(X, (self.tail_, 0.5, 1.0 - self.tail_))
        low, high = np.minimum(low - self.margin_, median), np.maximum(high + self.margin_, median)
        return median, np.clip(low, 0.0, None), high

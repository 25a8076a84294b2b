"""Classifiers in scikit-learn's shape, the torch net included.

Every model is built by :func:`make_model` from a name, so evaluation, training and
prediction construct exactly the same estimator. The study's net (in -> 512 -> 512,
ReLU, dropout, one output per CN class) is ``exafs_cn.models._torch_mlp.TorchMLPClassifier``,
wrapped so it has ``fit``/``predict_proba``/``classes_`` like the tree ensembles and can sit
in a ``Pipeline`` or be cloned by cross-validation. The family names are
``exafs_cn.models._names.MODEL_NAMES``.
"""

from __future__ import annotations

import importlib.util

import numpy as np
from sklearn.ensemble import (
    BaggingClassifier,
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    VotingClassifier,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from exafs_cn.exceptions import MissingExtraError, UnknownNameError
from exafs_cn.models._names import MODEL_NAMES
from exafs_cn.models._torch_mlp import TorchMLPClassifier

#: Families for cross-validation only: their files would need types outside the trusted
#: list of :mod:`exafs_cn.models._files`, so ``train`` does not offer them.
CV_ONLY_NAMES = ("lgbm", "rf_lgbm")


#: Families that need an optional dependency: (module, the extra that installs it).
NEEDS_EXTRA = {"nn": ("torch", "nn"), "lgbm": ("lightgbm", "boost"), "rf_lgbm": ("lightgbm", "boost")}


def missing_extra(name: str) -> str | None:
    """Why ``name`` cannot be built here (its optional dependency is missing), or None.

    Examples
    --------
    >>> missing_extra("rf") is None
    True
    """
    if name not in NEEDS_EXTRA:
        return None
    module, extra = NEEDS_EXTRA[name]
    if importlib.util.find_spec(module) is not None:
        return None
    return f"the {name} model needs {module}, which is not installed: pip install 'exafs-cn[{extra}]'"


def make_model(name: str, random_state: int = 0, n_jobs: int | None = None, n_estimators: int | None = None):
    """A fresh, unfitted estimator for ``name``; one place defines each family.

    Raises MissingExtraError for a family whose optional dependency (torch, lightgbm) is
    not installed.

    ``n_estimators`` overrides the ensemble size (prediction models use fewer trees:
    scikit-learn's per-tree overhead dominates the time of a single prediction).
    """
    reason = missing_extra(name)
    if reason:
        raise MissingExtraError(reason)
    if name == "rf":
        return RandomForestClassifier(
            n_estimators=n_estimators or 300, class_weight="balanced_subsample", n_jobs=n_jobs, random_state=random_state
        )
    if name == "bagging":
        # Full-depth trees on all features cost ~6x an RF tree: 25 of them (scikit-learn's
        # default is 10; the study does not say) keep the 10-element CV within budget.
        return BaggingClassifier(
            DecisionTreeClassifier(class_weight="balanced"), n_estimators=n_estimators or 25, n_jobs=n_jobs, random_state=random_state
        )
    if name == "nn":
        return Pipeline([("scale", StandardScaler()), ("net", TorchMLPClassifier(random_state=random_state))])
    if name == "hgb":
        return HistGradientBoostingClassifier(
            max_iter=300, learning_rate=0.1, class_weight="balanced", early_stopping=True, random_state=random_state
        )
    if name == "et":
        # Split points drawn at random: less variance than the RF's best splits on
        # hundreds of strongly correlated spectral inputs, and faster to fit.
        return ExtraTreesClassifier(n_estimators=n_estimators or 300, n_jobs=n_jobs, random_state=random_state)
    if name == "lgbm":
        return _lightgbm(random_state, n_jobs, n_estimators)
    if name == "rf_lgbm":
        # Soft vote of the two strongest families in the ablations: the unweighted RF
        # (rf_all's) and LightGBM; they err differently (bagged deep trees, boosted shallow ones).
        forest = RandomForestClassifier(n_estimators=n_estimators or 300, n_jobs=n_jobs, random_state=random_state)
        return VotingClassifier([("rf", forest), ("lgbm", _lightgbm(random_state, n_jobs, None))], voting="soft")
    raise UnknownNameError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES + CV_ONLY_NAMES)}")


def _lightgbm(random_state: int, n_jobs: int | None, n_estimators: int | None):
    """Histogram gradient boosting, multi-threaded: ~10x faster than scikit-learn's HGB on many CN classes.

    Column subsampling (30% per tree) suits ~900 strongly correlated inputs (R, k, wavelet).
    """
    from lightgbm import LGBMClassifier

    return LGBMClassifier(
        n_estimators=n_estimators or 300,
        learning_rate=0.05,
        num_leaves=31,
        min_child_samples=5,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.3,
        n_jobs=n_jobs or 1,
        random_state=random_state,
        verbose=-1,
    )


def tree_importances(model) -> np.ndarray | None:
    """Gini importance per feature for the tree ensembles (None for the others)."""
    if isinstance(model, (RandomForestClassifier, ExtraTreesClassifier)):
        return model.feature_importances_
    if isinstance(model, BaggingClassifier):
        return np.mean([tree.feature_importances_ for tree in model.estimators_], axis=0)
    return None

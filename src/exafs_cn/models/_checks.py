"""What a model file may hold, and the checks its trees pass before their first use.

A model archive (:mod:`exafs_cn.models._archive`) builds only the classes it is told
to allow, but it builds them as stored: a scikit-learn ``Tree`` is a C structure whose
node arrays (child indices, split features) its prediction loop follows without bounds
checks. A file whose tree has a child index of 1e12 crashes the process, a split feature
past the inputs reads memory outside the array (an answer computed from garbage), and a
node that is its own child loops forever. So a file is checked twice:

1. while it is read: every class it names must be in :data:`ALLOWED_TYPES` (checked
   before anything is built), and each tree's constructor arguments must agree
   (:data:`CONSTRUCTOR_CHECKS`; scikit-learn's constructor trusts them);
2. after it is built and before it is used: every tree anywhere in the estimator is
   walked (:func:`check_estimator`): children in range and later than their parent
   (so the walk from the root ends), every node but the root the child of exactly one
   node, split features below the model's number of inputs, finite thresholds and
   values of the shape the tree says, the node count equal to the arrays' length.

A file that fails either is refused with one line naming it; nothing of it is run.
"""

from __future__ import annotations

import numpy as np

from exafs_cn.exceptions import ModelCheckError
from exafs_cn.models._archive import type_name
from exafs_cn.models._power_calibrated import PowerCalibratedClassifier
from exafs_cn.models._quantile_forest import ConformalQuantileForest
from exafs_cn.models._torch_mlp import TorchMLPClassifier

#: Our estimators a model file may hold, named as the archive names them (from the classes: a
#: name written out goes stale when a module moves).
OUR_ESTIMATORS = tuple(type_name(kind) for kind in (ConformalQuantileForest, PowerCalibratedClassifier, TorchMLPClassifier))
#: Our estimators that moved module since files were written, read under today's name, nothing
#: else allowed by it: 0.3.0 and earlier name them by their old place in ``exafs_cn.learn``,
#: files written before the modules were made private (0.4.0 development) by ``exafs_cn.models``'
#: public module names.
RENAMED_TYPES = {
    old: type_name(kind)
    for kind, earlier in (
        (ConformalQuantileForest, ("exafs_cn.learn.average_cn.ConformalQuantileForest", "exafs_cn.models.quantile_forest.ConformalQuantileForest")),
        (PowerCalibratedClassifier, ("exafs_cn.learn.calibration.PowerCalibratedClassifier", "exafs_cn.models.power_calibrated.PowerCalibratedClassifier")),
        (TorchMLPClassifier, ("exafs_cn.learn.models.TorchMLPClassifier", "exafs_cn.models.torch_mlp.TorchMLPClassifier")),
    )
    for old in earlier
}
#: Every class a model file written by exafs-cn holds (``module.Class``); a file naming any
#: other is refused before anything in it is built. Values (numbers, text, lists, dicts,
#: numpy arrays and scalars) are the archive's own forms and need no entry.
ALLOWED_TYPES = frozenset(
    {
        "numpy.random._pcg64.PCG64",
        *OUR_ESTIMATORS,
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration.CalibratedClassifierCV",
        "sklearn.isotonic.IsotonicRegression",
        "sklearn.ensemble._bagging.BaggingClassifier",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss._loss.CyHalfMultinomialLoss",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._label.LabelEncoder",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.tree._tree.Tree",
    }
)


def check_tree_arguments(n_features: object, n_classes: object, n_outputs: object) -> None:
    """ModelCheckError unless ``Tree(n_features, n_classes, n_outputs)`` may be called:
    scikit-learn's constructor copies ``n_outputs`` entries of ``n_classes`` without
    checking its length, before any state is set."""
    if not (type(n_features) is int and 0 < n_features < 10**6 and type(n_outputs) is int and 0 < n_outputs <= 64):
        raise ModelCheckError(f"a tree's number of inputs {n_features!r} or outputs {n_outputs!r} is out of range")
    if not isinstance(n_classes, np.ndarray) or n_classes.shape != (n_outputs,) or n_classes.dtype.kind not in "iu":
        raise ModelCheckError(f"a tree's class counts do not match its {n_outputs} outputs")
    if n_classes.min() < 1 or n_classes.max() > 10**4:
        raise ModelCheckError("a tree's class counts are out of range")


#: Checks of constructor arguments, by class, run before a class that reduces to a
#: constructor call is called (see :func:`exafs_cn.models._archive.load`).
CONSTRUCTOR_CHECKS = {"sklearn.tree._tree.Tree": check_tree_arguments}


def check_estimator(estimator: object) -> None:
    """ModelCheckError unless every tree in ``estimator`` is safe to walk (see the module).

    Every estimator inside must take the same number of inputs (exafs-cn's models never
    give a tree a subset of the features), and every tree's split features lie below it.

    Examples
    --------
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> X, y = np.random.default_rng(0).normal(size=(40, 3)), np.repeat([4, 6], 20)
    >>> forest = RandomForestClassifier(5, random_state=0).fit(X, y)
    >>> check_estimator(forest)  # trees as scikit-learn built them pass
    >>> forest.estimators_[0].tree_.children_left[0] = 0  # the root its own child
    >>> check_estimator(forest)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    exafs_cn.exceptions.ModelCheckError: a tree has a child index outside its 19 nodes or not after its parent
    """
    members = list(_members(estimator))
    inputs = {_n_inputs(obj) for obj in members if hasattr(obj, "get_params") and hasattr(obj, "n_features_in_")}
    if len(inputs) > 1:
        raise ModelCheckError(f"its estimators take different numbers of inputs ({', '.join(map(str, sorted(inputs)))})")
    n_features = inputs.pop() if inputs else None
    for obj in members:
        _check_quiet(obj)
        if _is_type(obj, "sklearn.tree._tree.Tree"):
            _check_tree(obj, n_features)
        elif _is_type(obj, "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"):
            _check_hgb_predictor(obj, n_features)
        elif type(obj) is ConformalQuantileForest:  # the class, not its name: a name goes stale when the module moves
            _check_quantile_forest(obj)


def _check_quiet(obj: object) -> None:
    """Nothing a model file sets may print: ``verbose`` (joblib's and the trees' progress lines,
    which would land in ``--json`` stdout) must be off in every estimator inside."""
    state = getattr(obj, "__dict__", None)
    if not isinstance(state, dict) or "verbose" not in state or not hasattr(obj, "get_params"):
        return
    verbose = state["verbose"]
    if not (isinstance(verbose, (bool, int, np.integer)) and int(verbose) == 0):
        raise ModelCheckError(f"{type(obj).__name__}.verbose is {verbose!r}; exafs-cn's models are saved with 0 (nothing may print)")


def _n_inputs(estimator: object) -> int:
    inputs = estimator.n_features_in_
    if not isinstance(inputs, (int, np.integer)) or not 0 < int(inputs) < 10**6:
        raise ModelCheckError(f"{type(estimator).__name__}.n_features_in_ {inputs!r} is not a number of inputs")
    return int(inputs)


def _members(root: object):
    """Every object reachable from ``root`` through attributes, lists, tuples and dicts, each once."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if obj is None or id(obj) in seen or isinstance(obj, (str, bytes, int, float, np.ndarray, np.generic)):
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif not _is_type(obj, "sklearn.tree._tree.Tree"):  # a C structure: its arrays are checked, not walked
            stack.extend(getattr(obj, "__dict__", {}).values())


def _is_type(obj: object, name: str) -> bool:
    return type_name(type(obj)) == name


def _check_tree(tree, n_features: int | None) -> None:
    # First, before any array is read: __getstate__ reads node_count nodes from a buffer
    # that holds capacity of them.
    if tree.node_count != tree.capacity or tree.node_count < 1:
        raise ModelCheckError(f"a tree says {tree.node_count} nodes but holds {tree.capacity}")
    state = tree.__getstate__()
    nodes, values = state["nodes"], state["values"]
    count = len(nodes)
    if state["node_count"] != count or tree.node_count != count or count < 1:
        raise ModelCheckError(f"a tree says {state['node_count']} nodes but holds {count}")
    if n_features is not None and tree.n_features != n_features:
        raise ModelCheckError(f"a tree takes {tree.n_features} inputs, the model {n_features}")
    if values.shape != (count, tree.n_outputs, tree.max_n_classes) or not np.all(np.isfinite(values)):
        raise ModelCheckError("a tree's leaf values are not finite numbers of the tree's shape")
    _check_children(nodes["left_child"], nodes["right_child"], leaf=nodes["left_child"] == -1, what="a tree")
    inner = nodes["left_child"] != -1
    features = nodes["feature"][inner]
    if features.size and (features.min() < 0 or features.max() >= tree.n_features):
        raise ModelCheckError(f"a tree splits on input {int(features.max())}, the model has {tree.n_features}")
    if not np.all(np.isfinite(nodes["threshold"][inner])):
        raise ModelCheckError("a tree has a split threshold that is not a finite number")


def _check_children(left: np.ndarray, right: np.ndarray, leaf: np.ndarray, what: str) -> None:
    """Children of inner nodes after their parent and inside the arrays; each node but the
    root some node's child exactly once. Leaves' children are not followed."""
    count = len(left)
    index = np.arange(count)
    inner = ~leaf
    left, right = left.astype(np.int64), right.astype(np.int64)
    for child in (left[inner], right[inner]):
        if child.size and (np.any(child <= index[inner]) or child.max() >= count):
            raise ModelCheckError(f"{what} has a child index outside its {count} nodes or not after its parent")
    children = np.concatenate([left[inner], right[inner]])
    if children.size != count - 1 or not np.array_equal(np.sort(children), index[1:]):
        raise ModelCheckError(f"{what}'s nodes do not form one tree")


def _check_hgb_predictor(predictor, n_features: int | None) -> None:
    nodes = predictor.nodes
    if nodes.ndim != 1 or len(nodes) < 1:
        raise ModelCheckError("a boosting tree has no nodes")
    leaf = nodes["is_leaf"].astype(bool)
    _check_children(nodes["left"], nodes["right"], leaf=leaf, what="a boosting tree")
    if np.any(nodes["is_categorical"]):
        raise ModelCheckError("a boosting tree splits on categories, which exafs-cn models never do")
    features = nodes["feature_idx"][~leaf]
    if features.size and (features.min() < 0 or (n_features is not None and features.max() >= n_features)):
        raise ModelCheckError(f"a boosting tree splits on input {int(features.max())}, the model has {n_features}")
    if not np.all(np.isfinite(nodes["value"][leaf])):
        raise ModelCheckError("a boosting tree's leaf values are not finite")


def _check_quantile_forest(model) -> None:
    """The leaf bookkeeping agrees with the forest: one leaf per training row and tree."""
    trees = getattr(getattr(model, "forest_", None), "estimators_", [])
    leaves, targets = getattr(model, "train_leaves_", None), getattr(model, "y_train_", None)
    if not isinstance(leaves, np.ndarray) or not isinstance(targets, np.ndarray):
        raise ModelCheckError("the average-CN model has no leaf bookkeeping")
    if leaves.ndim != 2 or leaves.shape != (len(targets), len(trees)) or not np.all(np.isfinite(targets)):
        raise ModelCheckError("the average-CN model's leaf bookkeeping does not match its forest")
    for column, tree in enumerate(trees):
        if leaves.size and (leaves[:, column].min() < 0 or leaves[:, column].max() >= tree.tree_.node_count):
            raise ModelCheckError("the average-CN model's leaf bookkeeping names nodes its trees lack")
    if not (np.isfinite(getattr(model, "margin_", np.nan)) and 0 < getattr(model, "tail_", 0) < 0.5):
        raise ModelCheckError("the average-CN model's interval margin or quantile is not a number in range")

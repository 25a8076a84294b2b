"""Which average-CN estimator: point estimates and intervals compared on reproduce's own blocks.

``exafs-cn reproduce`` scores one regressor (:class:`~exafs_cn.models.ConformalQuantileForest`).
This script scores the alternatives on exactly its data and folds (all pairs and mixtures,
R+k features, the mixtures' blocks as folds, seed 0), so the choice in
``exafs_cn.learn._average_cn``'s docstring can be checked and redone:

* point estimates: the quantile forest's median (what ships), the same forest's mean,
  LightGBM with squared and with absolute loss;
* intervals: the conformal margin on the forest's 5-95% quantiles (plain CQR) against
  the shipped variant that picks the narrowest starting quantile pair on the
  calibration block.

    python studies/average_cn.py [--data data] [--elements Fe,Ti] [--out studies/results/average_cn_choice.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from lightgbm import LGBMRegressor
from sklearn.base import clone

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import Dataset, now_iso
from exafs_cn.learn import ExperimentPlan, average_cn_metrics, cross_validate_average_cn, load_average_cn_features, select_subset
from exafs_cn.models import ConformalQuantileForest
from exafs_cn.parallel import default_workers


class PlainCQR(ConformalQuantileForest):
    """CQR from the forest's own 5-95% quantiles, without choosing the starting pair."""

    def _calibrate(self, X, y):
        n = len(y)
        level = min(1.0, np.ceil((n + 1) * self.coverage) / n)
        tail = (1 - self.coverage) / 2
        low, high = self.predict_quantiles(X, (tail, 1 - tail))
        return tail, float(np.quantile(np.maximum(low - y, y - high), level, method="higher"))


def out_of_fold(make, X: np.ndarray, y: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Held-out point predictions, one fold per block, a fresh model from ``make`` each time."""
    prediction = np.full(len(y), np.nan)
    for block in np.unique(blocks):
        test = blocks == block
        prediction[test] = make().fit(X[~test], y[~test]).predict(X[test])
    return prediction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--elements", default="all")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "average_cn_choice.json")
    args = parser.parse_args()

    plan = ExperimentPlan()  # the full run's: same selection, blocks, mixtures and seed as reproduce
    meta, matrices = load_average_cn_features(
        Dataset(args.data),
        plan.average_cn_features,
        n_blocks=plan.n_splits,
        seed=plan.seed,
        design=plan.mixtures,
        select=lambda table: select_subset(table, plan),
        select_key=f"{plan.elements}|{plan.per_element_limit}|{plan.seed}",
        workers=args.workers,
    )
    X = np.hstack([matrices[name] for name in plan.average_cn_features])
    usable = meta["processing_error"].isna().to_numpy() & np.all(np.isfinite(X), axis=1) & (meta["block"].to_numpy() >= 0)
    elements = plan.elements if args.elements == "all" else tuple(args.elements.split(","))
    forest = ConformalQuantileForest(n_estimators=plan.average_cn_trees, random_state=plan.seed, n_jobs=args.workers)
    lgbm = {"n_estimators": 300, "learning_rate": 0.05, "colsample_bytree": 0.3, "subsample": 0.8, "subsample_freq": 1}
    points = {
        "forest_mean": lambda: _ForestMean(forest),
        "lightgbm_l2": lambda: LGBMRegressor(objective="l2", n_jobs=args.workers, random_state=plan.seed, verbose=-1, **lgbm),
        "lightgbm_l1": lambda: LGBMRegressor(objective="l1", n_jobs=args.workers, random_state=plan.seed, verbose=-1, **lgbm),
    }
    results: dict = {"created": now_iso(), "features": list(plan.average_cn_features), "per_element": {}}
    for element in elements:
        rows = np.flatnonzero(usable & (meta["absorber"].to_numpy() == element))
        y, kind, blocks = meta["pair_cn"].to_numpy(float)[rows], meta["kind"].to_numpy()[rows], meta["block"].to_numpy()[rows]
        entry = {}
        for name, estimator in (("quantile_forest", forest), ("quantile_forest_plain_cqr", PlainCQR(**forest.get_params()))):
            started = time.perf_counter()
            cv = cross_validate_average_cn(estimator, X[rows], y, blocks)
            entry[name] = {**average_cn_metrics(y, cv["prediction"], cv["low"], cv["high"], kind), "seconds": round(time.perf_counter() - started, 1)}
        for name, make in points.items():
            started = time.perf_counter()
            prediction = out_of_fold(make, X[rows], y, blocks)
            error = np.abs(prediction - y)
            entry[name] = {
                "mae": round(float(error[kind != "mixture"].mean()), 4),
                "mae_non_integer": round(float(error[kind == "non_integer"].mean()), 4) if (kind == "non_integer").any() else None,
                "mae_mixtures": round(float(error[kind == "mixture"].mean()), 4),
                "seconds": round(time.perf_counter() - started, 1),
            }
        results["per_element"][element] = entry
        print(element, {name: (m["mae"], m.get("coverage_90"), m.get("median_width_90")) for name, m in entry.items()}, flush=True)
    names = next(iter(results["per_element"].values()))
    results["mean"] = {
        name: {
            key: round(float(np.mean([e[name][key] for e in results["per_element"].values() if e[name].get(key) is not None])), 4)
            for key in ("mae", "mae_non_integer", "mae_mixtures", "coverage_90", "median_width_90")
            if key in names[name]
        }
        for name in names
    }
    print(results["mean"])
    write_json_atomic(results, args.out)


class _ForestMean:
    """The quantile forest's underlying random forest, read as usual: the mean of its trees."""

    def __init__(self, template: ConformalQuantileForest):
        self.template = template

    def fit(self, X, y):
        self.model = clone(self.template)._fit_forest(np.asarray(X, np.float32), np.asarray(y, float))
        return self

    def predict(self, X):
        return self.model.forest_.predict(np.asarray(X, np.float32))


if __name__ == "__main__":
    main()

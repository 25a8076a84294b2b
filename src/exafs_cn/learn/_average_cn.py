"""The average CN of a spectrum with a 90% interval: a conformalized quantile regression forest.

Why this estimator (``python studies/average_cn.py``: reproduce's own data and blocks, all
pairs and mixtures, R+k features, mean over the ten elements; ``studies/results/average_cn_choice.json``):

* The target is a distribution, not a number: most spectra are of one kind of site, so
  their CN is an integer, and mixtures fill in between. A random forest's *mean* pulls
  a CN-4 spectrum that looks a little like CN 6 to 4.6; the *median* of the training
  CNs that share its leaves (a quantile regression forest, Meinshausen 2006) stays at
  4 and still gives an in-between value among mixtures. MAE on pairs: median 0.80,
  the same forest's mean 0.95, LightGBM 0.86 (squared loss) and 0.87 (absolute loss);
  on mixtures all four are within 0.02 (0.93-0.95). LightGBM with squared loss is
  better on the non-integer pairs (1.13 against 1.26).
* The same leaf weights give any quantile, so the interval comes from the model that
  gives the answer; conformalized quantile regression (CQR, Romano, Patterson & Candes
  2019) widens or narrows it by one margin learnt on a held-out block, so it holds its
  90% on new materials. Plain CQR on the 5-95% quantiles covers 0.96 with a median
  width of 4.4 CN (integer CNs make the quantiles land on the true value); starting
  from the quantile pair that is narrowest on the calibration block covers 0.90 with 2.9.

The estimator, ``ConformalQuantileForest``, is in ``exafs_cn.models._quantile_forest`` (what
prediction loads); this module holds its cross-validation over blocks and the metrics.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from exafs_cn.models._quantile_forest import ConformalQuantileForest


def cross_validate_average_cn(estimator, X: np.ndarray, y: np.ndarray, blocks: np.ndarray) -> dict[str, np.ndarray]:
    """Out-of-fold median and interval of every row, one fold per block.

    A row's block holds its material and, for a mixture, all its components, so no
    test row shares a material with the training rows (:mod:`exafs_cn.learn._mixtures`).
    """
    out = {name: np.full(len(y), np.nan) for name in ("prediction", "low", "high")}
    for block in np.unique(blocks):
        test = blocks == block
        model = clone(estimator).fit(X[~test], y[~test], groups=blocks[~test])
        out["prediction"][test], out["low"][test], out["high"][test] = model.predict_with_interval(X[test])
    return out


def average_cn_metrics(y: np.ndarray, prediction: np.ndarray, low: np.ndarray, high: np.ndarray, kind: np.ndarray) -> dict:
    """What results.json reports per element.

    ``kind`` is "integer", "non_integer" (pairs) or "mixture". ``mae`` and
    ``within_half`` are over the pairs, integer or not (the materials of the dataset);
    coverage and width over every held-out row, pairs and mixtures, with each kind's
    coverage beside it.
    """
    error = np.abs(prediction - y)
    covered = (y >= low) & (y <= high)
    pairs = kind != "mixture"

    def mean(values: np.ndarray, mask: np.ndarray) -> float | None:
        return round(float(np.mean(values[mask])), 4) if mask.any() else None

    return {
        "n_pairs": int(pairs.sum()),
        "n_non_integer": int((kind == "non_integer").sum()),
        "n_mixtures": int((kind == "mixture").sum()),
        "mae": mean(error, pairs),
        "mae_integer": mean(error, kind == "integer"),
        "mae_non_integer": mean(error, kind == "non_integer"),
        "mae_mixtures": mean(error, kind == "mixture"),
        "within_half": mean(error <= 0.5, pairs),
        "coverage_90": mean(covered, np.ones(len(y), bool)),
        "coverage_90_pairs": mean(covered, pairs),
        "coverage_90_mixtures": mean(covered, kind == "mixture"),
        "median_width_90": round(float(np.median(high - low)), 4),
    }


def run_average_cn_experiment(
    meta: pd.DataFrame,
    X: np.ndarray,
    elements: Sequence[str],
    estimator: ConformalQuantileForest,
    *,
    seed: int = 0,
    scatter_points: int = 300,
    log=print,
) -> dict:
    """Grouped CV of the average-CN regressor per element: the ``average_cn`` block of results.json.

    ``meta`` and ``X`` are :func:`exafs_cn.learn._corpus.load_average_cn_features`'s
    (pairs and mixtures, with ``kind`` and ``block``). Each element's folds are its
    blocks. A seeded sample of each element's held-out predictions is kept for the
    report's predicted-vs-true figure.
    """
    rng = np.random.default_rng(seed)
    usable = meta["processing_error"].isna().to_numpy() & np.all(np.isfinite(X), axis=1)
    absorber, blocks = meta["absorber"].to_numpy(), meta["block"].to_numpy()
    out: dict = {"per_element": {}, "scatter": {}, "skipped": {}}
    for element in elements:
        rows = np.flatnonzero(usable & (absorber == element) & (blocks >= 0))
        if len(set(blocks[rows])) < 2:
            out["skipped"][element] = "too few compositions for grouped folds"
            log(f"{element}: average CN skipped (too few compositions for grouped folds)")
            continue
        y, kind = meta["pair_cn"].to_numpy(float)[rows], meta["kind"].to_numpy()[rows]
        started = time.perf_counter()
        cv = cross_validate_average_cn(estimator, X[rows], y, blocks[rows])
        metrics = average_cn_metrics(y, cv["prediction"], cv["low"], cv["high"], kind)
        out["per_element"][element] = {**metrics, "fit_seconds": round(time.perf_counter() - started, 2)}
        shown = np.sort(rng.choice(len(rows), min(scatter_points, len(rows)), replace=False))
        out["scatter"][element] = {
            "true": np.round(y[shown], 3).tolist(),
            "predicted": np.round(cv["prediction"][shown], 3).tolist(),
            "low": np.round(cv["low"][shown], 3).tolist(),
            "high": np.round(cv["high"][shown], 3).tolist(),
            "kind": kind[shown].tolist(),
        }
        log(
            f"{element:2s} average CN: MAE {metrics['mae']:.2f} (non-integer {metrics['mae_non_integer'] or float('nan'):.2f}, "
            f"mixtures {metrics['mae_mixtures'] or float('nan'):.2f}), 90% interval coverage {metrics['coverage_90']:.3f}, "
            f"median width {metrics['median_width_90']:.2f}"
        )
    per_element = out["per_element"].values()
    for key in ("mae", "mae_integer", "mae_non_integer", "mae_mixtures", "within_half", "coverage_90", "median_width_90"):
        values = [m[key] for m in per_element if m[key] is not None]
        out[f"mean_{key}"] = round(float(np.mean(values)), 4) if values else None
    return out

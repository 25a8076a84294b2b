"""First-shell distance and neighbour element from the spectrum: grouped 5-fold CV per element.

The targets are the pair first-shell labels (``exafs-cn dataset first-shell``; multiplicity-
weighted over an element's sites): the mean first-shell distance R1 (A) and the dominant
neighbour class (O, S, N, halogen, P, C, Se/As, metal, other). The inputs are the training
features of the shipped classifiers (the integer-CN pairs with their augmented copies, from
``train``'s cache), one feature set per run. Per element and fold (grouped by composition,
stratified by neighbour class, seed fixed): a conformalized quantile forest for R1 (median and
90% interval, as the average CN's) and a random forest for the neighbour class, each fitted on
the training folds' clean spectra and copies and scored on the held-out clean spectra and on
their augmented copies (measured-looking).

    python studies/first_shell.py [--data data] [--feature-set r] [--elements all] [--out FILE]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from paths import portable  # a sibling module: run as python studies/<name>.py
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedGroupKFold

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import Dataset, now_iso
from exafs_cn.elements import METALS_3D
from exafs_cn.learn import pair_labels, training_set
from exafs_cn.models import ConformalQuantileForest
from exafs_cn.parallel import default_workers

FOLDS = 5
TREES, MIN_LEAF = 40, 5  # the shipped forests' size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--feature-set", default="r")
    parser.add_argument("--elements", default="all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--out", type=Path, default=None, help="default: studies/results/first_shell_<feature set>.json")
    args = parser.parse_args()
    out = args.out or Path(__file__).parent / "results" / f"first_shell_{args.feature_set}.json"
    elements = METALS_3D if args.elements == "all" else args.elements.split(",")

    started = time.perf_counter()
    dataset = Dataset(args.data)
    data = training_set(dataset, feature_set=args.feature_set, seed=args.seed, workers=args.workers)
    labels = pair_labels(dataset)
    meta = data.meta.merge(labels, on=["material_id", "absorber"], how="left", validate="many_to_one")
    per_element = {}
    for element in elements:
        rows = np.flatnonzero((meta["absorber"].to_numpy() == element) & meta["r1"].notna().to_numpy())
        if len(rows) < 50:
            continue
        per_element[element] = _cv(data, meta, rows, args.seed, args.workers)
        e = per_element[element]
        print(
            f"{element}: R1 MAE {e['mae_r1']:.3f} A (augmented {e['mae_r1_augmented']:.3f}), within 0.02 A {e['within_0_02']:.2f}, "
            f"90% coverage {e['coverage_90']:.2f} (median width {e['median_width_90']:.3f} A); neighbour {e['neighbour_accuracy']:.3f} "
            f"(augmented {e['neighbour_accuracy_augmented']:.3f}; always the commonest {e['neighbour_commonest']:.3f})"
        )
    figures = ["mae_r1", "mae_r1_augmented", "within_0_02", "coverage_90", "median_width_90", "neighbour_accuracy",
               "neighbour_accuracy_augmented", "neighbour_commonest"]  # fmt: skip
    summary = {
        "command": f"python studies/first_shell.py --feature-set {args.feature_set}",
        "created": now_iso(),
        "data": str(args.data),
        "feature_set": args.feature_set,
        "seed": args.seed,
        "folds": f"{FOLDS}-fold StratifiedGroupKFold (groups: composition; strata: neighbour class), shuffled with the seed",
        "models": f"R1: ConformalQuantileForest({TREES} trees, min_samples_leaf {MIN_LEAF}); neighbour: RandomForestClassifier({TREES}, min_samples_leaf {MIN_LEAF})",
        "labels": "pair first shell: multiplicity-weighted mean CrystalNN neighbour distance (MP PBE cells) and dominant neighbour class",
        "per_element": per_element,
        "means": {f"mean_{key}": round(float(np.mean([e[key] for e in per_element.values()])), 4) for key in figures},
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json_atomic(portable(summary), out)
    print({k: v for k, v in summary["means"].items()})
    print(f"written to {out}")


def _cv(data, meta: pd.DataFrame, rows: np.ndarray, seed: int, workers: int) -> dict:
    clean, copies = data.clean[rows], data.copies[rows]
    r1 = meta["r1"].to_numpy(float)[rows]
    neighbour = meta["neighbour"].to_numpy()[rows]
    groups = meta["formula"].to_numpy()[rows]
    ok = np.all(np.isfinite(clean), axis=1)
    clean, copies, r1, neighbour, groups = clean[ok], copies[ok], r1[ok], neighbour[ok], groups[ok]
    n_copies = copies.shape[1]
    predicted = np.full(len(r1), np.nan)
    low, high = predicted.copy(), predicted.copy()
    predicted_aug = np.full((len(r1), n_copies), np.nan)
    neighbour_hit = np.zeros(len(r1), bool)
    neighbour_hit_aug = np.zeros((len(r1), n_copies), bool)
    commonest_hit = np.zeros(len(r1), bool)
    folds = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    for train, test in folds.split(clean, neighbour, groups):
        X = np.concatenate([clean[train], copies[train].reshape(-1, clean.shape[1])])
        keep = np.all(np.isfinite(X), axis=1)
        y_r = np.concatenate([r1[train], np.repeat(r1[train], n_copies)])[keep]
        y_n = np.concatenate([neighbour[train], np.repeat(neighbour[train], n_copies)])[keep]
        g = np.concatenate([groups[train], np.repeat(groups[train], n_copies)])[keep]
        X = X[keep]
        forest = ConformalQuantileForest(n_estimators=TREES, min_samples_leaf=MIN_LEAF, random_state=seed, n_jobs=workers).fit(X, y_r, g)
        median, lo, hi = forest.predict_with_interval(clean[test])
        predicted[test], low[test], high[test] = median, lo, hi
        classifier = RandomForestClassifier(TREES, min_samples_leaf=MIN_LEAF, random_state=seed, n_jobs=workers).fit(X, y_n)
        neighbour_hit[test] = classifier.predict(clean[test]) == neighbour[test]
        commonest = pd.Series(neighbour[train]).mode()[0]
        commonest_hit[test] = neighbour[test] == commonest
        X_aug = copies[test].reshape(-1, clean.shape[1])
        fine = np.all(np.isfinite(X_aug), axis=1)
        aug_pred = np.full(len(X_aug), np.nan)
        aug_pred[fine] = forest.predict(X_aug[fine])
        predicted_aug[test] = aug_pred.reshape(-1, n_copies)
        aug_hit = np.zeros(len(X_aug), bool)
        aug_hit[fine] = classifier.predict(X_aug[fine]) == np.repeat(neighbour[test], n_copies)[fine]
        neighbour_hit_aug[test] = aug_hit.reshape(-1, n_copies)
    error = np.abs(predicted - r1)
    error_aug = np.abs(predicted_aug - r1[:, None])
    classes, counts = np.unique(neighbour, return_counts=True)
    return {
        "n_pairs": int(len(r1)),
        "neighbour_classes": {str(c): int(n) for c, n in zip(classes, counts)},
        "r1_range": [round(float(r1.min()), 3), round(float(r1.max()), 3)],
        "mae_r1": round(float(error.mean()), 4),
        "mae_r1_augmented": round(float(np.nanmean(error_aug)), 4),
        "within_0_02": round(float(np.mean(error <= 0.02)), 4),
        "coverage_90": round(float(np.mean((r1 >= low) & (r1 <= high))), 4),
        "median_width_90": round(float(np.median(high - low)), 4),
        "neighbour_accuracy": round(float(neighbour_hit.mean()), 4),
        "neighbour_accuracy_augmented": round(float(neighbour_hit_aug[np.isfinite(predicted_aug)].mean()), 4),
        "neighbour_commonest": round(float(commonest_hit.mean()), 4),
    }


if __name__ == "__main__":
    main()

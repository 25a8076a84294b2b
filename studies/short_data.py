"""How short may a scan be? Accuracy and confidence of the shipped recipe against the k its data reach.

Per element, the shipped classifier's recipe (``exafs-cn train --models rf``: same training
set, augmentation, forest size, one-exponent calibration) is fitted on four fifths of the
materials (train's own hold-out split, grouped by composition) and scored on the augmented
copies of the held-out fifth, whose data end at a k drawn from the augmentation's range.
The copies are binned by that k. A bin where the forest is right much less often than at
full length, or where its confidence overstates how often it is right, is data too short
to answer; ``features.MIN_KMAX`` is set from this table (simulated spectra only), and
``studies/measured.py --truncate-k K`` checks it on measured scans cut short.

    python studies/short_data.py [--out studies/results/short_data.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedGroupKFold

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import Dataset, locate_dataset, now_iso
from exafs_cn.elements import METALS_3D
from exafs_cn.learn import (
    DEFAULT_MIN_CLASS_COUNT,
    HOLDOUT_FOLDS,
    PREDICT_MIN_LEAF,
    PREDICT_TREES,
    calibrated,
    make_model,
    prediction_params,
    stack_copies,
    top_label_ece,
    training_set,
    usable_rows,
)
from exafs_cn.measured import shipped_models_dir
from exafs_cn.models import PowerCalibration

#: Upper edges of the kmax bins (1/A); the augmentation draws kmax from 6.5 to 16.
BIN_EDGES = (6.5, 7.0, 7.5, 8.0, 9.0, 10.0, 12.0, 16.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "short_data.json")
    args = parser.parse_args()
    dataset = Dataset(locate_dataset(args.data))
    data = training_set(dataset, seed=args.seed, workers=args.workers)
    measured = PowerCalibration.load(shipped_models_dir() / "measured_calibration.json")
    rows_out = {"kmax": [], "confidence": [], "confidence_measured": [], "correct": [], "element": []}
    for element in METALS_3D:
        rows = usable_rows(data.meta, data.clean, element, DEFAULT_MIN_CLASS_COUNT)
        if rows is None:
            continue
        y = data.meta.loc[rows, "pair_cn"].to_numpy(int)
        groups = data.meta.loc[rows, "formula"].to_numpy()
        clean, copies, copy_kmax = data.clean[rows], data.copies[rows], data.copy_kmax[rows]
        split = StratifiedGroupKFold(n_splits=HOLDOUT_FOLDS, shuffle=True, random_state=args.seed)
        train, test = next(split.split(clean, y, groups))
        template = make_model("rf", random_state=args.seed, n_jobs=args.workers).set_params(
            **prediction_params("rf", PREDICT_TREES, PREDICT_MIN_LEAF)
        )
        X_tr, (y_tr,), g_tr = stack_copies(clean[train], copies[train], (y[train],), groups[train])
        fitted = calibrated(clone(template), X_tr, y_tr, g_tr, args.seed)
        X = copies[test].reshape(-1, clean.shape[1])
        y_true = np.repeat(y[test], copies.shape[1])
        kmax = copy_kmax[test].ravel()
        ok = np.all(np.isfinite(X), axis=1)
        proba = fitted.predict_proba(X[ok])
        rows_out["kmax"] += kmax[ok].tolist()
        rows_out["confidence"] += proba.max(axis=1).tolist()
        rows_out["confidence_measured"] += measured.apply(proba).max(axis=1).tolist()
        rows_out["correct"] += (fitted.classes_[proba.argmax(axis=1)] == y_true[ok]).tolist()
        rows_out["element"] += [element] * int(ok.sum())
        print(f"{element}: {int(ok.sum())} held-out copies", flush=True)
    table = _binned({k: np.asarray(v) for k, v in rows_out.items()})
    write_json_atomic(
        {"created": now_iso(), "seed": args.seed, "bins": table, "command": "python studies/short_data.py"}, args.out
    )
    print(
        f"{'kmax (1/A)':>12} {'copies':>7} {'accuracy':>9} {'confidence':>11} {'ECE':>6} {'conf. (measured cal.)':>22} {'ECE':>6}"
    )
    for row in table:
        print(
            f"{row['kmax_from']:5.1f}-{row['kmax_to']:<5.1f} {row['n']:7d} {row['accuracy']:9.3f} {row['mean_confidence']:11.3f} "
            f"{row['ece']:6.3f} {row['mean_confidence_measured']:22.3f} {row['ece_measured']:6.3f}"
        )
    print(f"written to {args.out}")


def _binned(rows: dict[str, np.ndarray]) -> list[dict]:
    out = []
    for low, high in zip((6.0, *BIN_EDGES[:-1]), BIN_EDGES):
        inside = (rows["kmax"] >= low) & (rows["kmax"] < high)
        if not inside.any():
            continue
        correct = rows["correct"][inside]
        out.append(
            {
                "kmax_from": low,
                "kmax_to": high,
                "n": int(inside.sum()),
                "accuracy": round(float(correct.mean()), 4),
                "mean_confidence": round(float(rows["confidence"][inside].mean()), 4),
                "ece": round(top_label_ece(rows["confidence"][inside], correct), 4),
                "mean_confidence_measured": round(float(rows["confidence_measured"][inside].mean()), 4),
                "ece_measured": round(top_label_ece(rows["confidence_measured"][inside], correct), 4),
            }
        )
    return out


if __name__ == "__main__":
    main()

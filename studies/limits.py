"""Where the quoted model's errors come from: site averaging, label ambiguity, class imbalance.

Takes the out-of-fold predictions of one of ``exafs-cn reproduce``'s models (default
``rf_all``, the best on most elements; grouped stratified 5-fold, seed 0, the same folds)
and splits its accuracy by
what the issue names as likely limits:

* site averaging: pairs with one inequivalent absorber site vs several (the spectrum
  is then a multiplicity-weighted mixture, the label a mean of different CNs);
* label ambiguity: CrystalNN's own weight for the CN it reports (``cn_weights`` of
  ``get_nn_data``; 1 when one CN is certain, ~0.5 for bcc metals' 8 vs 14), taken as
  the lowest over the pair's sites (``label_weights.pair_confidence``, computed once for
  every pair and cached), for a seeded sample of pairs per element;
* class imbalance: recall of each element's commonest CN vs the others.

    python studies/limits.py [--data data] [--model rf_all] [--sample 200]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from label_weights import pair_confidence  # a sibling script: run as python studies/limits.py

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import Dataset, now_iso
from exafs_cn.learn import MODEL_SPECS, ElementData, ExperimentPlan, cross_validate, plan_features
from exafs_cn.parallel import default_workers
from exafs_cn.settings import DEFAULT_SETTINGS

CONFIDENCE_BINS = (0.0, 0.6, 0.9, 1.0 + 1e-9)


def out_of_fold(data_dir: Path, plan: ExperimentPlan, model: str, workers: int | None) -> pd.DataFrame:
    """One row per pair the model was scored on: element, id, CN, out-of-fold predicted CN."""
    spec = MODEL_SPECS[model]
    meta, matrices, _ = plan_features(Dataset(data_dir), plan, spec.features, DEFAULT_SETTINGS, workers=workers)
    X = np.hstack([matrices[f] for f in spec.features])
    rows = []
    for element in plan.elements:
        mask = meta["absorber"].to_numpy() == element
        sub = meta[mask]
        data = ElementData.build(
            element,
            X[mask],
            sub["pair_cn"].to_numpy(int),
            sub["formula"].to_numpy(),
            sub["material_id"].to_numpy(),
            plan.min_class_count,
        )
        cv = cross_validate(data, spec.family, "grouped", plan.n_splits, plan.seed, n_jobs=workers, params=plan.params(model))
        rows.append(pd.DataFrame({"absorber": element, "material_id": data.ids, "cn": data.y, "predicted": cv.y_pred}))
    return pd.concat(rows, ignore_index=True)


def accuracy_by(frame: pd.DataFrame, column: str) -> dict:
    return {
        str(key): {"n": int(len(g)), "accuracy": round(float((g["cn"] == g["predicted"]).mean()), 4)}
        for key, g in frame.groupby(column, observed=True)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--model", default="rf_all", choices=list(MODEL_SPECS), help="as named in exafs-cn reproduce --models")
    parser.add_argument("--sample", type=int, default=200, help="pairs per element for CrystalNN's weights")
    parser.add_argument("--workers", type=int, default=default_workers(), help="cores for features and model fits")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "limits.json")
    args = parser.parse_args()

    plan = ExperimentPlan()
    pred = out_of_fold(args.data, plan, args.model, args.workers)
    labels = pd.read_parquet(Dataset(args.data).labels_path)
    n_sites = labels.groupby(["material_id", "absorber"]).size().rename("n_sites")
    pred = pred.join(n_sites, on=["material_id", "absorber"])
    pred["sites"] = np.where(pred["n_sites"] == 1, "one site", "several sites")
    commonest = pred.groupby("absorber")["cn"].agg(lambda s: s.value_counts().idxmax())
    pred["class"] = np.where(pred["cn"] == pred["absorber"].map(commonest), "commonest CN", "other CNs")

    per_element = min(args.sample, int(pred.groupby("absorber").size().min()))
    sample = pred.groupby("absorber").sample(n=per_element, random_state=plan.seed)
    confidence = pair_confidence(Dataset(args.data), args.workers).rename("crystalnn_confidence")
    sample = sample.join(confidence, on=["material_id", "absorber"])
    sample["crystalnn_weight"] = pd.cut(sample["crystalnn_confidence"], CONFIDENCE_BINS, right=False)

    correct = pred["cn"] == pred["predicted"]
    summary = {
        "date": now_iso(),
        "model": f"{args.model} ({MODEL_SPECS[args.model].label}), grouped 5-fold, seed {plan.seed}, as exafs-cn reproduce",
        "pairs": int(len(pred)),
        "accuracy": round(float(correct.mean()), 4),
        "within_one": round(float((np.abs(pred["cn"] - pred["predicted"]) <= 1).mean()), 4),
        "by_sites": accuracy_by(pred, "sites"),
        "by_class": accuracy_by(pred, "class"),
        "by_class_per_element": {e: accuracy_by(g, "class") for e, g in pred.groupby("absorber")},
        "crystalnn_sample": {"pairs": int(len(sample)), "per_element": per_element, "seed": plan.seed},
        "by_crystalnn_weight": accuracy_by(sample, "crystalnn_weight"),
        "commonest_errors": [
            {"cn": int(cn), "predicted": int(p), "n": int(n)}
            for (cn, p), n in pred[~correct].groupby(["cn", "predicted"]).size().sort_values(ascending=False).head(10).items()
        ],
    }
    write_json_atomic(summary, args.out)
    print(json.dumps(summary, indent=2, default=int))


if __name__ == "__main__":
    main()

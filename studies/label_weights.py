"""Training with CrystalNN's confidence in each label, scored against the labels as they are.

CrystalNN scores every candidate CN of a site and reports the likeliest; where two CNs
nearly tie (bcc metals: 8 against 14) the label is a coin toss, and ``limits.py`` finds
such pairs scored 0.55 against 0.92 for sure ones. Here a pair's confidence is the lowest,
over its sites, of CrystalNN's weight for the CN it reported
(:func:`exafs_cn.datagen._labels.crystalnn_label_weight`), and ``et_all`` (extra trees,
R+k+wavelet) is fitted with that confidence (or its square) as sample weight. Every
pair stays in the test folds with its integer label: only the training side is weighed.
Folds are reproduce's (grouped, seed 0).

    python studies/label_weights.py [--data data] [--elements Sc,Ni] [--workers 2]

The weights of every integer-CN pair's sites (~26k) take ~5 minutes on 2 cores the first
time; they are cached next to the feature cache.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import Dataset, StructureRecord, crystalnn_description, crystalnn_label_weight, now_iso, read_bundled
from exafs_cn.learn import (
    MODEL_SPECS,
    ElementData,
    ExperimentPlan,
    dataset_fingerprint,
    default_cache_dir,
    make_model,
    plan_features,
    splitter,
)
from exafs_cn.parallel import default_workers, map_unordered

MODEL = MODEL_SPECS["et_all"]
WEIGHTINGS = ("none", "confidence", "confidence_squared")


def _site_weights(task: tuple[StructureRecord, list[tuple[str, int, int]]]) -> list[tuple[str, str, int, int, float]]:
    """CrystalNN's weight for the reported CN of each (absorber, site, CN) of one structure."""
    record, sites = task
    structure = record.parse()
    return [(record.material_id, a, site, cn, crystalnn_label_weight(structure, site, cn)) for a, site, cn in sites]


def pair_confidence(dataset: Dataset, workers: int) -> pd.Series:
    """Lowest label weight over each integer-CN pair's sites, by (material_id, absorber); cached."""
    cache = default_cache_dir() / f"crystalnn-weights-{dataset_fingerprint(dataset, 'fast')}.parquet"
    if cache.exists():
        sites = pd.read_parquet(cache)
    else:
        labels = dataset.labels()
        labels = labels[labels["pair_cn_is_integer"]]
        wanted = set(labels["material_id"])
        records = {r.material_id: r for r in read_bundled() if r.material_id in wanted}
        tasks = [
            (records[material_id], [(a, int(i), int(c)) for a, i, c in zip(g["absorber"], g["site_index"], g["cn"])])
            for material_id, g in labels.groupby("material_id")
        ]
        rows = [row for result in map_unordered(_site_weights, tasks, workers=workers, total=len(tasks), desc="CrystalNN weights") for row in result]
        sites = pd.DataFrame(rows, columns=["material_id", "absorber", "site_index", "cn", "weight"])
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.tmp")
        sites.to_parquet(tmp)
        os.replace(tmp, cache)
    return sites.groupby(["material_id", "absorber"])["weight"].min()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--elements", default="all")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "label_weights.json")
    args = parser.parse_args()

    plan = ExperimentPlan()
    dataset = Dataset(args.data)
    started = time.perf_counter()
    confidence = pair_confidence(dataset, args.workers)
    print(f"CrystalNN label weights of {len(confidence)} pairs ({time.perf_counter() - started:.0f} s)", flush=True)
    meta, matrices, usable = plan_features(dataset, plan, MODEL.features, workers=args.workers)
    X = np.hstack([matrices[f] for f in MODEL.features])
    pair_weight = confidence.reindex(pd.MultiIndex.from_frame(meta[["material_id", "absorber"]])).to_numpy()
    elements = plan.elements if args.elements == "all" else tuple(args.elements.split(","))
    results: dict = {
        "date": now_iso(),
        "model": MODEL.label,
        "crystalnn": crystalnn_description(),
        "folds": "reproduce's (grouped, seed 0); every pair scored against its integer label",
        "per_element": {},
    }
    for element in elements:
        mask = usable & (meta["absorber"].to_numpy() == element)
        weight = pair_weight[mask]
        ids = np.arange(mask.sum())  # carried through ElementData to find each kept row's weight
        data = ElementData.build(
            element, X[mask], meta.loc[mask, "pair_cn"].to_numpy(int), meta.loc[mask, "formula"].to_numpy(), ids, plan.min_class_count
        )
        weight = np.nan_to_num(weight[data.ids], nan=1.0)
        row: dict = {"low_confidence_share": round(float(np.mean(weight < 0.6)), 4)}
        for name in WEIGHTINGS:
            sample_weight = {"none": None, "confidence": weight, "confidence_squared": weight**2}[name]
            y_pred = np.empty_like(data.y)
            for train, test in splitter("grouped", plan.n_splits, plan.seed).split(data.X, data.y, data.groups):
                model = make_model(MODEL.family, plan.seed, args.workers)
                fit_weight = None if sample_weight is None else np.maximum(sample_weight[train], 0.05)
                model.fit(data.X[train], data.y[train], sample_weight=fit_weight)
                y_pred[test] = model.predict(data.X[test])
            row[name] = round(float(np.mean(y_pred == data.y)), 4)
        print(element, json.dumps(row), flush=True)
        results["per_element"][element] = row
    results["mean_accuracy"] = {
        name: round(float(np.mean([r[name] for r in results["per_element"].values()])), 4) for name in WEIGHTINGS
    }
    write_json_atomic(results, args.out)
    print(json.dumps(results["mean_accuracy"], indent=2))


if __name__ == "__main__":
    main()

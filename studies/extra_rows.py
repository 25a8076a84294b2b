"""Does more training data help the per-element classifier? Two sources, scored on reproduce's folds.

The test rows are always reproduce's: each element's integer-CN pairs under its grouped,
stratified 5-fold split (seed 0). Only the training side of each fold grows, and never
with a composition of the fold's test side:

* ``sites``: the single-site spectra of pairs with several inequivalent absorber sites
  (the pair's spectrum is their multiplicity-weighted mean; each site has an integer
  CN of its own, also where the pair's mean is not an integer). ~22k spectra.
* ``other_elements``: every other element's pairs, with the element one-hot encoded
  and the prediction restricted to this element's CN classes (a joint model, fitted per
  element and fold so that it is scored on exactly the per-element folds).

Both against extra trees on R+k+wavelet (``et_all`` of ``reproduce``) on the pairs alone.

    python studies/extra_rows.py [--data data] [--sources sites,other_elements] [--elements Sc,Mn]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import Dataset, now_iso
from exafs_cn.features import Spectrum
from exafs_cn.learn import (
    MODEL_SPECS,
    ElementData,
    ExperimentPlan,
    cached_features,
    dataset_fingerprint,
    feff_spectrum,
    make_model,
    plan_features,
    short_hash,
    splitter,
)
from exafs_cn.parallel import default_workers
from exafs_cn.settings import DEFAULT_SETTINGS

MODEL = MODEL_SPECS["et_all"]
SOURCES = ("sites", "other_elements")


def site_features(dataset: Dataset, workers: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Features of every site spectrum of a pair with several sites (cached like the pairs')."""

    def build() -> tuple[pd.DataFrame, list[Spectrum]]:
        sites = dataset.sites("fast")
        n_sites = sites.groupby(["material_id", "absorber"])["site_index"].transform("size")
        sites = sites[(n_sites > 1) & (sites["site_index"] >= 0)].reset_index(drop=True)
        spectra = [feff_spectrum(row) for row in sites.itertuples(index=False)]
        return sites[["material_id", "formula", "absorber", "site_index", "multiplicity", "cn", "pair_cn"]], spectra

    key = f"sites-{dataset_fingerprint(dataset, 'fast')}-{DEFAULT_SETTINGS.key()}-fast-{short_hash('multi-site')}"
    return cached_features(key, build, MODEL.features, DEFAULT_SETTINGS, workers=workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--elements", default="all")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "extra_rows.json")
    args = parser.parse_args()
    sources = args.sources.split(",")
    if set(sources) - set(SOURCES):
        parser.error(f"--sources: choose from {', '.join(SOURCES)}")

    plan = ExperimentPlan()
    dataset = Dataset(args.data)
    meta, matrices, usable = plan_features(dataset, plan, MODEL.features, workers=args.workers)
    X = np.hstack([matrices[f] for f in MODEL.features])
    absorber, cn, formula = meta["absorber"].to_numpy(), meta["pair_cn"].to_numpy(int), meta["formula"].to_numpy()
    onehot = (absorber[:, None] == np.array(plan.elements)[None, :]).astype(float)
    if "sites" in sources:
        site_meta, site_matrices = site_features(dataset, args.workers)
        site_X = np.hstack([site_matrices[f] for f in MODEL.features])
        site_ok = site_meta["processing_error"].isna().to_numpy() & np.all(np.isfinite(site_X), axis=1)

    elements = plan.elements if args.elements == "all" else tuple(args.elements.split(","))
    results: dict = {"date": now_iso(), "model": MODEL.label, "folds": "reproduce's (grouped, seed 0)", "per_element": {}}
    for element in elements:
        mask = usable & (absorber == element)
        data = ElementData.build(element, X[mask], cn[mask], formula[mask], meta.loc[mask, "material_id"].to_numpy())
        in_classes = np.flatnonzero(mask)[np.isin(cn[mask], data.classes)]  # the rows ElementData kept, in order
        extra: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        if "sites" in sources:
            rows = site_ok & (site_meta["absorber"].to_numpy() == element) & np.isin(site_meta["cn"].to_numpy(), data.classes)
            extra["sites"] = (site_X[rows], site_meta.loc[rows, "cn"].to_numpy(int), site_meta.loc[rows, "formula"].to_numpy())
        if "other_elements" in sources:
            rows = usable & (absorber != element)
            extra["other_elements"] = (np.hstack([X[rows], onehot[rows]]), cn[rows], formula[rows])
        row: dict = {}
        for name in ("pairs", *extra):
            start = time.perf_counter()
            proba = np.zeros((len(data.y), len(data.classes)))
            for train, test in splitter("grouped", plan.n_splits, plan.seed).split(data.X, data.y, data.groups):
                X_train, y_train = data.X[train], data.y[train]
                X_test = data.X[test]
                if name != "pairs":
                    more_X, more_y, more_groups = extra[name]
                    if name == "other_elements":
                        X_train, X_test = np.hstack([X_train, onehot[in_classes][train]]), np.hstack([X_test, onehot[in_classes][test]])
                    keep = ~np.isin(more_groups, data.groups[test])  # no test composition in training
                    X_train, y_train = np.vstack([X_train, more_X[keep]]), np.concatenate([y_train, more_y[keep]])
                model = make_model(MODEL.family, plan.seed, args.workers).set_params(**dict(MODEL.params)).fit(X_train, y_train)
                known = [i for i, c in enumerate(model.classes_) if c in data.classes]
                proba[np.ix_(test, [data.classes.index(model.classes_[i]) for i in known])] = model.predict_proba(X_test)[:, known]
            accuracy = float(np.mean(np.array(data.classes)[proba.argmax(axis=1)] == data.y))
            row[name] = {"accuracy": round(accuracy, 4), "seconds": round(time.perf_counter() - start, 1)}
            if name != "pairs":
                row[name]["extra_rows"] = int(len(extra[name][1]))
            print(f"{element:2s} {name:15s} accuracy {accuracy:.3f} ({row[name]['seconds']} s)", flush=True)
        results["per_element"][element] = row
    results["mean_accuracy"] = {
        name: round(float(np.mean([r[name]["accuracy"] for r in results["per_element"].values()])), 4)
        for name in ("pairs", *sources)
    }
    write_json_atomic(results, args.out)
    print(json.dumps(results["mean_accuracy"], indent=2))


if __name__ == "__main__":
    main()

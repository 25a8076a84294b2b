"""Featurization throughput and model cost on the committed dataset.

Featurization: spectra per second for each feature set (and all four at once, which
processes each spectrum once) on a fixed sample of pair spectra, with 1 worker and
with all cores. Models: fit seconds per fold and whole 5-fold CV per model family on
one element's R-space features.

    python benchmarks/features.py [--data data] [--sample 400] [--element Ni] [--models rf,bagging,nn]

Gradient boosting (``hgb``) is left out by default (minutes per fit on 2 cores: one
tree per CN class per iteration, up to 300 iterations); add it with ``--models``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import Dataset, now_iso
from exafs_cn.features import FEATURE_SETS, featurize_many
from exafs_cn.learn import ElementData, cross_validate, pair_spectra
from exafs_cn.parallel import default_workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--sample", type=int, default=400)
    parser.add_argument("--element", default="Ni")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="rf,bagging,nn", help="model families to time (rf, bagging, nn, hgb)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "features.json")
    args = parser.parse_args()

    meta, spectra = pair_spectra(Dataset(args.data))
    rng = np.random.default_rng(args.seed)
    pick = np.sort(rng.choice(len(spectra), min(args.sample, len(spectra)), replace=False))
    sample = [spectra[i] for i in pick]
    cores = default_workers()
    rates: dict[str, dict[str, float]] = {}
    for name in [*FEATURE_SETS, "all"]:
        sets = tuple(FEATURE_SETS) if name == "all" else (name,)
        rates[name] = {}
        for workers in sorted({1, cores}):
            start = time.perf_counter()
            featurize_many(sample, sets, workers=workers, progress=False)
            rates[name][f"{workers}_workers"] = round(len(sample) / (time.perf_counter() - start), 1)
        print(name, rates[name], flush=True)

    mask = meta["absorber"].to_numpy() == args.element
    matrices, _ = featurize_many([s for s, m in zip(spectra, mask) if m], ("r",), progress=False)
    sub = meta[mask]
    data = ElementData.build(
        args.element, matrices["r"], sub["pair_cn"].to_numpy(int), sub["formula"].to_numpy(), sub["material_id"].to_numpy()
    )
    models = {}
    for model in args.models.split(","):
        start = time.perf_counter()
        result = cross_validate(data, model, "grouped", n_splits=5, seed=args.seed, n_jobs=cores)
        models[model] = {
            "cv_seconds": round(time.perf_counter() - start, 2),
            "fit_seconds_per_fold": round(result.fit_seconds / 5, 2),
            "accuracy": round(result.metrics()["accuracy"], 4),
        }
        print(model, models[model], flush=True)
    summary = {
        "date": now_iso(),
        "cores": cores,
        "featurize_spectra_per_second": rates,
        "sample": len(sample),
        "cv_element": args.element,
        "cv_spectra": int(len(data.y)),
        "models": models,
    }
    write_json_atomic(summary, args.out)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

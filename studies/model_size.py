"""What a smaller shipped model costs: file size against held-out and measured accuracy.

The prediction models ship inside the package, and every retrain adds their size to
git history, so they must stay small (<= 20 MB for all ten elements). A random forest's
file grows with its trees and their leaves; this trains the same RF models (same
training features, augmentation, seed and calibration as ``exafs-cn train``) at several
sizes and reports, per size: total file size, the grouped hold-out accuracy (clean,
augmented, short-k) and ECE averaged over elements, and the measured corpus
(``studies/measured.py`` on the models).

    python studies/model_size.py [--data data] [--variants 100x1,50x3,et:40x5,...] [--corpus ...]

Each variant is [FAMILY:]TREESxMIN_LEAF, the family ``rf`` (what ships) unless named
(``et``: extra trees, the CV winner of ``reproduce``). Results:
``studies/results/model_size.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import Dataset, locate_dataset, now_iso
from exafs_cn.learn import dataset_fingerprint, fit_models, training_set
from exafs_cn.models import SavedModel

HERE = Path(__file__).parent
REPO = HERE.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--variants", default="100x1,100x3,60x3,40x5")
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "experimental")
    parser.add_argument("--keep", type=Path, default=None, help="keep each variant's models under this folder")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "model_size.json")
    args = parser.parse_args()

    dataset = Dataset(locate_dataset(args.data))
    started = time.perf_counter()
    data = training_set(dataset)
    print(f"training features: {data.clean.shape[0]} spectra x {data.copies.shape[1]} copies ({time.perf_counter() - started:.0f} s)")
    results = []
    root = args.keep or Path(tempfile.mkdtemp(prefix="model_size-"))
    for variant in args.variants.split(","):
        family, _, size = variant.rpartition(":")
        family = family or "rf"
        trees, leaf = (int(v) for v in size.split("x"))
        folder = root / variant.replace(":", "_")
        t0 = time.perf_counter()
        paths = fit_models(data, folder, model_names=(family,), n_estimators=trees, min_samples_leaf=leaf, log=lambda m: None)
        fit_seconds = time.perf_counter() - t0
        holdouts = [SavedModel.load(p).metadata["holdout"] for p in paths]
        measured_json = folder / "measured.json"
        subprocess.run(
            [sys.executable, str(HERE / "measured.py"), "--corpus", str(args.corpus), "--models-dir", str(folder)]
            + ["--model", family, "--out", str(measured_json)],
            check=True,
            capture_output=True,
        )
        measured = json.loads(measured_json.read_text())
        row = {
            "model": family,
            "trees": trees,
            "min_samples_leaf": leaf,
            "total_mb": round(sum(p.stat().st_size for p in paths) / 1e6, 2),
            "fit_seconds": round(fit_seconds, 1),
            **{
                key: round(float(np.mean([h[key] for h in holdouts if key in h])), 4)
                for key in ("accuracy_clean", "accuracy_augmented", "accuracy_short_k", "ece_augmented", "ece_short_k")
            },
            "measured_exact": measured["exact_accuracy"],
            "measured_answered": measured["predicted"],
            "measured_spectra": measured["spectra"],
            "measured_ece": measured["ece_measured"],
        }
        results.append(row)
        print(json.dumps(row))
    write_json_atomic(
        {
            "created": now_iso(),
            "dataset_fingerprint": dataset_fingerprint(dataset, "fast"),
            "note": "hold-out figures: mean over elements of one grouped hold-out (a fifth of the materials), seed 0",
            "variants": results,
        },
        args.out,
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

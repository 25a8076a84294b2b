"""What smaller first-shell models cost: file size against held-out and measured figures.

The R1 forests and neighbour classifiers ship inside the package beside the CN models, so
their size is weighed against what it buys, as ``studies/model_size.py`` does for the CN
classifiers. Each variant TREESxMIN_LEAF is trained as ``exafs-cn train --models r1,neighbour``
trains the shipped ones (same training features, augmentation, seed, calibration, hold-out
fold) and reported with: total file size, the hold-out figures in its files (mean over
elements: R1 MAE and 90% coverage on clean and augmented spectra, neighbour accuracy), and
``studies/measured_first_shell.py`` on the measured corpus with those models beside the
shipped CN models.

    python studies/first_shell_size.py [--data data] [--variants 20x5,40x10] [--shipped]

``--shipped`` adds a row for the shipped models (40x5) read from their files, not retrained.
Results: ``studies/results/first_shell_size.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import Dataset, locate_dataset, now_iso
from exafs_cn.elements import METALS_3D
from exafs_cn.learn import FIRST_SHELL_FEATURE_SET, dataset_fingerprint, fit_first_shell_models, pair_labels, training_set
from exafs_cn.measured import DEFAULT_MODEL, shipped_models_dir
from exafs_cn.models import (
    AVERAGE_CN_MODEL,
    CALIBRATION_FILE,
    FIRST_SHELL_MODELS,
    NEIGHBOUR_MODEL,
    R1_MODEL,
    SavedModel,
    model_path,
)

HERE = Path(__file__).parent
REPO = HERE.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--variants", default="20x5,40x10")
    parser.add_argument("--shipped", action="store_true", help="add the shipped models' row (not retrained)")
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "experimental")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "first_shell_size.json")
    args = parser.parse_args()

    dataset = Dataset(locate_dataset(args.data))
    rows = []
    if args.shipped:
        rows.append(_row("shipped", shipped_models_dir(), None, args.corpus))
        print(json.dumps(rows[-1]))
    data = training_set(dataset, feature_set=FIRST_SHELL_FEATURE_SET)
    labels = pair_labels(dataset)
    root = Path(tempfile.mkdtemp(prefix="first_shell_size-"))
    for variant in args.variants.split(","):
        trees, leaf = (int(v) for v in variant.split("x"))
        folder = root / variant
        _link_shipped_cn_models(folder)
        started = time.perf_counter()
        fit_first_shell_models(data, labels, folder, n_estimators=trees, min_samples_leaf=leaf, log=lambda m: None)
        rows.append(_row(variant, folder, time.perf_counter() - started, args.corpus))
        print(json.dumps(rows[-1]))
    write_json_atomic(
        {
            "command": "python studies/first_shell_size.py " + " ".join(sys.argv[1:]),
            "created": now_iso(),
            "dataset_fingerprint": dataset_fingerprint(dataset, "fast"),
            "note": "hold-out figures: mean over elements of one grouped hold-out (a fifth of the compositions), seed 0; "
            "measured: studies/measured_first_shell.py, labels not doubtful",
            "variants": rows,
        },
        args.out,
    )
    print(f"written to {args.out}")


def _link_shipped_cn_models(folder: Path) -> None:
    """The shipped CN classifier, average-CN model and calibration beside the variant's first-shell models."""
    shipped = shipped_models_dir()
    for element in METALS_3D:
        for name in (DEFAULT_MODEL, AVERAGE_CN_MODEL):
            source = model_path(shipped, element, name)
            if source.exists():
                target = model_path(folder, element, name)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(source, target)
    os.symlink(shipped / CALIBRATION_FILE, folder / CALIBRATION_FILE)


def _row(name: str, folder: Path, fit_seconds: float | None, corpus: Path) -> dict:
    paths = {n: [model_path(folder, e, n) for e in METALS_3D if model_path(folder, e, n).exists()] for n in FIRST_SHELL_MODELS}
    holdout = {n: [SavedModel.load(p).metadata["holdout"] for p in paths[n]] for n in FIRST_SHELL_MODELS}
    first = SavedModel.load(paths[R1_MODEL][0]).metadata["model_params"]
    measured_json = folder / "measured_first_shell.json" if fit_seconds is not None else Path(tempfile.mkdtemp()) / "m.json"
    subprocess.run(
        [sys.executable, str(HERE / "measured_first_shell.py"), "--corpus", str(corpus), "--models-dir", str(folder), "--out", str(measured_json)],
        check=True,
        capture_output=True,
    )
    measured = json.loads(measured_json.read_text())["without_doubtful"]

    def mean(model: str, key: str) -> float:
        return round(float(np.mean([h[key] for h in holdout[model] if key in h])), 4)

    return {
        "variant": name,
        "trees": first["n_estimators"],
        "min_samples_leaf": first["min_samples_leaf"],
        "r1_mb": round(sum(p.stat().st_size for p in paths[R1_MODEL]) / 1e6, 2),
        "neighbour_mb": round(sum(p.stat().st_size for p in paths[NEIGHBOUR_MODEL]) / 1e6, 2),
        "fit_seconds": None if fit_seconds is None else round(fit_seconds, 1),
        "mae_r1_clean": mean(R1_MODEL, "mae_r1_clean"),
        "mae_r1_augmented": mean(R1_MODEL, "mae_r1_augmented"),
        "coverage_90_augmented": mean(R1_MODEL, "coverage_90_augmented"),
        "neighbour_accuracy_clean": mean(NEIGHBOUR_MODEL, "accuracy_clean"),
        "neighbour_accuracy_augmented": mean(NEIGHBOUR_MODEL, "accuracy_augmented"),
        "measured_mae_r1": measured["mae_r1"],
        "measured_coverage_90": measured["coverage_90"],
        "measured_neighbour_accuracy": measured["neighbour_accuracy"],
        "measured_spectra": measured["spectra"],
    }


if __name__ == "__main__":
    main()

"""Issue 31, item 1, "marginalise": classifiers trained on E0 shifts as wide as measured data need.

Today's augmentation moves each training copy's E0 by -5..+5 eV (re-mapping chi(k)); a
measured E0 sits -21..+12 eV (5-95%) from where its chi(k) lines up with FEFF's. This trains
the ``rf`` classifiers of every element again with the copies' E0 drawn from ``--e0-shift``
(everything else as shipped: 40 trees, 5+ rows per leaf, 3 copies, seed 0) into a copy of
the shipped models folder, then scores them on the measured corpus with
``studies/measured.py`` (E0 profile on, answers under the leave-one-compound-out
calibration). Compare with the shipped models by ``studies/grouped_choice.py``.

    python studies/e0_marginalise.py [--e0-shift -20 20] [--work DIR]

Training takes ~10 min on 2 cores (its features are cached under the work folder's cache
for a rerun); the models folder (~60 MB) stays in ``--work``, not in the repository.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from exafs_cn.datagen import Dataset, locate_dataset
from exafs_cn.learn import DEFAULT_AUGMENTATION, train_models
from exafs_cn.measured import shipped_models_dir

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--e0-shift", type=float, nargs=2, default=(-20.0, 20.0), metavar=("LOW", "HIGH"))
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "exafs-cn" / "studies" / "e0_marginalise")
    args = parser.parse_args()
    low, high = args.e0_shift
    name = f"e0_shift_{low:+g}_{high:+g}"
    folder = args.work / name
    # The folder starts as a copy of the shipped models (MANIFEST and rf files included), so only
    # this marker, written once training has finished, says the classifiers are the variant's.
    trained = args.work / f"{name}.trained"
    if not trained.is_file():
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(shipped_models_dir(), folder)
        train_models(
            Dataset(locate_dataset()),
            folder,
            model_names=("rf",),
            augmentation=replace(DEFAULT_AUGMENTATION, e0_shift=(low, high)),
            cache_dir=args.work / "cache",
        )
        trained.write_text(f"rf trained with e0_shift {low:g}..{high:g} eV into {folder}\n")
    target = HERE / "results" / "measured_variants" / f"{name}.json"
    subprocess.run([sys.executable, str(HERE / "measured.py"), "--models-dir", str(folder), "--out", str(target)], check=True)
    print(f"written to {target}")


if __name__ == "__main__":
    main()

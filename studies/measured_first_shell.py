"""The first shell of measured spectra: predicted R1 and neighbour class against the structure's.

Each spectrum of the measured corpus (``../shared/data/experimental/``) whose Materials
Project id (``material_id`` in its ``index.csv``) is in the bundled set is predicted as a user
would (the bare command, then with the index's columns and element where that fails, as
``studies/measured.py`` does), and its R1 and neighbour class are compared with the pair
first-shell labels of that structure (``exafs-cn dataset first-shell``): MP's PBE distances,
which run ~1% long against experiment, so the mean signed error is reported beside the MAE.
Compounds whose structure is not bundled have no truth here and are counted, not scored.

    python studies/measured_first_shell.py [--models-dir DIR] [--data data] [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from measured import predict_as_user  # a sibling script: the corpus read as a user would
from paths import REPO, portable

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import Dataset, now_iso
from exafs_cn.learn import pair_labels
from exafs_cn.measured import ModelStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "experimental")
    parser.add_argument("--models-dir", type=Path, default=None, help="default: $EXAFS_CN_MODELS, else the shipped models")
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "measured_first_shell.json")
    args = parser.parse_args()

    truth = pair_labels(Dataset(args.data)).set_index(["material_id", "absorber"])
    store = ModelStore(args.models_dir)
    rows = list(csv.DictReader(open(args.corpus / "index.csv")))
    table, no_truth = [], set()
    for row in rows:
        key = (row["material_id"], row["element"])
        if key not in truth.index:
            no_truth.add(row["compound"])
            continue
        prediction = predict_as_user(row, args.corpus, store)
        known = truth.loc[key]
        entry = {
            "file": row["file"],
            "compound": row["compound"],
            "element": row["element"],
            "material_id": row["material_id"],
            "doubtful": "doubtful" in row["notes"].lower(),
            "r1_structure": round(float(known["r1"]), 4),
            "neighbour_structure": known["neighbour"],
        }
        if prediction is not None and prediction.r1 is not None:
            entry.update(
                r1=round(prediction.r1, 4),
                r1_interval=[round(v, 4) for v in prediction.r1_interval],
                neighbour=prediction.neighbour,
                neighbour_probability=(prediction.neighbour_probabilities or {}).get(prediction.neighbour),
            )
        else:
            entry["error"] = "no answer" if prediction is not None else "not predicted"
        table.append(entry)
    scored = [t for t in table if "r1" in t]
    summary = {
        "command": "python studies/measured_first_shell.py",
        "created": now_iso(),
        "corpus": str(args.corpus),
        "models_dir": str(store.models_dir),
        "truth": "pair first-shell labels of the MP structure named in index.csv (CrystalNN neighbours; MP PBE distances)",
        "compounds_without_bundled_structure": sorted(no_truth),
        "all": _scores(scored),
        "without_doubtful": _scores([t for t in scored if not t["doubtful"]]),
        "per_compound": {c: _scores([t for t in scored if t["compound"] == c]) for c in sorted({t["compound"] for t in scored})},
        "table": table,
    }
    write_json_atomic(portable(summary), args.out)
    for label in ("all", "without_doubtful"):
        print(label, summary[label])
    print(f"{len(no_truth)} compounds without a bundled structure; written to {args.out}")


def _scores(table: list[dict]) -> dict:
    if not table:
        return {"spectra": 0}
    error = np.array([t["r1"] - t["r1_structure"] for t in table])
    inside = [t["r1_interval"][0] <= t["r1_structure"] <= t["r1_interval"][1] for t in table]
    right = [t["neighbour"] == t["neighbour_structure"] for t in table]
    return {
        "spectra": len(table),
        "compounds": len({t["compound"] for t in table}),
        "mae_r1": round(float(np.abs(error).mean()), 4),
        "mean_signed_error_r1": round(float(error.mean()), 4),
        "within_0_04": round(float(np.mean(np.abs(error) <= 0.04)), 4),
        "coverage_90": round(float(np.mean(inside)), 4),
        "neighbour_right": f"{sum(right)}/{len(right)}",
        "neighbour_accuracy": round(float(np.mean(right)), 4),
    }


if __name__ == "__main__":
    main()

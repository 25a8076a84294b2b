"""Predicted vs known CN on the measured reference corpus, and calibration there.

Every spectrum of the corpus index (``index.csv``: file, element, loader columns,
textbook CN) goes through ``exafs_cn.measured.predict`` with the trained models, exactly as
``exafs-cn predict`` would run it; the columns named by the index's loader are passed
as ``--energy``/``--mu``. Reports exact and within-1 accuracy against the textbook CN,
per compound and in total, and the expected calibration error on these spectra.

    python benchmarks/measured.py [--corpus ../shared/data/experimental] [--models-dir models]
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from exafs_cn.datagen.dataset import now_iso, write_json_atomic
from exafs_cn.learn.calibration import top_label_ece
from exafs_cn.measured.predict import ModelStore, PredictError, predict_spectrum
from exafs_cn.measured.readers import Columns, SpectrumFileError, read_spectra

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "experimental")
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--model", default="rf")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "measured.json")
    args = parser.parse_args()

    store = ModelStore(args.models_dir, args.model)
    rows = list(csv.DictReader(open(args.corpus / "index.csv")))
    table = []
    for row in rows:
        loader = json.loads(row["loader"])
        columns = Columns(energy=loader.get("energy"), mu=loader.get("mu"))
        entry = {"file": row["file"], "compound": row["compound"], "element": row["element"], "known_cn": int(row["textbook_cn"])}
        try:
            (measured,) = read_spectra(args.corpus / row["file"], element=row["element"], columns=columns)
            prediction = predict_spectrum(measured, store)
        except (SpectrumFileError, PredictError) as exc:
            entry.update(predicted_cn=None, error=str(exc))
            table.append(entry)
            print(f"{row['file'][:60]:60s} error: {exc}")
            continue
        entry.update(predicted_cn=prediction.cn, probabilities=prediction.probabilities, kmax=round(measured.kmax, 1))
        table.append(entry)
        p = prediction.probabilities[str(prediction.cn)]
        mark = "ok" if prediction.cn == entry["known_cn"] else "  "
        print(f"{mark} {row['file'][:60]:60s} {row['element']:2s} known {entry['known_cn']:2d} predicted {prediction.cn:2d} (p {p:.2f})")

    done = [t for t in table if t["predicted_cn"] is not None]
    exact = [t["predicted_cn"] == t["known_cn"] for t in done]
    within = [abs(t["predicted_cn"] - t["known_cn"]) <= 1 for t in done]
    per_compound: dict[str, list[bool]] = defaultdict(list)
    for t, ok in zip(done, exact):
        per_compound[f"{t['compound']} ({t['element']}, CN {t['known_cn']})"].append(ok)
    ece = _ece(done)
    summary = {
        "created": now_iso(),
        "corpus": str(args.corpus),
        "models_dir": str(args.models_dir),
        "model": args.model,
        "spectra": len(table),
        "predicted": len(done),
        "errors": len(table) - len(done),
        "exact_accuracy": round(float(np.mean(exact)), 4) if done else None,
        "within_one_accuracy": round(float(np.mean(within)), 4) if done else None,
        "ece_measured": ece,
        "per_compound": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(per_compound.items())},
        "table": table,
    }
    write_json_atomic(summary, args.out)
    print(
        f"\n{len(done)}/{len(table)} predicted; exact {summary['exact_accuracy']}, within 1 {summary['within_one_accuracy']}, "
        f"ECE {ece}; per compound: " + ", ".join(f"{k} {v}" for k, v in summary["per_compound"].items())
    )
    print(f"written to {args.out}")


def _ece(done: list[dict]) -> float | None:
    """Top-label ECE over all measured spectra (each on its own element's classes)."""
    if not done:
        return None
    confidence = [t["probabilities"][str(t["predicted_cn"])] for t in done]
    correct = [t["predicted_cn"] == t["known_cn"] for t in done]
    return round(top_label_ece(np.array(confidence), np.array(correct)), 4)


if __name__ == "__main__":
    main()

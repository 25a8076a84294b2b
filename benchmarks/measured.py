"""Predicted vs known CN on the measured reference corpus, and calibration there.

Every spectrum of the corpus index (``index.csv``: file, element, loader columns,
textbook CN) is run as a user would run it: first the bare command (``exafs-cn
predict FILE``: columns, absorber and format guessed from the file), and only where
that fails again with the index's loader columns and element as ``--energy``/``--mu``/
``--element``. Reports how many needed those options, how many got an answer, exact and
within-1 accuracy against the textbook CN (a spectrum without an answer counts as
wrong), per compound and in total, and the expected calibration error on these spectra.
Where the models include the average-CN regressor, also its error against the textbook CN
and how often the 90% interval holds it (the corpus has pure compounds only: every
textbook CN here is an integer, so this checks the regressor on pure phases).
The default models are the shipped ones (``--models-dir`` for others).

    python benchmarks/measured.py [--corpus ../shared/data/experimental] [--models-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
from larch.xafs import find_e0
from larch.xafs.xafsutils import ETOK

from exafs_cn.datagen.dataset import now_iso, write_json_atomic
from exafs_cn.learn.calibration import top_label_ece
from exafs_cn.learn.novelty import NoveltyCheck
from exafs_cn.measured.predict import ModelStore, PredictError, Prediction, predict_spectrum
from exafs_cn.measured.readers import Columns, MeasuredSpectrum, SpectrumFileError, read_file
from exafs_cn.settings import ProcessingSettings

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "experimental")
    parser.add_argument("--models-dir", type=Path, default=None, help="default: $EXAFS_CN_MODELS, else the shipped models")
    parser.add_argument("--model", default="rf")
    parser.add_argument("--truncate-k", type=float, default=None, help="cut every spectrum at this k (1/A): a short-scan check")
    parser.add_argument("--out", type=Path, default=None, help="default: results/measured.json (measured_k<K>.json when truncated)")
    args = parser.parse_args()
    if args.out is None:
        name = f"measured_k{args.truncate_k:g}.json" if args.truncate_k else "measured.json"
        args.out = Path(__file__).parent / "results" / name

    store = ModelStore(args.models_dir, args.model)
    rows = list(csv.DictReader(open(args.corpus / "index.csv")))
    table = []
    started = time.perf_counter()
    for row in rows:
        entry = {"file": row["file"], "compound": row["compound"], "element": row["element"], "known_cn": int(row["textbook_cn"])}
        prediction, bare_error = _run(args.corpus / row["file"], store, None, Columns(), args.truncate_k)
        if prediction is None:  # as a user would next: name the columns and the element
            loader = json.loads(row["loader"])
            columns = Columns(loader.get("energy"), loader.get("mu"))
            prediction, error = _run(args.corpus / row["file"], store, row["element"], columns, args.truncate_k)
            entry["needed_options"] = bare_error
        if prediction is None:
            entry.update(predicted_cn=None, error=error)
            table.append(entry)
            print(f"   {row['file'][:60]:60s} error: {error}")
            continue
        entry.update(
            predicted_cn=prediction.cn,
            element_found=prediction.element,
            element_source=prediction.element_source,
            probabilities=prediction.probabilities,
            cn_mean=None if prediction.cn_mean is None else round(prediction.cn_mean, 2),
            cn_interval=None if prediction.cn_interval is None else [round(v, 2) for v in prediction.cn_interval],
            reason=prediction.reason,
            kmax=round(prediction.kmax, 1),
            notes=list(prediction.notes),
            **_novelty_margins(prediction, store),
        )
        table.append(entry)
        if prediction.cn is None:
            print(f"   {row['file'][:60]:60s} {row['element']:2s} known {entry['known_cn']:2d} no answer: {prediction.reason}")
            continue
        p = prediction.probabilities[str(prediction.cn)]
        mark = "ok" if prediction.cn == entry["known_cn"] else "  "
        print(f"{mark} {row['file'][:60]:60s} {row['element']:2s} known {entry['known_cn']:2d} predicted {prediction.cn:2d} (p {p:.2f})")
    seconds = time.perf_counter() - started

    done = [t for t in table if t.get("predicted_cn") is not None]
    exact = [t["predicted_cn"] == t["known_cn"] for t in done]
    within = [abs(t["predicted_cn"] - t["known_cn"]) <= 1 for t in done]
    n = len(table)
    per_compound: dict[str, list[bool]] = defaultdict(list)
    for t, ok in zip(done, exact):
        per_compound[f"{t['compound']} ({t['element']}, CN {t['known_cn']})"].append(ok)
    ece = _ece(done)
    summary = {
        "created": now_iso(),
        "corpus": str(args.corpus),
        "models_dir": str(store.models_dir),
        "model": args.model,
        "truncated_at_k": args.truncate_k,
        "spectra": n,
        "predicted": len(done),
        "no_answer": sum(1 for t in table if "error" not in t and t.get("predicted_cn") is None),
        "errors": sum(1 for t in table if "error" in t),
        "needed_options": sum(1 for t in table if "needed_options" in t),
        "element_from_edge": sum(1 for t in table if t.get("element_source") == "edge"),
        "element_wrong": sum(1 for t in table if t.get("element_found") not in (None, t["element"])),
        "exact_accuracy": round(sum(exact) / n, 4) if n else None,
        "exact_accuracy_of_answered": round(float(np.mean(exact)), 4) if done else None,
        "within_one_accuracy": round(sum(within) / n, 4) if n else None,
        "seconds": round(seconds, 1),
        "ece_measured": ece,
        **_average_cn_summary(done),
        # How far the measured spectra sit from the "no answer" thresholds (>1 and <1 are safe).
        "min_amplitude_over_floor": _extreme(table, "amplitude_over_floor", min),
        "max_noise_over_ceiling": _extreme(table, "noise_over_ceiling", max),
        "per_compound": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(per_compound.items())},
        "table": table,
    }
    write_json_atomic(summary, args.out)
    print(
        f"\n{len(done)}/{n} answered ({summary['no_answer']} no answer, {summary['errors']} errors, "
        f"{summary['needed_options']} needed options beyond the bare command); exact {summary['exact_accuracy']}, within 1 {summary['within_one_accuracy']}, "
        f"ECE {ece}; per compound: " + ", ".join(f"{k} {v}" for k, v in summary["per_compound"].items())
    )
    if summary.get("cn_mean_spectra"):
        print(
            f"mean CN on {summary['cn_mean_spectra']} spectra: MAE {summary['cn_mean_mae']} against the textbook CN, "
            f"within 0.5 {summary['cn_mean_within_half']}, 90% interval holds it {summary['cn_mean_coverage_90']} "
            f"(median width {summary['cn_mean_median_width_90']})"
        )
    print(f"written to {args.out}")


def _run(
    path: Path, store: ModelStore, element: str | None, columns: Columns, truncate_k: float | None
) -> tuple[Prediction | None, str | None]:
    """The file's one spectrum predicted (its data cut at ``truncate_k``), or None and the error."""
    try:
        (item,) = read_file(path, element, columns)
        if isinstance(item, SpectrumFileError):
            return None, str(item)
        if truncate_k is not None:
            item = _truncated(item, truncate_k)
        return predict_spectrum(item, store), None
    except (SpectrumFileError, PredictError) as exc:
        return None, str(exc)


def _truncated(spectrum: MeasuredSpectrum, kmax: float) -> MeasuredSpectrum:
    """The same scan as if it had stopped at ``kmax`` above its edge."""
    e0 = float(find_e0(spectrum.energy, spectrum.mu))
    keep = spectrum.energy <= e0 + kmax**2 / ETOK
    return replace(spectrum, energy=spectrum.energy[keep], mu=spectrum.mu[keep], kmax=min(spectrum.kmax, kmax))


def _novelty_margins(prediction: Prediction, store: ModelStore) -> dict:
    """The spectrum's first-shell amplitude over the model's floor, and its noise share over the ceiling."""
    saved = store.get(prediction.element)
    if prediction.processed is None or saved.novelty is None:
        return {}
    check = NoveltyCheck.from_dict(saved.novelty)
    amplitude, noise = (float(v[0]) for v in check.scores(prediction.processed.chir_mag, ProcessingSettings.from_dict(saved.settings)))
    return {"amplitude_over_floor": round(amplitude / check.amplitude_floor, 2), "noise_over_ceiling": round(noise / check.noise_ceiling, 3)}


def _average_cn_summary(done: list[dict]) -> dict:
    """MAE, share within 0.5 and interval coverage of the mean CN, where the regressor answered."""
    rows = [t for t in done if t.get("cn_mean") is not None]
    if not rows:
        return {}
    error = np.array([abs(t["cn_mean"] - t["known_cn"]) for t in rows])
    covered = [t["cn_interval"][0] <= t["known_cn"] <= t["cn_interval"][1] for t in rows]
    width = [t["cn_interval"][1] - t["cn_interval"][0] for t in rows]
    return {
        "cn_mean_spectra": len(rows),
        "cn_mean_mae": round(float(error.mean()), 3),
        "cn_mean_within_half": round(float(np.mean(error <= 0.5)), 3),
        "cn_mean_coverage_90": round(float(np.mean(covered)), 3),
        "cn_mean_median_width_90": round(float(np.median(width)), 2),
    }


def _extreme(table: list[dict], key: str, pick) -> float | None:
    values = [t[key] for t in table if key in t]
    return pick(values) if values else None


def _ece(done: list[dict]) -> float | None:
    """Top-label ECE over all measured spectra (each on its own element's classes)."""
    if not done:
        return None
    confidence = [t["probabilities"][str(t["predicted_cn"])] for t in done]
    correct = [t["predicted_cn"] == t["known_cn"] for t in done]
    return round(top_label_ece(np.array(confidence), np.array(correct)), 4)


if __name__ == "__main__":
    main()

"""Predicted vs known CN on the measured reference corpus, by compound and chemistry, and calibration there.

Every spectrum of the corpus index (``index.csv``: file, element, loader columns,
textbook CN, notes) is run as a user would run it: first the bare command (``exafs-cn
predict FILE``: columns, absorber and format guessed from the file), and only where
that fails again with the index's loader columns and element as ``--energy``/``--mu``/
``--element``. Reports how many needed those options, how many got an answer, exact and
within-1 accuracy against the textbook CN (a spectrum without an answer counts as
wrong; a non-integer textbook CN is matched to its nearest integer), in total, per
compound, per chemistry class, per first-shell neighbour and per CN (classes from
``studies/data/corpus_classes.csv``), each with and without the labels the corpus
marks doubtful.

Calibration: the probabilities as the models give them, and recalibrated by one
exponent, one pre-edge weight and one bond-length weight (:mod:`exafs_cn.models._measured_calibration`;
the bond-length evidence from the models folder's ``bond_lengths.npz``, ``--bond-lengths off``
to leave it out) fitted leave-one-compound-out: each compound's spectra get the calibration
fitted on all the other compounds. The two weights can change the answer, so every accuracy reported
(``predicted_cn``) is the answer under that grouped calibration, as a compound the corpus
does not hold would get it; ``as_trained_cn`` and ``without_doubtful_as_trained`` are the
forest's own. ``--write-calibration`` fits the three numbers on the whole corpus and writes
them beside the models (``measured_calibration.json``), with the grouped figures.
Where the models include the average-CN regressor, also its error against the textbook
CN (the regressor's value held within 1 of the grouped answer, as ``predict`` holds it),
how often the 90% interval holds it, and how often the regressor alone lies within 1.
The default models are the shipped ones (``--models-dir`` for others).

    python studies/measured.py [--corpus ../shared/data/experimental] [--models-dir DIR] [--write-calibration]
    python studies/measured.py --out /tmp/measured.json --same-as studies/results/measured.json  # every answer as before?
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
from larch.xafs import find_e0
from larch.xafs.xafsutils import ETOK
from paths import portable  # a sibling module: run as python studies/<name>.py

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import now_iso
from exafs_cn.learn import top_label_ece
from exafs_cn.measured import (
    Columns,
    Failure,
    MeasuredSpectrum,
    ModelStore,
    Prediction,
    SpectrumFileError,
    bond_length_evidence,
    held_to_class,
    predict_spectra,
    read_file,
)
from exafs_cn.models import BOND_LENGTHS_FILE, CALIBRATION_FILE, BondLengths, PowerCalibration

REPO = Path(__file__).resolve().parents[1]
#: The absorbers whose pre-edge peak the calibration may weigh (``--pre-edge-elements``).
PRE_EDGE_VARIANTS = {"all": None, "open-3d": ("Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni")}
CLASSES = Path(__file__).parent / "data" / "corpus_classes.csv"
#: Confidence at and above which a wrong answer is a confident miss.
CONFIDENT = 0.9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "experimental")
    parser.add_argument("--models-dir", type=Path, default=None, help="default: $EXAFS_CN_MODELS, else the shipped models")
    parser.add_argument("--model", default="rf")
    parser.add_argument("--truncate-k", type=float, default=None, help="cut every spectrum at this k (1/A): a short-scan check")
    parser.add_argument("--out", type=Path, default=None, help="default: results/measured.json (measured_k<K>.json when truncated)")
    parser.add_argument(
        "--pre-edge-elements",
        choices=sorted(PRE_EDGE_VARIANTS),
        default="all",
        help="absorbers whose pre-edge peak the calibration weighs: all, or open-3d (Sc-Ni: Cu and Zn, d9/d10, have next to no 1s->3d peak)",
    )
    parser.add_argument(
        "--bond-lengths",
        choices=("weigh", "off"),
        default="weigh",
        help="weigh the first-shell distance against the training pairs' (the models folder's bond_lengths.npz), or leave it out",
    )
    parser.add_argument("--write-calibration", action="store_true", help=f"fit the exponent on the whole corpus into <models-dir>/{CALIBRATION_FILE}")
    parser.add_argument(
        "--same-as",
        type=Path,
        default=None,
        help="an earlier results file: list every spectrum whose row differs from it and exit 1 if one does "
        "(a change that must leave every answer as it was; e.g. studies/results/measured.json)",
    )
    args = parser.parse_args()
    if args.out is None:
        name = f"measured_k{args.truncate_k:g}.json" if args.truncate_k else "measured.json"
        args.out = Path(__file__).parent / "results" / name

    store = ModelStore(args.models_dir, args.model, measured_calibration=False)  # raw: the calibration is fitted here
    bonds = None
    if args.bond_lengths == "weigh":
        if not (store.models_dir / BOND_LENGTHS_FILE).is_file():
            raise SystemExit(f"{store.models_dir}: no {BOND_LENGTHS_FILE} (exafs-cn dataset bond-lengths --models-dir ...), or give --bond-lengths off")
        bonds = BondLengths.load(store.models_dir / BOND_LENGTHS_FILE)
    classes = {row["compound"]: row for row in csv.DictReader(open(CLASSES))}
    rows = list(csv.DictReader(open(args.corpus / "index.csv")))
    missing = sorted({row["compound"] for row in rows} - set(classes))
    if missing:
        raise SystemExit(f"{CLASSES}: no chemistry class for {', '.join(missing)}")
    table = []
    started = time.perf_counter()
    for row in rows:
        known = float(row["textbook_cn"])
        entry = {
            "file": row["file"],
            "compound": row["compound"],
            "element": row["element"],
            "known_cn": known,
            "known_class": int(round(known)),
            "doubtful": "doubtful" in row["notes"].lower(),
            "neighbour": classes[row["compound"]]["neighbour"],
            "chemistry": classes[row["compound"]]["chemistry"],
        }
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
            cn_mean_model=None if prediction.cn_mean_model is None else round(prediction.cn_mean_model, 2),
            cn_interval_model=None if prediction.cn_interval is None else [round(v, 2) for v in prediction.cn_interval],
            pre_edge_height=None if prediction.pre_edge_height is None else round(prediction.pre_edge_height, 4),
            r1=None if prediction.r1 is None else round(prediction.r1, 3),
            r1_interval=None if prediction.r1_interval is None else [round(v, 3) for v in prediction.r1_interval],
            neighbour_probabilities=prediction.neighbour_probabilities,
            first_shell_evidence=_evidence(prediction, bonds),
            reason=prediction.reason,
            e0=None if prediction.e0 is None else round(prediction.e0, 2),
            kmax=round(prediction.kmax, 1),
            notes=list(prediction.notes),
            **_novelty_margins(prediction, store),
        )
        table.append(entry)
        if prediction.cn is None:
            print(f"   {row['file'][:60]:60s} {row['element']:2s} known {known:4g} no answer: {prediction.reason}")
            continue
        p = prediction.probabilities[str(prediction.cn)]
        mark = "ok" if prediction.cn == entry["known_class"] else "  "
        print(f"{mark} {row['file'][:60]:60s} {row['element']:2s} known {known:4g} predicted {prediction.cn:2d} (p {p:.2f})")
    seconds = time.perf_counter() - started

    pre_edge_elements = PRE_EDGE_VARIANTS[args.pre_edge_elements]
    grouped = _grouped_calibration(table, pre_edge_elements)
    for entry, calibrated in zip(table, grouped["probabilities"]):
        entry["as_trained_cn"] = entry["predicted_cn"]
        if calibrated is not None:
            entry["probabilities_grouped_calibration"] = calibrated
            entry["predicted_cn"] = int(max(calibrated, key=calibrated.get))
        if entry.get("cn_mean_model") is not None:
            # The interval is the regressor's, as predict gives it before holding the mean.
            mean, interval = held_to_class(entry["cn_mean_model"], tuple(entry.pop("cn_interval_model")), entry["predicted_cn"])
            entry.update(cn_mean=round(mean, 2), cn_interval=[round(v, 2) for v in interval])
    clean = [t for t in table if not t["doubtful"]]
    summary = {
        "created": now_iso(),
        "corpus": str(args.corpus),
        "models_dir": str(store.models_dir),
        "model": args.model,
        "truncated_at_k": args.truncate_k,
        "seconds": round(seconds, 1),
        "all": _scores(table),
        "without_doubtful": _scores(clean),
        "without_doubtful_as_trained": _scores(clean, "as_trained_cn"),
        "calibration": {
            "method": (
                "log p' = a log max(p, 1e-3) + w h [CN 4, 5] + v log L (h the pre-edge peak height, L the bond-length "
                "likelihood of the class), a and w fitted by Brier score, then w and v with a held; each compound scored "
                "with the a, w and v fitted on the others"
            ),
            "exponents_leave_one_compound_out": grouped["exponent_range"],
            "pre_edge_weights_leave_one_compound_out": grouped["weight_range"],
            "bond_length_weights_leave_one_compound_out": grouped["bond_length_weight_range"],
            "pre_edge_elements": args.pre_edge_elements,
            "bond_lengths": args.bond_lengths,
            "all": _calibration_scores(table),
            "without_doubtful": _calibration_scores(clean),
        },
        **_average_cn_summary([t for t in table if t.get("cn_mean") is not None]),
        # How far the measured spectra sit from the "no answer" thresholds (>1 and <1 are safe).
        "min_amplitude_over_floor": _extreme(table, "amplitude_over_floor", min),
        "max_noise_over_ceiling": _extreme(table, "noise_over_ceiling", max),
    }
    for key, label in (("compound", "per_compound"), ("chemistry", "per_chemistry"), ("neighbour", "per_neighbour"), ("known_class", "per_cn")):
        summary[label] = {"all": _breakdown(table, key), "without_doubtful": _breakdown(clean, key)}
    summary["table"] = table
    if args.write_calibration:
        calibration = _fit_all(table, summary, args.corpus, pre_edge_elements)
        path = calibration.save(store.models_dir / CALIBRATION_FILE)
        summary["calibration"].update(
            shipped_exponent=calibration.exponent,
            shipped_pre_edge_weight=calibration.pre_edge_weight,
            shipped_bond_length_weight=calibration.first_shell_weight,
        )
        print(
            f"calibration exponent {calibration.exponent}, pre-edge weight {calibration.pre_edge_weight}, bond-length weight "
            f"{calibration.first_shell_weight} (fitted on the whole corpus) written to {path}"
        )
    write_json_atomic(portable(summary), args.out)
    _print_summary(summary)
    print(f"written to {args.out}")
    if args.same_as is not None:
        differing = _differing_rows(portable(summary)["table"], json.loads(args.same_as.read_text())["table"])
        for line in differing:
            print(line)
        print(f"{len(differing)} of {len(table)} rows differ from {args.same_as}")
        if differing:
            raise SystemExit(1)


def _differing_rows(table: list[dict], earlier: list[dict]) -> list[str]:
    """One line per spectrum whose row differs from ``earlier``'s (by file), naming the fields that do."""
    before = {row["file"]: row for row in earlier}
    lines = []
    for row in table:
        old = before.get(row["file"])
        if old is None:
            lines.append(f"{row['file']}: not in the earlier results")
            continue
        fields = sorted(key for key in set(row) | set(old) if row.get(key) != old.get(key))
        if fields:
            lines.append(f"{row['file']}: " + "; ".join(f"{key} {old.get(key)!r} -> {row.get(key)!r}" for key in fields))
    lines += [f"{name}: only in the earlier results" for name in sorted(set(before) - {row["file"] for row in table})]
    return lines


def _scores(table: list[dict], answer: str = "predicted_cn") -> dict:
    """Counts and accuracies of ``answer`` over ``table`` (an unanswered spectrum counts as wrong)."""
    done = [t for t in table if t.get(answer) is not None]
    n = len(table)
    exact = sum(t[answer] == t["known_class"] for t in done)
    within = sum(abs(t[answer] - t["known_cn"]) <= 1 for t in done)
    return {
        "spectra": n,
        "compounds": len({t["compound"] for t in table}),
        "answered": len(done),
        "no_answer": sum(1 for t in table if "error" not in t and t.get("predicted_cn") is None),
        "errors": sum(1 for t in table if "error" in t),
        "needed_options": sum(1 for t in table if "needed_options" in t),
        "element_from_edge": sum(1 for t in table if t.get("element_source") == "edge"),
        "element_wrong": sum(1 for t in table if t.get("element_found") not in (None, t["element"])),
        "exact": exact,
        "exact_accuracy": round(exact / n, 4) if n else None,
        "within_one_accuracy": round(within / n, 4) if n else None,
        # Compounds weigh the same however many scans they have.
        "compound_mean_accuracy": _compound_mean(table, answer),
        "per_cn": {cn: row["right"] for cn, row in _breakdown(table, "known_class", answer).items()},
    }


def _compound_mean(table: list[dict], answer: str = "predicted_cn") -> float | None:
    by: dict[str, list[bool]] = defaultdict(list)
    for t in table:
        by[t["compound"]].append(t.get(answer) == t["known_class"])
    return round(float(np.mean([np.mean(v) for v in by.values()])), 4) if by else None


def _breakdown(table: list[dict], key: str, answer: str = "predicted_cn") -> dict:
    """Per value of ``key``: spectra ``answer`` gets right / spectra, compounds, and the compound-mean accuracy."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for t in table:
        groups[str(t[key])].append(t)
    out = {}
    for name in sorted(groups, key=lambda v: (len(v), v) if key != "known_class" else (int(v), v)):
        rows = groups[name]
        right = sum(t.get(answer) == t["known_class"] for t in rows)
        out[name] = {
            "right": f"{right}/{len(rows)}",
            "compounds": len({t["compound"] for t in rows}),
            "accuracy": round(right / len(rows), 4),
            "compound_mean_accuracy": _compound_mean(rows, answer),
        }
    return out


def _true_index(entry: dict) -> int | None:
    classes = [int(c) for c in entry["probabilities"]]
    return classes.index(entry["known_class"]) if entry["known_class"] in classes else None


def _grouped_calibration(table: list[dict], pre_edge_elements: tuple[str, ...] | None) -> dict:
    """Each answered spectrum's probabilities under the exponent and pre-edge weight fitted on the other compounds."""
    answered = [t for t in table if t.get("predicted_cn") is not None]
    fitted = {}
    for compound in sorted({t["compound"] for t in answered}):
        fitted[compound] = _fit([t for t in answered if t["compound"] != compound], pre_edge_elements)
    out = []
    for t in table:
        if t.get("predicted_cn") is None:
            out.append(None)
            continue
        calibrated = fitted[t["compound"]].apply(*_calibration_inputs(t), t["element"], first_shell=_first_shell(t))
        out.append({c: round(float(p), 4) for c, p in zip(t["probabilities"], calibrated)})

    def span(values: list[float]) -> list[float] | None:
        return [min(values), max(values)] if values else None

    return {
        "probabilities": out,
        "exponent_range": span([f.exponent for f in fitted.values()]),
        "weight_range": span([f.pre_edge_weight for f in fitted.values()]),
        "bond_length_weight_range": span([f.first_shell_weight for f in fitted.values()]),
    }


def _calibration_inputs(entry: dict) -> tuple[np.ndarray, list[int], float | None]:
    """An entry's probability vector, its classes and its pre-edge height, as ``PowerCalibration.apply`` takes them."""
    return np.array(list(entry["probabilities"].values())), [int(c) for c in entry["probabilities"]], entry.get("pre_edge_height")


def _first_shell(entry: dict) -> np.ndarray | None:
    """An entry's bond-length log-likelihood per class, in the order of its probabilities (a
    results file read back has both by class name, in JSON's sorted order), where it has one."""
    evidence = entry.get("first_shell_evidence")
    return None if evidence is None else np.array([evidence[c] for c in entry["probabilities"]])


def _evidence(prediction: Prediction, bonds: BondLengths | None) -> dict[str, float] | None:
    """The prediction's bond-length log-likelihood by class (``bond_length_evidence``), rounded for the table."""
    classes = [int(c) for c in prediction.probabilities or {}]
    evidence = bond_length_evidence(prediction, classes, bonds) if classes else None
    return None if evidence is None else {str(c): round(float(v), 4) for c, v in zip(classes, evidence)}


def _fit(rows: list[dict], pre_edge_elements: tuple[str, ...] | None, **fitted_on) -> PowerCalibration:
    inputs = [_calibration_inputs(t) for t in rows]
    common = dict(elements=[t["element"] for t in rows], pre_edge_elements=pre_edge_elements, **fitted_on)
    probabilities, classes, heights = [p for p, _, _ in inputs], [c for _, c, _ in inputs], [h for _, _, h in inputs]
    truth = [_true_index(t) for t in rows]
    first_shell = [_first_shell(t) for t in rows]
    if all(f is None for f in first_shell):  # --bond-lengths off
        return PowerCalibration.fit_with_pre_edge(probabilities, classes, heights, truth, **common)
    return PowerCalibration.fit_with_evidence(probabilities, classes, heights, first_shell, truth, **common)


def _calibration_scores(table: list[dict]) -> dict:
    done = [t for t in table if t.get("predicted_cn") is not None]
    out = {}
    for label, key, answer in (("as_trained", "probabilities", "as_trained_cn"), ("grouped_calibration", "probabilities_grouped_calibration", "predicted_cn")):
        confidence = np.array([t[key][str(t[answer])] for t in done])
        correct = np.array([t[answer] == t["known_class"] for t in done])
        out[label] = {
            "ece": round(top_label_ece(confidence, correct), 4) if done else None,
            "mean_confidence": round(float(confidence.mean()), 4) if done else None,
            "accuracy_of_answered": round(float(correct.mean()), 4) if done else None,
            f"wrong_at_p_{CONFIDENT:g}": int(np.sum(~correct & (confidence >= CONFIDENT))),
            "accuracy_below_p_0.5": _share(correct[confidence < 0.5]),
            "accuracy_at_p_0.6_or_more": _share(correct[confidence >= 0.6]),
        }
    return out


def _share(values: np.ndarray) -> str | None:
    return f"{int(values.sum())}/{values.size}" if values.size else None


def _fit_all(table: list[dict], summary: dict, corpus: Path, pre_edge_elements: tuple[str, ...] | None) -> PowerCalibration:
    answered = [t for t in table if t.get("predicted_cn") is not None]
    grouped = summary["calibration"]["all"]["grouped_calibration"]
    return _fit(
        answered,
        pre_edge_elements,
        corpus=f"{os.path.relpath(corpus, REPO)} (index.csv: {len(table)} spectra of {len({t['compound'] for t in table})} compounds)",
        spectra=len(answered),
        compounds=len({t["compound"] for t in answered}),
        created=now_iso(),
        grouped_ece=grouped["ece"],
        grouped_wrong_at_p_0_9=grouped[f"wrong_at_p_{CONFIDENT:g}"],
        scored_by="leave-one-compound-out: python studies/measured.py",
    )


def _print_summary(summary: dict) -> None:
    raw = summary["without_doubtful_as_trained"]
    print(f"\nas trained (no measured calibration), without doubtful: {raw['exact']}/{raw['spectra']}, per CN {raw['per_cn']}")
    for label in ("all", "without_doubtful"):
        s = summary[label]
        print(
            f"\n{label}: {s['exact']}/{s['spectra']} exact ({s['exact_accuracy']}), {s['compounds']} compounds (mean over compounds "
            f"{s['compound_mean_accuracy']}); answered {s['answered']} ({s['no_answer']} no answer, {s['errors']} errors, "
            f"{s['needed_options']} needed options); per CN {s['per_cn']}"
        )
        for name in ("per_chemistry", "per_neighbour", "per_cn"):
            print(f"  {name}: " + ", ".join(f"{k} {v['right']} ({v['compounds']} cpd)" for k, v in summary[name][label].items()))
        cal = summary["calibration"][label]
        for kind, c in cal.items():
            print(f"  {kind}: ECE {c['ece']}, mean confidence {c['mean_confidence']}, wrong at p>=0.9: {c['wrong_at_p_0.9']}")
    if summary.get("cn_mean_spectra"):
        print(
            f"mean CN on {summary['cn_mean_spectra']} spectra: MAE {summary['cn_mean_mae']} against the textbook CN, "
            f"within 1 {summary['cn_mean_within_one']} ({summary['cn_mean_held']} held to the class; the regressor alone {summary['cn_mean_model_within_one']}), 90% interval holds it {summary['cn_mean_coverage_90']} "
            f"(median width {summary['cn_mean_median_width_90']})"
        )


def predict_as_user(row: dict, corpus: Path, store: ModelStore) -> Prediction | None:
    """The index row's spectrum predicted as a user would: the bare file, then with the index's
    columns and element where that fails; None where neither gives an answer."""
    prediction, _ = _run(corpus / row["file"], store, None, Columns(), None)
    if prediction is None:
        loader = json.loads(row["loader"])
        prediction, _ = _run(corpus / row["file"], store, row["element"], Columns(loader.get("energy"), loader.get("mu")), None)
    return prediction


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
    except SpectrumFileError as exc:
        return None, str(exc)
    (answer,) = predict_spectra([item], store)
    return (None, answer.error) if isinstance(answer, Failure) else (answer, None)


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
    check = saved.novelty_check
    amplitude, noise = (float(v[0]) for v in check.scores(prediction.processed.chir_mag, saved.processing))
    return {"amplitude_over_floor": round(amplitude / check.amplitude_floor, 2), "noise_over_ceiling": round(noise / check.noise_ceiling, 3)}


def _average_cn_summary(done: list[dict]) -> dict:
    """MAE, shares within 0.5 and 1 and interval coverage of the mean CN, where the regressor
    answered (labels not marked doubtful: every corpus compound is a pure phase)."""
    rows = [t for t in done if t.get("cn_mean") is not None and not t["doubtful"]]
    if not rows:
        return {}
    error = np.array([abs(t["cn_mean"] - t["known_cn"]) for t in rows])
    covered = [t["cn_interval"][0] <= t["known_cn"] <= t["cn_interval"][1] for t in rows]
    width = [t["cn_interval"][1] - t["cn_interval"][0] for t in rows]
    return {
        "cn_mean_spectra": len(rows),
        "cn_mean_mae": round(float(error.mean()), 3),
        "cn_mean_within_half": round(float(np.mean(error <= 0.5)), 3),
        "cn_mean_within_one": round(float(np.mean(error <= 1.0)), 3),
        # The regressor alone, before it is held within 1 of the class.
        "cn_mean_model_within_one": round(float(np.mean([abs(t["cn_mean_model"] - t["known_cn"]) <= 1.0 for t in rows])), 3),
        "cn_mean_model_within_one_of_class": round(float(np.mean([abs(t["cn_mean_model"] - t["predicted_cn"]) <= 1.0 for t in rows])), 3),
        "cn_mean_held": sum(t["cn_mean"] != t["cn_mean_model"] for t in rows),
        "cn_mean_coverage_90": round(float(np.mean(covered)), 3),
        "cn_mean_median_width_90": round(float(np.median(width)), 2),
    }


def _extreme(table: list[dict], key: str, pick) -> float | None:
    values = [t[key] for t in table if key in t]
    return pick(values) if values else None


if __name__ == "__main__":
    main()

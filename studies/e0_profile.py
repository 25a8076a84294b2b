"""E0 as a nuisance parameter on the measured corpus: the rule's E0 against the profiled one.

For every corpus spectrum (read as a user would, as ``studies/measured.py`` does), the
shipped models predict it twice: with ``--e0 rule`` (the half-step rule's E0, as before)
and as ``predict`` now does by default: :func:`exafs_cn.measured._e0_profile.profile` tries
E0 shifts of -25..+15 eV on the rule's chi(k) and keeps the one at which k^2 chi(k) over
3-10/A correlates best with the element's FEFF training spectra (the mean of the five
best correlations, against ``e0_references.npz`` beside the models), and the spectrum is
processed again from that E0. Nothing here is fitted to the corpus except, in the third
variant, the sharpness above which the shift is applied, which is chosen
leave-one-compound-out (each compound scored with the threshold chosen on the others).

Variants, each per textbook CN class, overall and as the compound mean, labels not doubtful:
``rule`` (today), ``profile`` (always shift), ``profile_sharp`` (shift only where the
profile peaks more sharply than the threshold). Also, on FEFF spectra (a fixed sample of
integer-CN pairs, each profiled against the references of other compositions only), the
shifts the profile picks where there is nothing to correct.

    python studies/e0_profile.py [--corpus ../shared/data/experimental] [--models-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
from measured import CLASSES, _breakdown, _compound_mean  # a sibling module: run as python studies/<name>.py
from paths import portable

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import Dataset, now_iso
from exafs_cn.features import k_grid
from exafs_cn.learn import load_features
from exafs_cn.measured import (
    K_RANGE,
    OFFSETS,
    TOP,
    Columns,
    E0Option,
    Failure,
    MeasuredSpectrum,
    ModelStore,
    Prediction,
    SpectrumFileError,
    predict_spectra,
    profile,
    read_file,
)
from exafs_cn.settings import DEFAULT_SETTINGS

REPO = Path(__file__).resolve().parents[1]
SHARPNESS_GRID = (0.0, 0.02, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 1.0)
FEFF_SAMPLE = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "experimental")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "e0_profile.json")
    args = parser.parse_args()

    started = time.perf_counter()
    meta, matrices = load_features(Dataset(REPO / "data"), ("k",), progress=False)
    grid = k_grid(DEFAULT_SETTINGS)
    inside = (grid >= K_RANGE[0]) & (grid <= K_RANGE[1] + 1e-9)
    library = matrices["k"][:, inside]
    usable = np.all(np.isfinite(library), axis=1)
    references = {el: np.flatnonzero((meta["absorber"] == el).to_numpy() & usable) for el in meta["absorber"].unique()}

    store = ModelStore(args.models_dir, "rf", measured_calibration=False)
    classes = {row["compound"]: row for row in csv.DictReader(open(CLASSES))}
    table = []
    for row in csv.DictReader(open(args.corpus / "index.csv")):
        spectrum = _as_user(row, args.corpus)
        entry = {
            "file": row["file"],
            "compound": row["compound"],
            "element": row["element"],
            "known_cn": float(row["textbook_cn"]),
            "known_class": int(round(float(row["textbook_cn"]))),
            "doubtful": "doubtful" in row["notes"].lower(),
            "neighbour": classes[row["compound"]]["neighbour"],
        }
        rule = _predict(None if spectrum is None else spectrum.with_e0(E0Option()), store)  # --e0 rule
        profiled = _predict(spectrum, store)  # the default: predict's own profile
        if rule is None or profiled is None:
            entry.update(rule_cn=None if rule is None else rule.cn, profile_cn=None if profiled is None else profiled.cn)
            table.append(entry)
            continue
        shift = float(profiled.e0_source.split()[1]) if profiled.e0_source.startswith("profile") else 0.0
        entry.update(
            rule_cn=rule.cn,
            rule_p=rule.probability,
            rule_e0=round(rule.e0, 2),
            shift=shift,
            sharpness=None if profiled.e0_sharpness is None else round(profiled.e0_sharpness, 4),
            profile_cn=profiled.cn,
            profile_p=profiled.probability,
            rule_cn_mean=rule.cn_mean,
            profile_r1=profiled.r1,
            rule_r1=rule.r1,
        )
        table.append(entry)
        mark = "".join("+" if c == entry["known_class"] else "-" for c in (rule.cn, entry["profile_cn"]))
        print(f"{mark} {row['file'][:58]:58s} known {entry['known_cn']:4g} rule {rule.cn} profile {entry['profile_cn']} "
              f"shift {shift:+5.1f} sharp {entry['sharpness']}")  # fmt: skip

    clean = [t for t in table if not t["doubtful"]]
    threshold_by_compound = _leave_one_compound_out(clean)
    for t in clean:
        t["profile_sharp_cn"] = _sharp_answer(t, threshold_by_compound.get(t["compound"]))
    summary = {
        "created": now_iso(),
        "method": {"offsets_eV": [float(OFFSETS[0]), float(OFFSETS[-1]), 1.0], "k_range": list(K_RANGE), "top": TOP,
                   "references": "FEFF integer-CN pairs of the element, k^2 chi(k) as the models' training processed them"},  # fmt: skip
        "seconds": None,
        "variants": {},
        "sharpness_thresholds_leave_one_compound_out": sorted(set(threshold_by_compound.values())),
        "feff_sample": _feff_sample(meta, matrices["k"], grid, inside, references, store),
    }
    for variant in ("rule", "profile", "profile_sharp"):
        scored = [{**t, "predicted_cn": t.get(f"{variant}_cn")} for t in clean]
        summary["variants"][variant] = {
            "right": sum(t["predicted_cn"] == t["known_class"] for t in scored),
            "spectra": len(scored),
            "compound_mean_accuracy": _compound_mean(scored),
            "per_cn": _breakdown(scored, "known_class"),
            "wrong_at_p_0_9": sum(
                1 for t in scored
                if t["predicted_cn"] is not None and t["predicted_cn"] != t["known_class"]
                and (t.get(f"{variant}_p") or t.get("profile_p" if variant != "rule" else "rule_p") or 0) >= 0.9
            ),
        }  # fmt: skip
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["table"] = table
    write_json_atomic(portable(summary), args.out)
    for variant, scores in summary["variants"].items():
        per_cn = ", ".join(f"CN {cn} {v['right']}" for cn, v in scores["per_cn"].items())
        print(f"{variant:14s} {scores['right']}/{scores['spectra']} compound mean {scores['compound_mean_accuracy']}: {per_cn}")
    print(f"FEFF sample: {summary['feff_sample']}")
    print(f"written to {args.out}")


def _as_user(row: dict, corpus: Path) -> MeasuredSpectrum | None:
    """The row's spectrum as a user reads it: the bare file, else with the index's columns and element."""
    for element, columns in ((None, Columns()), (row["element"], Columns(*_loader(row)))):
        try:
            (item,) = read_file(corpus / row["file"], element, columns)
        except (SpectrumFileError, ValueError):
            continue
        if not isinstance(item, SpectrumFileError):
            return item
    return None


def _loader(row: dict) -> tuple[str | None, str | None]:
    loader = json.loads(row["loader"])
    return loader.get("energy"), loader.get("mu")


def _predict(spectrum: MeasuredSpectrum | None, store: ModelStore) -> Prediction | None:
    if spectrum is None:
        return None
    (answer,) = predict_spectra([spectrum], store)
    return None if isinstance(answer, Failure) or answer.cn is None else answer


def _sharp_answer(entry: dict, threshold: float | None) -> int | None:
    if threshold is None or entry.get("sharpness") is None:
        return entry.get("rule_cn")
    return entry["profile_cn"] if entry["sharpness"] >= threshold else entry["rule_cn"]


def _leave_one_compound_out(table: list[dict]) -> dict[str, float]:
    """Per compound, the sharpness threshold that is best on all the other compounds (compound-mean accuracy)."""
    chosen = {}
    for compound in sorted({t["compound"] for t in table}):
        rest = [t for t in table if t["compound"] != compound]
        by_threshold = {}
        for threshold in SHARPNESS_GRID:
            scored = [{**t, "predicted_cn": _sharp_answer(t, threshold)} for t in rest]
            by_threshold[threshold] = _compound_mean(scored) or 0.0
        chosen[compound] = max(SHARPNESS_GRID, key=lambda th: (by_threshold[th], -th))
    return chosen


def _feff_sample(meta, full: np.ndarray, full_grid: np.ndarray, inside: np.ndarray, references: dict, store: ModelStore) -> dict:
    """The profile on FEFF spectra, where there is no phase to correct: the shifts it picks
    (each spectrum against the references of other compositions only), and the shipped
    models' answers from the rule's E0 and from the profiled one. The models were trained on
    these spectra (in-sample), so the accuracies are high; what matters is the change."""
    from dataclasses import replace

    from exafs_cn.features import ProcessingError, featurizers_for, process
    from exafs_cn.learn import pair_spectra
    from exafs_cn.settings import ProcessingSettings

    library = full[:, inside]
    rng = np.random.default_rng(0)
    rows = rng.choice(np.flatnonzero(np.all(np.isfinite(full), axis=1)), size=FEFF_SAMPLE, replace=False)
    pairs_meta, spectra = pair_spectra(Dataset(REPO / "data"))
    assert list(pairs_meta["material_id"]) == list(meta["material_id"])  # the cache's rows, in order
    shifts, right_rule, right_profile = [], 0, 0
    for i in rows:
        element, formula = meta["absorber"].iloc[i], meta["formula"].iloc[i]
        others = [j for j in references[element] if meta["formula"].iloc[j] != formula]
        chi = full[i] / full_grid**2  # the row is k^2 chi(k) on 3-12/A
        shift = profile(full_grid, chi, library[others], full_grid[inside]).shift
        shifts.append(shift)
        saved = store.get(element)
        settings = ProcessingSettings.from_dict(saved.settings)
        answers = []
        for spectrum in (spectra[i], replace(spectra[i], e0_shift=shift)):
            try:
                processed = process(spectrum, settings)
            except ProcessingError:  # a shift below FEFF's first energy: the rule's E0 instead
                processed = process(spectra[i], settings)
            x = np.concatenate([f.featurize(processed) for f in featurizers_for(saved.feature_set, settings)])
            answers.append(int(saved.estimator.classes_[np.argmax(saved.estimator.predict_proba(x[None])[0])]))
        truth = int(round(float(meta["pair_cn"].iloc[i])))
        right_rule += answers[0] == truth
        right_profile += answers[1] == truth
    shifts = np.array(shifts)
    return {
        "spectra": FEFF_SAMPLE,
        "seed": 0,
        "median_abs_shift_eV": float(np.median(np.abs(shifts))),
        "within_2_eV": round(float(np.mean(np.abs(shifts) <= 2)), 3),
        "within_5_eV": round(float(np.mean(np.abs(shifts) <= 5)), 3),
        "in_sample_accuracy_rule": round(right_rule / FEFF_SAMPLE, 3),
        "in_sample_accuracy_profile": round(right_profile / FEFF_SAMPLE, 3),
    }


if __name__ == "__main__":
    main()

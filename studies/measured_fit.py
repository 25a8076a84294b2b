"""The first-shell fit (``predict --fit``) on the measured corpus: does it converge, and where
it does, is its N inside the ML answer's 90% interval?

Each spectrum of the corpus (``../shared/data/experimental/``) is predicted as a user would
(the bare command, then with the index's columns and element where that fails, as
``studies/measured.py`` does) and fitted with the shipped settings (S02 0.9 fixed; no foil).
Reported, for the labels not doubtful and for all: how many fits converged; of those, N
inside the average-CN model's 90% interval, N within 1 of the textbook CN, the median
R-factor; and R against the MP structure's first-shell distance where it is bundled (PBE
distances, ~1% long). The fit's settings are textbook ones fixed beforehand
(:mod:`exafs_cn.measured._fit`). One rule was changed after the first run of this script:
for the class ``metal`` the reference's neighbours are the absorber's own element
(``ReferencePaths(own_metal=True)``) where the first run took any metal nearest R1 (a Cu
foil fitted with a Cu-Mn path). Both rules are run (only the answers of class ``metal``
differ) and the choice between them is scored leave-one-compound-out: for each compound,
the rule with more converged fits with N inside the ML interval on the other compounds is
used for it (``choice_scored_by_compound``). With a foil (``foil_s02``): S02 fitted on the
first metal-foil spectrum of each element that has one, used for the element's other compounds.
And S02 set on the corpus (``s02_calibrated_by_compound``): for each compound, the S02 at which
the other compounds' fits give their textbook CN in the median, pooled or for metal and
non-metal neighbours apart (a fit determines S02 * N, so N follows without refitting).

    python studies/measured_fit.py [--models-dir DIR] [--data data] [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
import time
import warnings
from pathlib import Path

import numpy as np
from measured import predict_as_user  # a sibling script: the corpus read as a user would
from paths import REPO, portable
from tqdm import tqdm

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import Dataset, now_iso
from exafs_cn.learn import pair_labels
from exafs_cn.measured import DEFAULT_S02, FOIL_CLASS, FitError, ModelStore, ReferencePaths, fit_first_shell, fit_foil_s02


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "experimental")
    parser.add_argument("--models-dir", type=Path, default=None, help="default: $EXAFS_CN_MODELS, else the shipped models")
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "measured_fit.json")
    args = parser.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)

    truth = pair_labels(Dataset(args.data)).set_index(["material_id", "absorber"])
    store = ModelStore(args.models_dir)
    rows = list(csv.DictReader(open(args.corpus / "index.csv")))
    table = []
    start = time.perf_counter()
    with ReferencePaths() as paths, ReferencePaths(own_metal=False) as any_metal:
        foils = _foil_s02(rows, args.corpus, store, paths)
        for row in tqdm(rows, desc="fits", unit="spectrum"):
            prediction = predict_as_user(row, args.corpus, store)
            entry = {
                "file": row["file"],
                "compound": row["compound"],
                "element": row["element"],
                "cn_textbook": float(row["textbook_cn"]),
                "doubtful": "doubtful" in row["notes"].lower(),
            }
            key = (row["material_id"], row["element"])
            if key in truth.index:
                entry["r1_structure"] = round(float(truth.loc[key]["r1"]), 4)
            if prediction is None or prediction.cn is None:
                entry["error"] = "not predicted" if prediction is None else f"no answer: {prediction.reason}"
                table.append(entry)
                continue
            entry.update(cn=prediction.cn, cn_interval=[round(v, 2) for v in prediction.cn_interval or (np.nan, np.nan)], r1=round(prediction.r1, 4))
            entry.update(_fit(prediction, paths))
            entry["any_metal"] = _fit(prediction, any_metal) if prediction.neighbour == FOIL_CLASS else None
            foil = foils.get(row["element"], {})
            if "s02" in foil and row["compound"] != foil["compound"]:
                entry["foil"] = _fit(prediction, paths, foil["s02"])
            table.append(entry)
    summary = {
        "command": "python studies/measured_fit.py",
        "created": now_iso(),
        "corpus": str(args.corpus),
        "models_dir": str(store.models_dir),
        "s02": DEFAULT_S02,
        "seconds": round(time.perf_counter() - start, 1),
        "without_doubtful": _scores([t for t in table if not t["doubtful"]]),
        "all": _scores(table),
        "any_metal_rule": {
            "without_doubtful": _scores([_any_metal(t) for t in table if not t["doubtful"]]),
            "all": _scores([_any_metal(t) for t in table]),
        },
        "foil_s02": {
            "note": "S02 fitted on the first metal-foil spectrum of the element (N fixed at the metal's CN), used for the "
            "element's other compounds; scored on those spectra, beside the default S02 on the same spectra",
            "foils": foils,
            "without_doubtful": {
                "default_s02": _scores([t for t in table if "foil" in t and not t["doubtful"]]),
                "foil_s02": _scores([_with_foil(t) for t in table if "foil" in t and not t["doubtful"]]),
            },
        },
        "choice_scored_by_compound": {
            "without_doubtful": _scores(_chosen_by_compound([t for t in table if not t["doubtful"]])),
            "all": _scores(_chosen_by_compound(table)),
        },
        "s02_calibrated_by_compound": _s02_calibrated_by_compound(_chosen_by_compound([t for t in table if not t["doubtful"]])),
        "per_textbook_cn": _per_cn(_chosen_by_compound([t for t in table if not t["doubtful"]])),
        "failures": _failure_kinds([t for t in table if "cn" in t and "fit" not in t]),
        "table": table,
    }
    write_json_atomic(portable(summary), args.out)
    for label in ("without_doubtful", "all"):
        print(label, summary[label])
    print("failures", summary["failures"])
    print(f"written to {args.out}")


def _foil_s02(rows: list[dict], corpus: Path, store: ModelStore, paths: ReferencePaths) -> dict:
    """Per element, S02 from the first (by file name) spectrum of a metal foil whose label is not doubtful."""
    foils = {}
    for row in sorted(rows, key=lambda r: r["file"]):
        if " metal (" not in row["compound"] or "doubtful" in row["notes"].lower() or row["element"] in foils:
            continue
        prediction = predict_as_user(row, corpus, store)
        foil = {"file": row["file"], "compound": row["compound"]}
        try:
            if prediction is None:
                raise FitError("not predicted")
            value, error = fit_foil_s02(prediction, paths)
            foil.update(s02=round(value, 4), s02_error=round(error, 4))
        except FitError as exc:
            foil["error"] = str(exc)
        foils[row["element"]] = foil
    return foils


def _fit(prediction, paths: ReferencePaths, s02: float | None = None) -> dict:
    try:
        fit = fit_first_shell(prediction, paths) if s02 is None else fit_first_shell(prediction, paths, s02=s02, s02_source="foil")
        return {"fit": fit.to_dict()}
    except FitError as exc:
        return {"error": str(exc).split(": ", 1)[-1]}


def _with_foil(entry: dict) -> dict:
    """The entry as the foil's S02 gave it."""
    other = {k: v for k, v in entry.items() if k not in ("fit", "error")}
    return {**other, **entry["foil"]}


def _any_metal(entry: dict) -> dict:
    """The entry as the first run's rule (any metal's path) gave it."""
    if not entry.get("any_metal"):
        return entry
    other = {k: v for k, v in entry.items() if k not in ("fit", "error")}
    return {**other, **entry["any_metal"]}


def _good(entry: dict) -> bool:
    """A converged fit with N inside the ML answer's 90% interval."""
    fit = entry.get("fit")
    return fit is not None and entry["cn_interval"][0] <= fit["n"] <= entry["cn_interval"][1]


def _chosen_by_compound(table: list[dict]) -> list[dict]:
    """Each compound's entries under the rule that did better on the other compounds."""
    chosen = []
    for compound in sorted({t["compound"] for t in table}):
        others = [t for t in table if t["compound"] != compound and "cn" in t]
        own_rule = sum(map(_good, others)) >= sum(_good(_any_metal(t)) for t in others)
        chosen += [t if own_rule else _any_metal(t) for t in table if t["compound"] == compound]
    return chosen


def _scores(table: list[dict]) -> dict:
    answered = [t for t in table if "cn" in t]
    fitted = [t for t in answered if "fit" in t]
    scores = {
        "spectra": len(table),
        "answered": len(answered),
        "fits_converged": len(fitted),
        "fits_converged_share": round(len(fitted) / len(answered), 4) if answered else None,
    }
    if not fitted:
        return scores
    n = np.array([t["fit"]["n"] for t in fitted])
    low = np.array([t["cn_interval"][0] for t in fitted])
    high = np.array([t["cn_interval"][1] for t in fitted])
    textbook = np.array([t["cn_textbook"] for t in fitted])
    scores.update(
        n_inside_ml_interval=round(float(np.mean((n >= low) & (n <= high))), 4),
        n_within_1_of_textbook=round(float(np.mean(np.abs(n - textbook) <= 1)), 4),
        n_mae_textbook=round(float(np.mean(np.abs(n - textbook))), 3),
        ml_cn_mae_textbook=round(float(np.mean([abs(t["cn"] - t["cn_textbook"]) for t in fitted])), 3),
        median_r_factor=round(float(np.median([t["fit"]["r_factor"] for t in fitted])), 4),
        compounds=len({t["compound"] for t in fitted}),
    )
    with_r = [t for t in fitted if "r1_structure" in t]
    if with_r:
        fit_error = np.array([t["fit"]["r"] - t["r1_structure"] for t in with_r])
        ml_error = np.array([t["r1"] - t["r1_structure"] for t in with_r])
        scores.update(
            r_spectra=len(with_r),
            r_mae_fit=round(float(np.abs(fit_error).mean()), 4),
            r_mean_signed_fit=round(float(fit_error.mean()), 4),
            r_mae_ml_same_spectra=round(float(np.abs(ml_error).mean()), 4),
            r_within_0_04_fit=round(float(np.mean(np.abs(fit_error) <= 0.04)), 4),
        )
    return scores


def _per_cn(table: list[dict]) -> dict:
    """Converged fits, and N inside the ML interval, per textbook CN (rounded)."""
    by_cn: dict[str, list[dict]] = {}
    for t in table:
        if "fit" in t:
            by_cn.setdefault(str(round(t["cn_textbook"])), []).append(t)
    return {cn: f"{sum(map(_good, fits))}/{len(fits)}" for cn, fits in sorted(by_cn.items(), key=lambda item: int(item[0]))}


def _s02_calibrated_by_compound(table: list[dict]) -> dict:
    """S02 set on measured spectra, scored leave-one-compound-out.

    A fit with S02 fixed determines S02 * N, so the N of any other S02 is N * S02 / S02'
    without refitting. For each compound, S02' is the S02 at which the fits of the *other*
    compounds give their textbook CN in the median (the median over compounds of each
    compound's median N / CN, times the S02 used), as one would set S02 from reference
    compounds; pooled over all compounds, and apart for metal and non-metal neighbours.
    """
    fitted = [t for t in table if "fit" in t]
    ratio = {c: float(np.median([t["fit"]["n"] / t["cn_textbook"] for t in fitted if t["compound"] == c])) for c in {t["compound"] for t in fitted}}
    metal = {t["compound"]: t["fit"]["reference"]["neighbour"] in (FOIL_CLASS, t["element"]) for t in fitted}
    out = {}
    for rule, same_group in (("pooled", lambda a, b: True), ("metal_or_not", lambda a, b: metal[a] == metal[b])):
        scaled, used = [], {}
        for compound in sorted(ratio):
            others = [ratio[c] for c in ratio if c != compound and same_group(c, compound)]
            factor = float(np.median(others))
            used[compound] = round(DEFAULT_S02 * factor, 3)
            scaled += [{**t, "fit": {**t["fit"], "n": t["fit"]["n"] / factor}} for t in fitted if t["compound"] == compound]
        out[rule] = {
            "s02_range": [min(used.values()), max(used.values())],
            "without_doubtful": _scores(scaled),
            "per_textbook_cn": _per_cn(scaled),
        }
    out["s02_from_all_compounds"] = round(DEFAULT_S02 * float(np.median(list(ratio.values()))), 3)
    return out


def _failure_kinds(table: list[dict]) -> dict:
    kinds: dict[str, int] = {}
    for t in table:
        kind = t["error"].split("(")[0].strip()
        kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items(), key=lambda item: -item[1]))


if __name__ == "__main__":
    main()

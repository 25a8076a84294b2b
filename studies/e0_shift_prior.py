"""A prior on the profiled E0 shift, or the answer averaged over shifts: does either beat the profile's best shift?

``predict`` moves E0 to the shift at which k^2 chi(k) correlates best with the element's training
spectra (``studies/e0_profile.py``). A shift of E0 and a change of bond length trade against each
other in the phase (10 eV is ~0.07 A at k ~ 6/A for a 2 A bond), so a free shift can make an
octahedral Zn-O look tetrahedral: the profile's losses (aqueous Zn2+, zinc oxalate, hematite: CN 6
read as 4) all went that way. Two remedies, each a family of variants:

- a prior: the shift maximising ``score - lam * ((shift - centre) / 10 eV)**2`` (``lam`` 0 is the
  profile as shipped; large ``lam`` is the rule's E0), centre 0, +5 or +8 eV;
- averaging: the forest's probabilities at every shift weighted by ``exp(score / tau)``.

For every corpus spectrum (read as a user would) the shipped forest is run at every shift the profile
tries, without the measured calibration (the calibration was fitted at the profile's shifts), and each
variant picks its answer from those. Labels not doubtful; per textbook CN; and, since the variants
are chosen by looking at the corpus, the choice among them scored leave-one-compound-out
(``studies/grouped_choice.py``: each compound answered by the variant right on most spectra of the
other compounds, the shipped one on ties).

    python studies/e0_shift_prior.py [--corpus ../shared/data/experimental]

About 4 minutes on 2 cores. Results: ``studies/results/e0_shift_prior.json``.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
from e0_profile import _as_user  # a sibling module: run as python studies/<name>.py
from grouped_choice import grouped_choice
from measured import _breakdown, _compound_mean
from paths import portable

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import now_iso
from exafs_cn.features import process
from exafs_cn.measured import OFFSETS, E0Option, Failure, ModelStore, predict_spectra, profile

REPO = Path(__file__).resolve().parents[1]
PRIOR_WEIGHTS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.4)
PRIOR_CENTRES = (0.0, 5.0, 8.0)
TEMPERATURES = (0.005, 0.01, 0.02, 0.04, 0.08)
SHIPPED = "profile (shipped: the best shift)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "experimental")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "e0_shift_prior.json")
    args = parser.parse_args()

    store = ModelStore(None, "rf", measured_calibration=False)
    spectra = []
    for row in csv.DictReader(open(args.corpus / "index.csv")):
        if "doubtful" in row["notes"].lower():
            continue
        spectrum = _as_user(row, args.corpus)
        entry = {"file": row["file"], "compound": row["compound"], "known_class": int(round(float(row["textbook_cn"])))}
        if spectrum is not None:
            saved = store.get(spectrum.element)
            rule = process(spectrum.with_e0(E0Option()).to_spectrum(), saved.processing)
            references = store.e0_references
            entry["scores"] = profile(rule.k, rule.chi, references.by_element[spectrum.element], references.grid).scores
            answers = predict_spectra([spectrum.with_e0(E0Option(shift=float(d))) for d in OFFSETS], store)
            entry["answers"] = [None if isinstance(a, Failure) or a.cn is None else (a.cn, a.probabilities) for a in answers]
        spectra.append(entry)
        print(f"{len(spectra):3d} {row['file'][:70]}", flush=True)

    variants = {SHIPPED: [_with_prior(e, 0.0, 0.0) for e in spectra]}
    for centre in PRIOR_CENTRES:
        for weight in PRIOR_WEIGHTS:
            variants[f"prior {weight:g} x ((shift - {centre:+g} eV) / 10 eV)^2"] = [_with_prior(e, weight, centre) for e in spectra]
    for tau in TEMPERATURES:
        variants[f"averaged over shifts, tau {tau:g}"] = [_averaged(e, tau) for e in spectra]

    results = {"created": now_iso(), "command": "python studies/e0_shift_prior.py", "spectra": len(spectra), "variants": {}}
    for name, answers in variants.items():
        scored = [{**e, "predicted_cn": a} for e, a in zip(spectra, answers)]
        results["variants"][name] = _scores(scored)
    tables = {name: [{**e, "doubtful": False, "predicted_cn": a} for e, a in zip(spectra, answers)] for name, answers in variants.items()}
    choice = grouped_choice(tables)  # the shipped variant first: ties go to it
    picked = [tables[choice["chosen_by_compound"][e["compound"]]][i] for i, e in enumerate(spectra)]
    results["leave_one_compound_out"] = {**_scores(picked), "chosen": choice["choices"]}
    write_json_atomic(portable(results), args.out)
    for name, r in {**results["variants"], "choice, leave-one-compound-out": results["leave_one_compound_out"]}.items():
        per_cn = ", ".join(f"{cn}: {v['right']}" for cn, v in r["per_cn"].items())
        print(f"{name:52s} {r['right']}/{r['spectra']}  compound mean {r['compound_mean_accuracy']}  ({per_cn})")


def _with_prior(entry: dict, weight: float, centre: float) -> int | None:
    """The answer at the shift whose score less the prior's penalty is highest (among shifts with an answer)."""
    if "scores" not in entry:
        return None
    penalised = entry["scores"] - weight * ((OFFSETS - centre) / 10.0) ** 2
    return next((entry["answers"][i][0] for i in np.argsort(-penalised) if entry["answers"][i] is not None), None)


def _averaged(entry: dict, tau: float) -> int | None:
    """The class of the probabilities averaged over the shifts, each weighted by exp(score / tau)."""
    if "scores" not in entry:
        return None
    weights = np.exp((entry["scores"] - entry["scores"].max()) / tau)
    total: dict[int, float] = defaultdict(float)
    for weight, answer in zip(weights, entry["answers"]):
        for cn, p in (answer[1] if answer else {}).items():
            total[int(cn)] += weight * p
    return max(total, key=total.get) if total else None


def _scores(scored: list[dict]) -> dict:
    return {
        "right": sum(t["predicted_cn"] == t["known_class"] for t in scored),
        "spectra": len(scored),
        "compound_mean_accuracy": _compound_mean(scored),
        "per_cn": {cn: {"right": v["right"]} for cn, v in _breakdown(scored, "known_class").items()},
    }


if __name__ == "__main__":
    main()

"""The mean CN of two-phase samples made from measured spectra: Fe metal (CN 8) with Fe oxides (CN 6).

The measured corpus holds pure compounds only, but EXAFS is linear in the fraction of
absorbers, so a sample whose Fe atoms are a fraction w in bcc Fe and 1 - w in hematite
has the normalised mu(E) w mu_metal + (1 - w) mu_oxide, and an average CN of
8 w + 6 (1 - w). Each pair of a metal scan and an oxide scan (both as measured, at
their own calibrated energies) is normalised by Larch's ``pre_edge``, mixed at
w = 0.25, 0.5, 0.75, and predicted as a user's file would be (``predict_spectra``
with the shipped models, or ``--models-dir``). Reports the mean CN's error against
the weighted textbook CN and how often the 90% interval holds it.

    python studies/measured_mixtures.py [--corpus ../shared/data/experimental] [--models-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path

import numpy as np
from larch import Group
from larch.xafs import pre_edge
from paths import portable  # a sibling module: run as python studies/<name>.py

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import now_iso
from exafs_cn.measured import ModelStore, checked, predict_spectra, read_file

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = (0.25, 0.5, 0.75)
METAL, OXIDES = "Fe metal (bcc)", ("Fe2O3 (hematite)", "FeO (wustite)")


def normalised(energy: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """mu(E) with its edge step scaled to 1: one absorber's worth, whatever the sample thickness."""
    group = Group(energy=energy, mu=mu)
    pre_edge(group)
    return (mu - group.pre_edge) / group.edge_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "experimental")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "measured_mixtures.json")
    args = parser.parse_args()

    rows = list(csv.DictReader(open(args.corpus / "index.csv")))
    scans = {}
    for row in rows:
        if row["element"] == "Fe" and row["compound"] in (METAL, *OXIDES):
            (spectrum,) = read_file(args.corpus / row["file"])
            scans[row["file"]] = (row["compound"], int(row["textbook_cn"]), spectrum)
    metals = [f for f, (c, _, _) in scans.items() if c == METAL]
    oxides = [f for f, (c, _, _) in scans.items() if c in OXIDES]
    store = ModelStore(args.models_dir)
    table = []
    for metal, oxide, w in itertools.product(metals, oxides, WEIGHTS):
        (_, cn_a, a), (_, cn_b, b) = scans[metal], scans[oxide]
        lo, hi = max(a.energy.min(), b.energy.min()), min(a.energy.max(), b.energy.max())
        energy = a.energy[(a.energy >= lo) & (a.energy <= hi)]
        mu = w * np.interp(energy, a.energy, normalised(a.energy, a.mu)) + (1 - w) * np.interp(energy, b.energy, normalised(b.energy, b.mu))
        name = f"{w:.2f} {metal} + {1 - w:.2f} {oxide}"
        (prediction,) = predict_spectra([checked(name, name, None, energy, mu, "Fe", None)], store)
        known = w * cn_a + (1 - w) * cn_b
        entry = {"metal": metal, "oxide": oxide, "metal_fraction": w, "known_cn": known, "cn": prediction.cn, "reason": prediction.reason}
        if prediction.cn_mean is not None:
            low, high = prediction.cn_interval
            entry.update(cn_mean=round(prediction.cn_mean, 2), cn_interval=[round(low, 2), round(high, 2)])
            print(f"{name[:90]:90s} known {known:.2f} mean CN {prediction.cn_mean:.2f} [{low:.2f}, {high:.2f}] class {prediction.cn}")
        table.append(entry)
    answered = [t for t in table if "cn_mean" in t]
    error = np.array([abs(t["cn_mean"] - t["known_cn"]) for t in answered])
    summary = {
        "created": now_iso(),
        "models_dir": str(store.models_dir),
        "mixtures": len(table),
        "answered": len(answered),
        "mae": round(float(error.mean()), 3) if answered else None,
        "within_half": round(float(np.mean(error <= 0.5)), 3) if answered else None,
        "coverage_90": round(float(np.mean([t["cn_interval"][0] <= t["known_cn"] <= t["cn_interval"][1] for t in answered])), 3)
        if answered
        else None,
        "mae_by_metal_fraction": {
            f"{w:.2f}": round(float(np.mean([abs(t["cn_mean"] - t["known_cn"]) for t in answered if t["metal_fraction"] == w])), 3)
            for w in WEIGHTS
        }
        if answered
        else {},
        "table": table,
    }
    write_json_atomic(portable(summary), args.out)
    print({k: v for k, v in summary.items() if k != "table"})


if __name__ == "__main__":
    main()

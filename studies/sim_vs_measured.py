"""Measured against simulated, for the same material: where FEFF and the beamline part.

For every corpus compound whose Materials Project structure is in the dataset (the
corpus index's ``material_id``), its FEFF pair spectrum (site-averaged, as the models
are trained on) and each of its measured spectra go through the same processing
(:func:`exafs_cn.features.process`, default settings: the same E0 rule on both). Per
measured spectrum:

- **E0**: how far the measured E0 the rule gives lies from the E0 that lines the measured
  k^2 chi(k) up with FEFF's best (correlation over k = 3-10/A, E0 scanned in 0.5 eV steps
  over +-25 eV); the correlation there and at the rule's E0;
- **edge-step normalisation**: mean normalised mu 30-150 eV above E0, measured over FEFF;
- **amplitude** (ratio method on the first shell, Fourier-filtered over the first |chi(R)|
  peak +-0.5 A): ln(|chi_meas| / |chi_FEFF|) = ln S02 - 2 k^2 dsigma2, fitted over k = 3-11/A
  at the rule's E0: S02 and dsigma2; the same over the shells beyond the first (0.6 A past
  the first peak to 4 A): how much more they are damped than the first (``outer_extra_sigma2``);
- **first shell in |chi(R)|**: peak position and full width at half maximum, measured
  minus FEFF;
- **low-k background**: mean |chi(R)| below 1 A over the first-shell peak height, both.

The table goes to ``results/sim_vs_measured.json`` (with the quantiles over compounds
that set the augmentation ranges) and one figure per compound (measured beside FEFF, in
k and in R) to ``--figures`` (default ``runs/sim_vs_measured/``, not committed: one
command regenerates them).

    python studies/sim_vs_measured.py [--corpus ../shared/data/experimental] [--data data] [--preset fast]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from larch import Group
from larch.xafs import pre_edge, xftr
from paths import portable  # a sibling module: run as python studies/<name>.py
from scipy.signal import find_peaks, peak_widths

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import Dataset, now_iso
from exafs_cn.features import ProcessingError, Spectrum, background, first_shell_index, process, transform
from exafs_cn.learn import feff_spectrum
from exafs_cn.measured import Columns, SpectrumFileError, read_file
from exafs_cn.settings import DEFAULT_SETTINGS

REPO = Path(__file__).resolve().parents[1]
K_ALIGN = (3.0, 10.0)
K_RATIO = (3.0, 11.0)
E0_SCAN = np.arange(-25.0, 25.0 + 1e-9, 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "experimental")
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--out", type=Path, default=None, help="default: results/sim_vs_measured.json (_<preset> for others)")
    parser.add_argument("--figures", type=Path, default=REPO / "runs" / "sim_vs_measured")
    args = parser.parse_args()
    suffix = "" if args.preset == "fast" else f"_{args.preset}"
    args.out = args.out or Path(__file__).parent / "results" / f"sim_vs_measured{suffix}.json"
    warnings.filterwarnings("ignore", category=RuntimeWarning)

    rows = [r for r in csv.DictReader(open(args.corpus / "index.csv")) if r["material_id"]]
    dataset = Dataset(args.data)
    pairs = dataset.pairs(args.preset, integer_only=False)
    # A dataset made from a folder of CIFs keys structures by content; its files are named by MP id.
    names = {key: Path(name.split(", ")[0]).stem for key, name in (dataset.provenance().get("structures") or {}).items()}
    pairs = pairs.assign(material_id=pairs.material_id.map(lambda m: names.get(m, m)))
    pairs = pairs[pairs.material_id.isin({r["material_id"] for r in rows})]
    feff = {(p.material_id, p.absorber): feff_spectrum(p) for p in pairs.itertuples(index=False)}
    started = time.perf_counter()
    table, by_compound = [], defaultdict(list)
    for row in rows:
        key = (row["material_id"], row["element"])
        if key not in feff:
            continue
        loader = json.loads(row["loader"])
        try:
            (measured,) = read_file(args.corpus / row["file"], row["element"], Columns(loader.get("energy"), loader.get("mu")))
            if isinstance(measured, SpectrumFileError):
                raise measured
            entry = compare(measured.to_spectrum(), feff[key])
        except (SpectrumFileError, ProcessingError) as exc:
            print(f"   {row['file'][:60]}: {exc}")
            continue
        curves = entry.pop("curves")
        entry = {"file": row["file"], "compound": row["compound"], "element": row["element"], "material_id": row["material_id"],
                 "textbook_cn": float(row["textbook_cn"]), **entry}
        table.append(entry)
        by_compound[row["compound"]].append((entry, curves))
        print(
            f"{row['compound'][:28]:28s} {row['element']:2s} E0 rule - aligned {entry['e0_rule_minus_aligned']:+6.1f} eV "
            f"(r {entry['correlation_at_rule']:.2f} -> {entry['correlation_aligned']:.2f}); S02 {entry['s02']:.2f}, "
            f"dsigma2 {entry['dsigma2']:+.4f}; first shell dR {entry['first_shell_dr']:+.2f} A, width x{entry['first_shell_width_ratio']:.2f}"
        )
    args.figures.mkdir(parents=True, exist_ok=True)
    for compound, items in by_compound.items():
        _figure(compound, items, args.figures)
    per_compound = _per_compound(table)
    summary = {
        "created": now_iso(),
        "corpus": str(args.corpus),
        "data": str(args.data),
        "preset": args.preset,
        "settings_key": DEFAULT_SETTINGS.key(),
        "e0_rule": DEFAULT_SETTINGS.e0_rule,
        "spectra": len(table),
        "compounds": len(per_compound),
        "seconds": round(time.perf_counter() - started, 1),
        # Over compounds (each the median of its spectra), so a compound with 14 scans counts once.
        "quantiles_over_compounds": _quantiles(per_compound),
        "per_compound": per_compound,
        "table": table,
    }
    write_json_atomic(portable(summary), args.out)
    q = summary["quantiles_over_compounds"]
    print(f"\n{len(table)} spectra of {len(per_compound)} compounds; quantiles over compounds (5/25/50/75/95%):")
    for name, values in q.items():
        print(f"  {name:28s} " + " ".join(f"{v:+.4g}" for v in values))
    print(f"written to {args.out}; figures in {args.figures}")


def compare(measured: Spectrum, simulated: Spectrum) -> dict:
    """The comparison of one measured spectrum with FEFF's for the same material (see the module)."""
    settings = DEFAULT_SETTINGS
    sim = process(simulated, settings)
    meas = process(measured, settings)
    grid = np.arange(K_ALIGN[0], K_ALIGN[1], 0.05)
    reference = np.interp(grid, sim.k, sim.chi) * grid**2

    def correlation(k: np.ndarray, chi: np.ndarray) -> float:
        return float(np.corrcoef(reference, np.interp(grid, k, chi) * grid**2)[0, 1])

    scores = []
    for shift in E0_SCAN:
        try:
            k, chi, _, _ = background(_with_e0(measured, meas.e0 + shift), settings)
            scores.append(correlation(k, chi))
        except ProcessingError:
            scores.append(-1.0)
    best = int(np.argmax(scores))
    aligned_e0 = meas.e0 + E0_SCAN[best]
    k, chi, _, _ = background(_with_e0(measured, aligned_e0), settings)
    aligned = transform(k, chi, aligned_e0, settings)
    s02, dsigma2 = _ratio_fit(meas, sim)
    outer_amplitude, dsigma2_outer = _ratio_fit(meas, sim, "outer")
    r_sim, w_sim, h_sim = _first_shell(sim)
    r_meas, w_meas, h_meas = _first_shell(meas, near=r_sim)
    return {
        "e0_measured": round(meas.e0, 2),
        "e0_rule_minus_aligned": round(float(-E0_SCAN[best]), 2),
        "correlation_at_rule": round(correlation(meas.k, meas.chi), 3),
        "correlation_aligned": round(float(scores[best]), 3),
        "normalisation_ratio": round(_post_edge_level(measured, meas.e0) / _post_edge_level(simulated, sim.e0), 3),
        "s02": round(s02, 3),
        "dsigma2": round(dsigma2, 5),
        "outer_amplitude": round(outer_amplitude, 3),
        "dsigma2_outer": round(dsigma2_outer, 5),
        # How much more the shells beyond the first are damped than the first, over FEFF.
        "outer_extra_sigma2": round(dsigma2_outer - dsigma2, 5),
        "first_shell_r_measured": round(r_meas, 3),
        "first_shell_dr": round(r_meas - r_sim, 3),
        "first_shell_width_ratio": round(w_meas / w_sim, 3),
        "first_shell_height_ratio": round(h_meas / h_sim, 3),
        "low_r_measured": round(_low_r(meas, h_meas), 3),
        "low_r_feff": round(_low_r(sim, h_sim), 3),
        "kmax_measured": round(meas.kmax, 1),
        "curves": {"measured": meas, "aligned": aligned, "feff": sim},
    }


def _with_e0(spectrum: Spectrum, e0: float) -> Spectrum:
    return Spectrum(spectrum.energy, spectrum.mu, spectrum.absorber, e0=float(e0), edge_step=spectrum.edge_step, name=spectrum.name)


def _ratio_fit(measured, simulated, shells: str = "first") -> tuple[float, float]:
    """Amplitude factor and dsigma2 from Fourier-filtered amplitudes (ratio method).

    ``first``: the first |chi(R)| peak +-0.5 A; ``outer``: from 0.6 A past it to 4 A (the
    shells beyond the first, together).
    """
    r_peak = _first_shell(simulated)[0]  # the same R window for both
    rmin, rmax = (max(r_peak - 0.5, 0.5), r_peak + 0.5) if shells == "first" else (r_peak + 0.6, 4.0)
    amplitudes = []
    for processed in (measured, simulated):
        group = Group()
        xftr(processed.group.r, processed.group.chir, group=group, rmin=rmin, rmax=rmax, dr=0.1, window="hanning")
        amplitudes.append((group.q, group.chiq_mag))
    q = amplitudes[0][0]
    keep = (q >= K_RATIO[0]) & (q <= min(K_RATIO[1], measured.kmax - 1.0))
    ratio = amplitudes[0][1][keep] / np.interp(q[keep], amplitudes[1][0], amplitudes[1][1])
    slope, intercept = np.polyfit(q[keep] ** 2, np.log(np.clip(ratio, 1e-6, None)), 1)
    return float(np.exp(intercept)), float(-slope / 2.0)


def _first_shell(processed, near: float | None = None) -> tuple[float, float, float]:
    """Position, full width at half maximum and height of the first shell's |chi(R)| peak.

    The first shell is the lowest-R peak above 1 A that is at least half the tallest one
    below 3.5 A; ``near`` (FEFF's first shell, for a measured spectrum) takes instead the
    tallest peak within 0.4 A of it, so the two are the same shell.
    """
    r, mag = processed.r, processed.chir_mag
    if near is not None:
        peaks, _ = find_peaks(mag)
        candidates = peaks[np.abs(r[peaks] - near) <= 0.4]
        index = candidates[np.argmax(mag[candidates])] if candidates.size else int(np.argmin(np.abs(r - near)))
    else:
        index = first_shell_index(r, mag)
    width = peak_widths(mag, [index], rel_height=0.5)[0][0] * (r[1] - r[0])
    return float(r[index]), float(width), float(mag[index])


def _low_r(processed, height: float) -> float:
    return float(processed.chir_mag[processed.r < 1.0].mean() / height)


def _post_edge_level(spectrum: Spectrum, e0: float) -> float:
    energy, mu = np.asarray(spectrum.energy), np.asarray(spectrum.mu)
    if spectrum.edge_step is None:
        group = Group()
        pre_edge(energy, mu, group=group, e0=e0)
        mu = group.norm
    else:
        mu = mu / spectrum.edge_step
    keep = (energy > e0 + 30) & (energy < e0 + 150)
    return float(mu[keep].mean())


NUMERIC = (
    "e0_rule_minus_aligned",
    "correlation_at_rule",
    "correlation_aligned",
    "normalisation_ratio",
    "s02",
    "dsigma2",
    "outer_amplitude",
    "dsigma2_outer",
    "outer_extra_sigma2",
    "first_shell_dr",
    "first_shell_width_ratio",
    "first_shell_height_ratio",
    "low_r_measured",
    "low_r_feff",
)


def _per_compound(table: list[dict]) -> dict:
    groups: dict[str, list[dict]] = defaultdict(list)
    for entry in table:
        groups[entry["compound"]].append(entry)
    return {
        name: {"element": rows[0]["element"], "material_id": rows[0]["material_id"], "spectra": len(rows),
               **{key: round(float(np.median([r[key] for r in rows])), 4) for key in NUMERIC}}
        for name, rows in sorted(groups.items())
    }


def _quantiles(per_compound: dict) -> dict:
    return {
        key: [round(float(v), 4) for v in np.percentile([c[key] for c in per_compound.values()], [5, 25, 50, 75, 95])]
        for key in NUMERIC
    } if per_compound else {}


def _figure(compound: str, items: list[tuple[dict, dict]], folder: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # a script run headless; the package itself never sets a backend
    import matplotlib.pyplot as plt

    from exafs_cn.figures import save_figure

    fig, (ax_k, ax_r) = plt.subplots(1, 2, figsize=(11, 3.6))
    sim = items[0][1]["feff"]
    ax_k.plot(sim.k, sim.chi * sim.k**2, color="k", lw=1.6, label="FEFF (same processing)")
    ax_r.plot(sim.r, sim.chir_mag, color="k", lw=1.6, label="FEFF")
    for i, (entry, curves) in enumerate(items[:6]):
        meas = curves["measured"]
        label = Path(entry["file"]).name[:32] if i == 0 else None
        ax_k.plot(meas.k, meas.chi * meas.k**2, lw=0.9, alpha=0.8, label=label)
        ax_r.plot(meas.r, meas.chir_mag, lw=0.9, alpha=0.8, label=f"measured ({len(items)} scans)" if i == 0 else None)
    first = items[0][0]
    ax_k.set(xlabel="k (1/A)", ylabel="k^2 chi(k)", xlim=(0, 14),
             title=f"{compound} ({first['element']}, {first['material_id']}): E0 rule - aligned {first['e0_rule_minus_aligned']:+.1f} eV")
    ax_r.set(xlabel="R (A, not phase-corrected)", ylabel="|chi(R)|", xlim=(0, 6),
             title=f"S02 {first['s02']:.2f}, dsigma2 {first['dsigma2']:+.4f}, first shell dR {first['first_shell_dr']:+.2f} A")
    ax_k.legend(fontsize=7, loc="upper right")
    ax_r.legend(fontsize=7, loc="upper right")
    safe = "".join(c if c.isalnum() else "_" for c in f"{first['element']}_{compound}")[:60]
    return save_figure(fig, folder / f"{safe}.png")


if __name__ == "__main__":
    main()

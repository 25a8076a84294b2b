"""The dataset card (``data/README.md``), written from the data itself.

Every number on the card is computed from the shards, labels and provenance in the
folder (and the simulation benchmark's JSON when given), so regenerating the card
after a resumed run can never leave stale counts behind.
"""

from __future__ import annotations

import json
from pathlib import Path

from exafs_cn.datagen._dataset import Dataset
from exafs_cn.datagen._structures import METALS_3D


def _counts_table(per_element: dict[str, dict[str, int]]) -> list[str]:
    cns = sorted({int(cn) for counts in per_element.values() for cn in counts})
    lines = ["| element | " + " | ".join(f"CN {cn}" for cn in cns) + " | total |", "|---" * (len(cns) + 2) + "|"]
    totals = [0] * len(cns)
    for element in METALS_3D:
        counts = per_element.get(element, {})
        values = [counts.get(str(cn), 0) for cn in cns]
        totals = [t + v for t, v in zip(totals, values)]
        lines.append(f"| {element} | " + " | ".join(str(v) if v else "." for v in values) + f" | {sum(values)} |")
    lines.append("| **all** | " + " | ".join(str(t) for t in totals) + f" | **{sum(totals)}** |")
    return lines


def _benchmark_lines(benchmark: dict | None) -> list[str]:
    if not benchmark:
        return ["Run `python benchmarks/simulate.py` and regenerate this card to fill this section."]
    s = benchmark["summary"]
    fvm = s["fast_vs_mp"]
    lines = [
        f"`python benchmarks/simulate.py` ({s['sites']} sites drawn with seed {s['seed']}, {s['machine']}, {s['date']}):",
        "",
        "| preset | cards | sites OK | CPU s/site (mean) | CPU s/site (median) | wall s/site | spectra per core-hour |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("fast", "mp"):
        p = s[name]
        lines.append(
            f"| `{name}` | {', '.join(p['cards'])} | {p['ok']}/{s['sites']} | {p['cpu_s_per_site_mean']} | {p['cpu_s_per_site_median']} "
            f"| {p['wall_s_per_site_mean']} | {p['spectra_per_core_hour']} |"
        )
    lines += [
        "",
        f"`fast` against `mp`: correlation of |chi(R)| for R < 6 A is {fvm['chi_r_correlation_aligned_mean']} on average "
        f"(lowest {fvm['chi_r_correlation_aligned_min']}) after the best E0 alignment, "
        f"{fvm['chi_r_correlation_unaligned_mean']} without it; the median |E0 shift| that aligns them is "
        f"{fvm['best_e0_shift_ev_median_abs']} eV. Method: {fvm['method']}.",
        "CPU seconds are those of the FEFF processes (getrusage) and depend on machine load less than wall",
        "seconds do; both were taken while the dataset generation used both cores, so read them as upper bounds.",
    ]
    return lines


def render_card(dataset: Dataset, preset: str = "fast", benchmark: dict | None = None) -> str:
    summary = dataset.summary(preset)
    stats = summary["presets"][preset]
    prov = dataset.provenance()
    cards = prov["presets"][preset]
    failures = {**summary["label_failures"], **stats["failures_by_reason"]}
    lines = [
        "# Dataset card: FEFF8L K-edge EXAFS of Materials Project 3d-metal compounds",
        "",
        "Theoretical K-edge spectra of every 3d transition-metal absorber site (Sc..Zn) in the 13,325",
        "Materials Project structures bundled with exafs-cn, computed with FEFF8L, labelled with",
        "pymatgen CrystalNN coordination numbers. This file is generated: `exafs-cn dataset card data`.",
        "",
        "## Counts",
        "",
        f"- structures labelled: {summary['structures_labelled']}; (material, element) pairs: "
        f"{summary['pairs_labelled']}, of which {summary['pairs_with_integer_cn']} have an integer site-averaged CN",
        f"- progress: {stats['integer_pair_sites_attempted']} of the {stats['integer_pair_sites_planned']} sites of "
        f"integer-CN pairs attempted, {stats['sites_attempted']} of all {stats['sites_planned']} sites"
        + ("" if stats["sites_attempted"] == stats["sites_planned"] else " (generation in progress: `exafs-cn simulate --out data` resumes it)"),
        f"- site spectra (`{preset}` preset): {stats['sites']}",
        f"- MP-style (site-averaged) spectra with an integer CN, all sites simulated: **{stats['spectra']}**",
        f"- failures: {sum(failures.values())}",
        f"- FEFF time spent: {stats['feff_run_hours']} core-hours, {stats['mean_seconds_per_site']} s per site "
        "(wall clock of each FEFF run, summed; on a loaded machine this includes waiting for a core, so the "
        "CPU cost is the benchmark's figure below)",
        "",
        "MP-style spectra per element and CN (site-averaged CN, integer pairs only):",
        "",
        *_counts_table(stats["per_element"]),
        "",
        "### Failures by reason",
        "",
        *([f"- {reason}: {count}" for reason, count in failures.items()] or ["- none"]),
        "",
        "## Files",
        "",
        "| file | one row per | columns |",
        "|---|---|---|",
        "| `labels.parquet` | inequivalent absorber site (all pairs, integer or not) | material_id, formula, absorber, site_index, multiplicity, cn (CrystalNN), pair_cn (multiplicity-weighted mean over the element's sites), pair_cn_is_integer |",
        "| `label_failures.parquet` | structure or pair without labels | material_id, absorber, stage, reason, source (the structure's file for a folder source, its mp-id for the bundled set; absent in files of exafs-cn 0.3 and earlier) |",
        f"| `spectra/{preset}/part-NNNNN.parquet` | site spectrum | the label columns, preset, e0 (eV, absolute energy at k = 0), e_fermi (FEFF's Fermi level, eV relative), n_atoms, cluster_radius, trimmed, feff_seconds, and float32 arrays energy, mu (FEFF's xmu.dat, no pre-edge), k, chi (FEFF's grid, k to 20/A in 0.05 steps) |",
        f"| `failures/{preset}/part-NNNNN.parquet` | site FEFF could not do | material_id, absorber, site_index, preset, stage, reason, source (as above) |",
        "| `provenance.json` | - | source, FEFF program and cards per preset, CrystalNN settings, symprec, software versions, dates |",
        "",
        "Read it with `exafs_cn.datagen.Dataset(\"data\")`: `.labels()`, `.sites(\"fast\")`, `.failures(\"fast\")`,",
        "and `.pairs(\"fast\")` for the MP-style averages (chi(k) on the common k grid, mu(E) on the grid of the",
        "most frequent site, weighted by multiplicity; a pair is only averaged when all its sites are present).",
        "",
        "## Provenance",
        "",
        f"- structures: {prov['source_description']}; Materials Project data, CC-BY-4.0 (cite Jain et al., APL Materials 1, 011002, 2013)",
        f"- FEFF: {cards['program']}; cards: `{'; '.join(cards['cards'])}`; one potential per element; "
        f"cluster radius {cards['cluster_radius']} A, trimmed by whole shells to FEFF8L's 1000-atom limit; "
        f"left out of the cluster: {', '.join(cards.get('omit_elements', [])) or 'nothing'}; a run is stopped after {cards['timeout_s']} s",
        f"- labels: {prov['labels']['crystalnn']}; inequivalent sites from SpacegroupAnalyzer(symprec={prov['labels']['symprec']}); "
        f"site average: {prov['labels']['site_average']}",
        "- software: " + ", ".join(f"{k} {v}" for k, v in prov["software"].items()),
        f"- created {prov['created']}, last updated {prov['updated']}",
        "",
        "## Cost and fidelity of the presets",
        "",
        *_benchmark_lines(benchmark),
        "",
        "## How to regenerate",
        "",
        "```bash",
        f"exafs-cn simulate --out data --preset {preset}     # resumes: skips every site already done or failed",
        "python benchmarks/simulate.py                 # preset cost and fast-vs-mp fidelity",
        "exafs-cn dataset card data                    # this file",
        "```",
        "",
        "## Known limits",
        "",
        "- Theory only: no thermal or static disorder (sigma2 = 0), S02 = 1, no noise.",
        "- The `fast` preset has no SCF: E0 sits a material-dependent few eV off the `mp` value (see the",
        "  shifts above). Features must not rely on absolute E0; shapes in R agree closely after alignment.",
        "- RPATH 6: paths longer than 6 A (half path length) are absent, so |chi(R)| beyond ~5.5 A is empty.",
        "- Hydrogen is left out of the FEFF clusters (feff8l's potential step runs for minutes on hydrides,",
        "  and H backscatters weakly); the CN labels still count H neighbours where CrystalNN does.",
        "- Inequivalent sites use pymatgen's default symprec 0.01: 31,205 sites. An earlier count for this set",
        "  (30,666 sites, presumably with a looser tolerance; not checked) gave the same 13,873 integer-CN pairs.",
        "",
    ]
    return "\n".join(lines)


def load_benchmark(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None

"""Figures (PNG) and one HTML page from the results of :mod:`exafs_cn.learn._reproduce`.

Nothing here computes a metric: it only draws and lays out what ``results.json``
holds, so the page and the JSON can never disagree.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from exafs_cn.atomic import write_text_atomic
from exafs_cn.figures import save_figure
from exafs_cn.learn._reproduce import MODEL_SPECS

MODEL_LABELS = {name: spec.label for name, spec in MODEL_SPECS.items()}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def accuracy_figure(results: dict, path: Path) -> Path:
    grouped = results["per_element"]
    elements = list(grouped)
    models = [m for m in results["plan"]["models"] if all(m in grouped[e] for e in elements)]
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / (len(models) + 1)
    x = np.arange(len(elements))
    for i, model in enumerate(models):
        ax.bar(x + i * width, [grouped[e][model]["accuracy"] for e in elements], width, label=MODEL_LABELS.get(model, model))
    ax.bar(
        x + len(models) * width,
        [grouped[e]["majority_accuracy"] for e in elements],
        width,
        color="lightgrey",
        label="always the commonest CN",
    )
    ax.axhline(results["paper"]["mean_accuracy"], color="k", ls="--", lw=1, label="study: mean ~0.70 (random split)")
    ax.set_xticks(x + width * len(models) / 2, elements)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (grouped 5-fold CV)")
    ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    return save_figure(fig, path)


def _element_panels(elements: list[str], cols: int = 5):
    """A figure with one square panel per element, five to a row; the spare panels hidden."""
    rows = int(np.ceil(len(elements) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(elements) :]:
        ax.axis("off")
    return fig, list(zip(axes.flat, elements))


def confusion_figure(results: dict, path: Path) -> Path:
    grouped = results["per_element"]
    fig, panels = _element_panels(list(grouped))
    for ax, element in panels:
        entry = grouped[element]
        best = entry[entry["best_model"]]
        _confusion_panel(ax, best["confusion"], [str(c) for c in best["classes"]], "CN")
        ax.set_title(f"{element}: {entry['best_model']} {best['accuracy']:.2f}", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def _confusion_panel(ax, confusion: list[list[int]], labels: list[str], what: str) -> None:
    """A confusion matrix shaded by row share, with the counts written in (rows: CrystalNN's)."""
    matrix = np.asarray(confusion, float)
    norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=90 if max(map(len, labels)) > 2 else 0)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            ax.text(j, i, int(count), ha="center", va="center", fontsize=6, color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel(f"predicted {what}", fontsize=7)
    ax.set_ylabel(f"CrystalNN {what}", fontsize=7)


def importance_figure(results: dict, path: Path) -> Path:
    r = np.asarray(results["importance_r_grid"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, model in zip(axes, ("rf", "bagging")):
        for element, per_model in results["importance"].items():
            if model in per_model:
                curve = np.asarray(per_model[model]["curve"])
                ax.plot(r[: len(curve)], curve, lw=1, label=element)
        for edge in (3.0, 6.0):
            ax.axvline(edge, color="k", ls=":", lw=1)
        ax.set_title(f"{MODEL_LABELS[model]}: Gini importance over R")
        ax.set_xlabel("R (A)")
    axes[0].set_ylabel("share of importance per R point")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)


def feature_set_figure(results: dict, path: Path) -> Path:
    comparison = results["feature_sets"]
    elements = list(comparison)
    names = list(next(iter(comparison.values())))
    fig, ax = plt.subplots(figsize=(10, 3.8))
    width = 0.8 / len(names)
    x = np.arange(len(elements))
    for i, name in enumerate(names):
        ax.bar(x + i * width, [comparison[e][name] for e in elements], width, label=name)
    ax.set_xticks(x + width * (len(names) - 1) / 2, elements)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (random forest, grouped CV)")
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    return save_figure(fig, path)


AVERAGE_CN_STYLE = {"integer": ("tab:blue", "integer-CN pair"), "non_integer": ("tab:orange", "non-integer pair"), "mixture": ("tab:green", "mixture")}


def average_cn_figure(average_cn: dict, path: Path) -> Path:
    """Held-out median CN against the true average CN per element, with the 90% intervals."""
    fig, panels = _element_panels(list(average_cn["scatter"]))
    for ax, element in panels:
        points = average_cn["scatter"][element]
        true, predicted = np.asarray(points["true"]), np.asarray(points["predicted"])
        low, high, kind = np.asarray(points["low"]), np.asarray(points["high"]), np.asarray(points["kind"])
        top = max(true.max(), high.max()) + 0.5
        ax.plot([0, top], [0, top], color="k", lw=0.8)
        for name, (color, label) in AVERAGE_CN_STYLE.items():
            mask = kind == name
            if mask.any():
                ax.errorbar(true[mask], predicted[mask], yerr=np.clip([predicted[mask] - low[mask], high[mask] - predicted[mask]], 0, None),
                            fmt="o", ms=2.5, lw=0.4, alpha=0.6, color=color, label=label)
        metrics = average_cn["per_element"][element]
        ax.set_title(f"{element}: MAE {metrics['mae']:.2f}, coverage {metrics['coverage_90']:.2f}", fontsize=9)
        ax.set_xlabel("true average CN", fontsize=7)
        ax.set_ylabel("predicted (median, 90% interval)", fontsize=7)
        ax.set(xlim=(0, top), ylim=(0, top))
    panels[0][0].legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    return save_figure(fig, path)


def _average_cn_section(results: dict, out: Path) -> str:
    """The average-CN figure and table, or nothing when the run had no regression."""
    average_cn = results.get("average_cn")
    if not average_cn or not average_cn["per_element"]:
        return ""
    figure = average_cn_figure(average_cn, out / "average_cn.png")
    keys = ["mae", "mae_integer", "mae_non_integer", "mae_mixtures", "within_half", "coverage_90", "coverage_90_pairs", "coverage_90_mixtures", "median_width_90"]
    rows = [
        [element, str(m["n_pairs"]), str(m["n_non_integer"]), str(m["n_mixtures"])] + [_fmt(m[k]) for k in keys]
        for element, m in average_cn["per_element"].items()
    ]
    rows.append(["<b>mean</b>", "", "", ""] + [_fmt(average_cn.get(f"mean_{k}")) for k in keys])
    header = ["element", "pairs", "non-integer", "mixtures", "MAE (pairs)", "MAE integer", "MAE non-integer", "MAE mixtures",
              "within +-0.5", "90% coverage", "coverage, pairs", "coverage, mixtures", "median width"]
    counts = average_cn["counts"]
    return f"""<h2>Average CN (site-averaged, by absorber count) with a 90% interval</h2>
<p>{html.escape(average_cn["method"])} on {", ".join(average_cn["features"])}; grouped {results["plan"]["n_splits"]}-fold CV over
{counts["integer"]} integer-CN pairs, {counts["non_integer"]} non-integer pairs and {counts["mixture"]} mixtures of 2-3 pairs;
a mixture and all its components are always in one fold. MAE and within +-0.5 are over pairs; coverage and width over every held-out row.</p>
{_img(figure)}{_table(header, rows)}"""


def first_shell_r1_figure(first_shell: dict, path: Path) -> Path:
    """Held-out R1 against the structure's per element, with the identity line."""
    fig, panels = _element_panels(list(first_shell["per_element"]))
    for ax, element in panels:
        entry = first_shell["per_element"][element]
        true, predicted = np.asarray(entry["r1_true"]), np.asarray(entry["r1_predicted"])
        low, high = min(true.min(), predicted.min()) - 0.05, max(true.max(), predicted.max()) + 0.05
        ax.plot([low, high], [low, high], color="k", lw=0.8)
        ax.plot(true, predicted, "o", ms=2, alpha=0.4)
        ax.set(xlim=(low, high), ylim=(low, high))
        ax.set_title(f"{element}: MAE {entry['mae_r1']:.3f} A, coverage {entry['coverage_90']:.2f}", fontsize=9)
        ax.set_xlabel("structure's R1 (A)", fontsize=7)
        ax.set_ylabel("predicted R1 (A, held out)", fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def first_shell_confusion_figure(first_shell: dict, path: Path) -> Path:
    """The neighbour classifier's held-out confusion matrix per element."""
    fig, panels = _element_panels(list(first_shell["per_element"]))
    for ax, element in panels:
        entry = first_shell["per_element"][element]
        _confusion_panel(ax, entry["confusion"], entry["neighbour_classes"], "neighbour")
        ax.set_title(f"{element}: neighbour {entry['neighbour_accuracy']:.2f}", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def _first_shell_section(results: dict, out: Path) -> str:
    """The first-shell figures and table, or why the run has none."""
    first_shell = results.get("first_shell")
    if not first_shell:
        return ""
    if not first_shell.get("per_element"):
        return f"<h2>First shell</h2><p>Skipped: {html.escape(first_shell.get('skipped') if isinstance(first_shell.get('skipped'), str) else 'no element had enough compositions')}</p>"
    scatter = first_shell_r1_figure(first_shell, out / "first_shell_r1.png")
    confusion = first_shell_confusion_figure(first_shell, out / "first_shell_neighbours.png")
    keys = ["mae_r1", "within_0_02", "coverage_90", "median_width_90", "neighbour_accuracy", "neighbour_commonest"]
    rows = [[element, str(m["n"])] + [_fmt(m[k]) for k in keys] for element, m in first_shell["per_element"].items()]
    rows.append(["<b>mean</b>", ""] + [_fmt(first_shell.get(f"mean_{k}")) for k in keys])
    header = ["element", "pairs", "R1 MAE (A)", "within 0.02 A", "90% coverage", "median width (A)", "neighbour accuracy", "always the commonest"]
    return f"""<h2>First shell: distance R1 and neighbour class</h2>
<p>{html.escape(first_shell["method"])} on {html.escape(first_shell["features"])}; {html.escape(first_shell["folds"])}.
Targets: {html.escape(first_shell["labels"])}.</p>
{_table(header, rows)}{_img(scatter)}{_img(confusion)}"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def write_report(results: dict, out: Path) -> Path:
    """The PNG figures, report.html, and last results.json into ``out``.

    results.json goes last: a folder holding it holds the whole report, never a part.
    """
    out = Path(out)
    figures = {
        "accuracy": accuracy_figure(results, out / "accuracy_per_element.png"),
        "confusion": confusion_figure(results, out / "confusion_matrices.png"),
        "importance": importance_figure(results, out / "importance_over_r.png"),
        "features": feature_set_figure(results, out / "feature_sets.png"),
    }
    grouped, random_split = results["per_element"], results["random_split"]
    models = results["plan"]["models"]
    acc_rows = []
    for element, entry in grouped.items():
        row = [element, str(entry["n"]), ", ".join(map(str, entry["classes"])), f"{entry['majority_accuracy']:.3f}"]
        row += [f"{entry[m]['accuracy']:.3f}" for m in models]
        row += [f"<b>{entry['best_model']}</b> {entry['best_accuracy']:.3f}"]
        row += [f"{random_split[element]['best_accuracy']:.3f}" if element in random_split else "-"]
        joint = results.get("cross_element", {})
        row += [_fmt(joint.get("per_element", {}).get(element, {}).get("accuracy"))]
        row += [_fmt(joint.get("vote", {}).get("per_element", {}).get(element, {}).get("accuracy"))]
        row += [", ".join(f"CN {k}: {v}" for k, v in entry["dropped_classes"].items()) or "-"]
        acc_rows.append(row)
    metric_rows = [
        [
            element,
            m,
            f"{entry[m]['accuracy']:.3f}",
            f"{entry[m]['balanced_accuracy']:.3f}",
            f"{entry[m]['macro_f1']:.3f}",
            f"{entry[m]['mean_abs_cn_error']:.3f}",
            f"{entry[m]['within_one']:.3f}",
            f"{entry[m]['fit_seconds']:.1f}",
        ]
        for element, entry in grouped.items()
        for m in models
    ]
    feature_rows = [[e] + [f"{v:.3f}" for v in comp.values()] for e, comp in results["feature_sets"].items()]
    feature_names = list(next(iter(results["feature_sets"].values()), {}))
    share_rows = [
        [element, model, f"{d['shares']['below_3A']:.3f}", f"{d['shares']['3A_to_6A']:.3f}", f"{d['shares']['above_6A']:.3f}"]
        for element, per_model in results["importance"].items()
        for model, d in per_model.items()
    ]
    paper = results["paper"]
    summary = _table(
        ["figure", "exafs-cn", "study (Zeng, Hu, Yao 2025)"],
        [
            ["mean best-model accuracy, grouped split", f"{results['mean_best_accuracy']:.3f}", "-"],
            ["lowest element's best accuracy, grouped split", _fmt(results.get("min_best_accuracy")), "-"],
            [
                "mean best accuracy of the study's models (RF, Bagging, net on R), grouped",
                _fmt(results.get("mean_best_study_model_accuracy")),
                "-",
            ],
            [
                "mean accuracy, random split (random forest; the study's protocol)",
                _fmt(results["mean_best_accuracy_random_split"]),
                f"~{paper['mean_accuracy']:.2f}",
            ],
            [
                "best element (grouped)",
                max(grouped, key=lambda e: grouped[e]["best_accuracy"]),
                f"{paper['best_element']} (~{paper['best_element_accuracy']:.2f})",
            ],
            [
                "mean accuracy, one model over all elements (grouped, cross-element folds)",
                _fmt(results.get("cross_element", {}).get("mean_accuracy")),
                "-",
            ],
            [
                "the same kind of model per element, on those folds",
                _fmt(results.get("cross_element", {}).get("per_element_models", {}).get("mean_accuracy")),
                "-",
            ],
            [
                "their soft vote (lowest element)",
                f"{_fmt(results.get('mean_accuracy_vote'))} ({_fmt(results.get('min_accuracy_vote'))})",
                "-",
            ],
            [
                "mean of the better of per-element best and the joint model",
                _fmt(results.get("mean_best_accuracy_incl_cross_element")),
                "-",
            ],
            ["mean accuracy of always the commonest CN", f"{results['mean_majority_accuracy']:.3f}", "-"],
            ["importance share below 3 A", _fmt(results["importance_share_below_3A"]), paper["importance"]],
            ["importance share above 6 A", _fmt(results["importance_share_above_6A"]), ""],
        ],
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>exafs-cn: CN from EXAFS, reproduced</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}}th{{background:#f3f3f3}}img{{max-width:100%}}</style></head><body>
<h1>Coordination number from K-edge EXAFS: the study reproduced</h1>
<p>{results["spectra_used"]} FEFF spectra ({results["preset"]} preset) from <code>{html.escape(results["dataset"])}</code>;
{results["plan"]["n_splits"]}-fold CV per element, seed {results["plan"]["seed"]}; the quoted protocol is <b>grouped</b>
(one composition never on both sides of a split). Created {results["created"]} by exafs-cn {results["exafs_cn"]} in {results["seconds"]} s on {results["machine"]}.</p>
<h2>Summary beside the study</h2>{summary}
<h2>Accuracy per element and model (grouped CV)</h2>{_img(figures["accuracy"])}
{_table(["element", "spectra", "CN classes", "commonest CN"] + [MODEL_LABELS.get(m, m) for m in models] + ["best", "best, random split", "one model, all elements", "vote: per element + all elements", "classes dropped (too rare)"], acc_rows)}
<h2>All metrics (grouped CV)</h2>
{_table(["element", "model", "accuracy", "balanced acc.", "macro F1", "mean |CN error|", "within +-1", "fit s"], metric_rows)}
<h2>Confusion matrices of the best model per element</h2>{_img(figures["confusion"])}
<h2>Importance over R</h2>{_img(figures["importance"])}
{_table(["element", "model", "share R < 3 A", "3-6 A", "R > 6 A"], share_rows)}
<h2>Feature sets compared (random forest, same grouped folds)</h2>{_img(figures["features"])}
{_table(["element"] + feature_names, feature_rows)}
{_average_cn_section(results, out)}
{_first_shell_section(results, out)}
<h2>Settings</h2><pre>{html.escape(json.dumps(results["settings"], indent=1))}</pre>
</body></html>"""
    write_text_atomic(page, out / "report.html")
    write_text_atomic(json.dumps(results, indent=1, sort_keys=True) + "\n", out / "results.json")
    return out / "report.html"

"""One self-contained HTML page for a series of predictions (``exafs-cn predict --report FILE.html``).

For a beamline user with many scans (an in-situ run, a temperature series, a sample set):
a table with one row per spectrum (the columns of ``to_dataframe`` that a reader scans:
CN, its probability, mean CN and R1 with their intervals, neighbour, E0, notes, error), a
thumbnail per spectrum (|chi(R)| with R1 marked, and the class probabilities), and, where
there are several spectra, the series against their order: the CN class probabilities
stacked, the mean CN with its interval and R1 with its interval, so that a change of
coordination along a run shows at a glance. The series is drawn against the scans' start
times where every answered file gives one (XDI's ``Scan.start_time``), else against their order.

The page needs no network: its images are PNGs inline (``data:`` URIs) and its style is in
the page. Everything read from a file (names, groups, notes, errors) is HTML-escaped. A
long series stays usable: thumbnails are small (about 6 KB each) and only the first
``MAX_THUMBNAILS`` spectra get one; the table and the series plots hold them all.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from exafs_cn.measured._prediction import Failure, Prediction

#: Spectra that get a thumbnail; past this the page says how many were left out (a page of
#: 1,000 scans stays near 2 MB).
MAX_THUMBNAILS = 300
#: Colours of the CN classes, the same in every figure of a page.
_CLASS_COLOURS = {2: "#8c564b", 3: "#e377c2", 4: "#1f77b4", 5: "#17becf", 6: "#2ca02c", 8: "#ff7f0e", 10: "#bcbd22", 12: "#d62728"}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td:last-child { min-width: 20em; max-width: 40em; font-size: 0.9em; }
tr.failure td { color: #a00; }
.thumbs { display: flex; flex-wrap: wrap; gap: 0.5em; }
.thumbs figure { margin: 0; width: 250px; }
.thumbs figcaption { font-size: 0.75em; overflow-wrap: anywhere; }
img { max-width: 100%; }
"""


def series_report_html(results: Sequence[Prediction | Failure], title: str = "exafs-cn predictions") -> str:
    """The HTML page of ``results`` (in their order), as text.

    Parameters
    ----------
    results : sequence of Prediction or Failure
        What ``exafs_cn.predict`` returned, or the command line's answers, in run order.
    title : str
        The page's heading.

    Returns
    -------
    str
        A complete HTML document with every image inline.
    """
    answered = [r for r in results if isinstance(r, Prediction) and r.cn is not None]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(results)} spectra: {len(answered)} answered, "
        f"{sum(isinstance(r, Prediction) and r.cn is None for r in results)} no answer, "
        f"{sum(isinstance(r, Failure) for r in results)} errors, in the order given (files and folders in name order).</p>",
    ]
    if len(answered) >= 2:
        x, label = _series_axis(results)
        parts.append(f"<h2>The series</h2><p>Against {html.escape(label)}.</p>")
        parts.append(_image(_series_figure(results, x, label), f"the series: CN class probabilities, mean CN and R1 against {label}"))
    parts.append("<h2>Every spectrum</h2>")
    parts.append(_table(results))
    with_thumbs = [(number, r) for number, r in enumerate(results, start=1) if isinstance(r, Prediction) and r.processed is not None]
    if with_thumbs:
        parts.append('<h2>|chi(R)| and class probabilities</h2><div class="thumbs">')
        for number, item in with_thumbs[:MAX_THUMBNAILS]:
            caption = f"{number}. {Path(item.file).name}" + (f" [{item.group}]" if item.group else "")
            parts.append(f"<figure>{_image(_thumbnail(item), caption)}<figcaption>{html.escape(caption)}</figcaption></figure>")
        parts.append("</div>")
        if len(with_thumbs) > MAX_THUMBNAILS:
            parts.append(f"<p>Thumbnails of the first {MAX_THUMBNAILS} spectra only; the table and the series hold all {len(with_thumbs)}.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _table(results: Sequence[Prediction | Failure]) -> str:
    header = ["#", "file", "group", "element", "CN", "p", "class probabilities", "mean CN (90%)", "R1 A (90%)", "neighbour", "E0 eV", "pre-edge", "notes / error"]
    rows = []
    for number, item in enumerate(results, start=1):
        if isinstance(item, Failure):
            cells = [str(number), "", item.group or "", "", "", "", "", "", "", "", "", "", item.error]
            tds = [f"<td>{html.escape(c)}</td>" for c in cells]
            tds[1] = _file_cell(item.file)
            rows.append('<tr class="failure">' + "".join(tds) + "</tr>")
            continue
        probabilities = ", ".join(f"{cn}: {p:.2f}" for cn, p in sorted((item.probabilities or {}).items(), key=lambda kv: -kv[1]) if p >= 0.05)
        mean = f"{item.cn_mean:.1f} ({item.cn_interval[0]:.1f}-{item.cn_interval[1]:.1f})" if item.cn_mean is not None and item.cn_interval else ""
        r1 = f"{item.r1:.2f} ({item.r1_interval[0]:.2f}-{item.r1_interval[1]:.2f})" if item.r1 is not None and item.r1_interval else ""
        e0 = "" if item.e0 is None else f"{item.e0:.1f}" + ("" if item.e0_source == "rule" else f" ({item.e0_source})")
        notes = "; ".join(item.notes) if item.cn is not None else f"no answer: {item.reason}; " + "; ".join(item.notes)
        cells = [
            (str(number), "num"),
            (item.file, ""),
            (item.group or "", ""),
            (item.element, ""),
            ("" if item.cn is None else str(item.cn), "num"),
            ("" if item.probability is None else f"{item.probability:.2f}", "num"),
            (probabilities, ""),
            (mean, "num"),
            (r1, "num"),
            (item.neighbour or "", ""),
            (e0, "num"),
            ("" if item.pre_edge_height is None else f"{item.pre_edge_height:.2f}", "num"),
            (notes.strip("; "), ""),
        ]
        tds = [f'<td class="{cls}">{html.escape(text)}</td>' if cls else f"<td>{html.escape(text)}</td>" for text, cls in cells]
        tds[1] = _file_cell(item.file)
        rows.append("<tr>" + "".join(tds) + "</tr>")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _file_cell(file: str) -> str:
    """The file's name, with its whole path on hover (the table stays narrow)."""
    return f'<td title="{html.escape(file)}">{html.escape(Path(file).name)}</td>'


def _series_axis(results: Sequence[Prediction | Failure]) -> tuple[np.ndarray, str]:
    """Each spectrum's place on the series' axis: hours since the first scan's start where every
    answered spectrum's file gives a start time (and they differ), else its number in the order given."""
    answered = [r for r in results if isinstance(r, Prediction) and r.cn is not None]
    times = [r.scan_time for r in answered]
    if all(t is not None for t in times) and len(set(times)) > 1:
        try:
            first = min(times)
            hours = [((r.scan_time - first).total_seconds() / 3600.0) if isinstance(r, Prediction) and r.scan_time else np.nan for r in results]
            return np.array(hours, float), f"hours since the first scan's start ({first.isoformat(sep=' ')}, from the files' headers)"
        except TypeError:  # times with and without a time zone do not compare
            pass
    return np.arange(1, len(results) + 1, dtype=float), "the order given (files and folders in name order)"


def _series_figure(results: Sequence[Prediction | Failure], order: np.ndarray, label: str):
    """Three panels against ``order``: stacked class probabilities, mean CN, R1 (each with its interval)."""
    import matplotlib.pyplot as plt

    answers = [r if isinstance(r, Prediction) and r.cn is not None else None for r in results]
    classes = sorted({int(c) for a in answers if a is not None for c, p in a.probabilities.items() if p > 0})
    fig, (ax_p, ax_cn, ax_r) = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    stacked = np.array([[a.probabilities.get(str(c), 0.0) if a is not None else np.nan for a in answers] for c in classes])
    bottom = np.zeros(len(results))
    keep = np.isfinite(order)
    steps = np.diff(np.unique(order[keep]))
    width = 0.9 * (float(steps.min()) if steps.size else 1.0)
    for cn, row in zip(classes, stacked):
        values = np.nan_to_num(row)
        ax_p.bar(order[keep], values[keep], bottom=bottom[keep], width=width, color=_CLASS_COLOURS.get(cn, "0.6"), label=f"CN {cn}")
        bottom += values
    ax_p.set(ylabel="class probability", ylim=(0, 1))
    ax_p.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    for ax, value, interval, label in (
        (ax_cn, "cn_mean", "cn_interval", "mean CN"),
        (ax_r, "r1", "r1_interval", "R1 (A)"),
    ):
        points = [(i, getattr(a, value), getattr(a, interval)) for i, a in zip(order, answers) if a is not None and getattr(a, value) is not None]
        if points:
            x = np.array([p[0] for p in points])
            y = np.array([p[1] for p in points])
            low = np.array([p[2][0] for p in points])
            high = np.array([p[2][1] for p in points])
            ax.errorbar(x, y, yerr=[y - low, high - y], fmt="o", ms=3, lw=1, capsize=2, color="k", label=f"{label}, 90% interval")
        ax.set(ylabel=label)
    ax_cn.plot(order, [a.cn if a is not None else np.nan for a in answers], "s", ms=4, mfc="none", color="tab:red", label="CN class")
    ax_cn.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    ax_r.set(xlabel="hours since the first scan" if label.startswith("hours") else "spectrum (order given)")
    fig.tight_layout()
    return fig


def _thumbnail(item: Prediction):
    """|chi(R)| with R1 (and its interval) marked, and the class probabilities as bars."""
    import matplotlib.pyplot as plt

    processed = item.processed
    fig, (ax_r, ax_p) = plt.subplots(1, 2, figsize=(3.2, 1.5), gridspec_kw={"width_ratios": [1.6, 1]})
    keep = processed.r <= 6.0
    ax_r.plot(processed.r[keep], processed.chir_mag[keep], color="k", lw=0.8)
    if item.r1 is not None and item.r1_interval is not None:
        ax_r.axvspan(*item.r1_interval, color="tab:green", alpha=0.2, lw=0)
        ax_r.axvline(item.r1, color="tab:green", lw=1)
    ax_r.set_xlim(0, 6)
    ax_r.tick_params(labelsize=5)
    ax_r.set_xlabel("R (A)", fontsize=5, labelpad=1)
    if item.probabilities:
        cns = [int(c) for c in item.probabilities]
        ax_p.bar(range(len(cns)), list(item.probabilities.values()), color=[_CLASS_COLOURS.get(c, "0.6") for c in cns])
        ax_p.set_xticks(range(len(cns)), [str(c) for c in cns], fontsize=5)
    ax_p.set_ylim(0, 1)
    ax_p.tick_params(labelsize=5)
    ax_p.set_title("no answer" if item.cn is None else f"CN {item.cn} (p {item.probability:.2f})", fontsize=6, pad=2)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.22, top=0.85, wspace=0.3)
    return fig


def _image(fig, alt: str) -> str:
    """The figure as an inline PNG ``<img>``; the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=80)
    finally:
        plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def save_series_report(results: Sequence[Prediction | Failure], path: Path | str, title: str | None = None) -> Path:
    """Write the page to ``path``, whole or not at all, never over an existing file (FileExistsError)."""
    from exafs_cn.atomic import write_new_atomic

    path = Path(path)
    text = series_report_html(results, title or f"exafs-cn predictions: {path.stem}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_new_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

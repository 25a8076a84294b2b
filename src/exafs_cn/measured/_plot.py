"""The figure of one prediction (``exafs-cn predict --plot``, drawn by the pipeline):
chi(k), |chi(R)| against the training band of the predicted CN, and the CN axis with the class
probabilities and the average CN's interval; and the figures of a run written into one folder,
one name per spectrum, never over a file the run did not write."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exafs_cn.exceptions import one_line
from exafs_cn.measured._prediction import Prediction
from exafs_cn.models._files import SavedModel


class FigureNames:
    """One figure name per spectrum of a run: the input's name (and group), made safe for
    any file system, shortened where it is long, and numbered where two inputs share it
    (``A/x.xdi`` and ``B/x.xdi``) or a file of that name is there already."""

    MAX_STEM = 120

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.used: set[str] = set()
        #: The first file of a wanted name that was there already (not this run's), if any.
        self.existing: Path | None = None

    def next(self, file: str, group: str | None) -> Path:
        stem = _safe_name(Path(file).name + (f"__{group}" if group else ""))
        if len(stem) > self.MAX_STEM:  # 255 bytes is the usual limit for one name
            digest = hashlib.sha1(stem.encode()).hexdigest()[:8]
            stem = f"{stem[: self.MAX_STEM - 9]}-{digest}"
        name, number = stem, 1
        while name in self.used or (self.folder / f"{name}.png").exists():  # a user's file is never replaced
            if name not in self.used and self.existing is None:
                self.existing = self.folder / f"{name}.png"
            number += 1
            name = f"{stem}-{number}"
        self.used.add(name)
        return self.folder / f"{name}.png"


def _safe_name(text: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in text)


@dataclass(frozen=True)
class Figure:
    """Where one prediction's figure went: ``path`` (None where it was not written, ``error``
    says why), and ``existing``, a file of the wanted name that the run left alone."""

    path: Path | None
    existing: Path | None = None
    error: str | None = None


def write_figure(prediction: Prediction, saved: SavedModel, names: FigureNames) -> Figure:
    """``prediction``'s figure under the next free name of ``names``; a full disk or a name the
    file system refuses is the Figure's error, in one line."""
    names.existing = None
    path = names.next(prediction.file, prediction.group)
    try:
        while True:  # a file of that name that this run did not write is never replaced
            try:
                plot_prediction(prediction, saved, path, replace=False)
                return Figure(path, names.existing)
            except FileExistsError:  # made by another process since the name was chosen
                path = names.next(prediction.file, prediction.group)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or one_line(exc, 100)
        return Figure(None, names.existing, f"{path}: figure not written: {reason}")


def plot_prediction(prediction: Prediction, saved: SavedModel, path: Path, replace: bool = True) -> Path:
    """k^2 chi(k); |chi(R)| over the training data's band for the predicted CN, with R1 and its
    interval beside the first peak where a first-shell model exists; and, on one CN axis, the
    class probabilities with the mean CN and its 90% interval (where a cn_mean model exists)."""
    import matplotlib.pyplot as plt

    from exafs_cn.features import r_grid
    from exafs_cn.figures import save_figure

    settings = saved.processing
    processed = prediction.processed
    fig, (ax_k, ax_r, ax_cn) = plt.subplots(1, 3, figsize=(16, 4), gridspec_kw={"width_ratios": [1, 1, 0.8]})
    ax_k.plot(processed.k, processed.chi * processed.k**settings.kweight, color="k", lw=1)
    ax_k.axvspan(settings.kmin, min(settings.kmax, prediction.kmax), color="0.9", zorder=0, label="FT window")
    ax_k.set(xlabel="k (1/A)", ylabel=f"k^{settings.kweight:g} chi(k)", title=f"{Path(prediction.file).name} {prediction.group or ''}".strip())
    ax_k.legend(loc="upper right")
    r = r_grid(settings)
    bands = (saved.metadata or {}).get("bands") or {}
    band = bands.get(str(prediction.cn)) if prediction.cn is not None else None
    if band:
        low, median, high = (np.asarray(b) for b in band)
        ax_r.fill_between(r, low, high, color="tab:blue", alpha=0.25, label=f"training CN {prediction.cn}: 5-95%")
        ax_r.plot(r, median, color="tab:blue", lw=1, label=f"training CN {prediction.cn}: median")
    ax_r.plot(r, processed.chir_mag[: len(r)], color="k", lw=1.2, label="this spectrum")
    if prediction.r1 is not None and prediction.r1_interval is not None:
        # The peak sits ~0.3-0.5 A below the distance: the scattering phase shift is not removed.
        first = (r > 0.8) & (r < 3.2)
        peak = float(r[first][np.argmax(processed.chir_mag[: len(r)][first])])
        ax_r.axvline(peak, color="0.5", ls=":", lw=1, label=f"first peak {peak:.2f} A (not phase-corrected)")
        ax_r.axvspan(*prediction.r1_interval, color="tab:green", alpha=0.15)
        ax_r.axvline(prediction.r1, color="tab:green", lw=1.5, label=f"R1 {prediction.r1:.2f} A (distance), 90% interval")
    if prediction.cn is None:
        title = f"{prediction.element}: no answer"
    else:
        title = f"{prediction.element} CN {prediction.cn} (p = {prediction.probabilities[str(prediction.cn)]:.2f})"
    ax_r.set(xlabel="R (A, not phase-corrected)", ylabel="|chi(R)|", xlim=(0, 6), title=title)
    ax_r.legend(loc="upper right")
    _cn_axis(ax_cn, prediction)
    return save_figure(fig, path, replace=replace)


def _cn_axis(ax, prediction: Prediction) -> None:
    """Where the spectrum falls on the CN axis: class probabilities, mean CN and its interval."""
    ax.set(xlabel="CN", ylabel="probability", ylim=(0, 1.05))
    if prediction.probabilities:
        cns = [int(c) for c in prediction.probabilities]
        ax.bar(cns, list(prediction.probabilities.values()), width=0.6, color="tab:blue", alpha=0.6, label="CN class probabilities")
    if prediction.cn_mean is not None and prediction.cn_interval is not None:
        low, high = prediction.cn_interval
        ax.axvspan(low, high, color="tab:orange", alpha=0.2, label=f"90% interval {low:.1f}-{high:.1f}")
        ax.axvline(prediction.cn_mean, color="tab:orange", lw=2, label=f"mean CN {prediction.cn_mean:.1f}")
        ax.set_title("mean CN (site-averaged) and CN classes")
    else:
        ax.set_title("CN classes (no cn_mean model)" if prediction.cn is not None else "no answer")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)

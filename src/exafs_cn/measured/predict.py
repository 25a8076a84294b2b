"""CN of measured spectra: file -> checks -> the training preprocessing -> saved model.

The preprocessing is the one the model was trained with, rebuilt from the settings
stored in its file (pre_edge normalisation, autobk, xftf ending where the data end),
so a prediction never runs on features computed differently from the training ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exafs_cn.features import Processed, ProcessingError, featurizers_for, process
from exafs_cn.learn.models import SavedModel
from exafs_cn.learn.train import default_models_dir, model_path
from exafs_cn.measured.readers import DEFAULT_COLUMNS, Columns, MeasuredSpectrum, read_spectra
from exafs_cn.settings import ProcessingSettings

DEFAULT_MODEL = "rf"


class PredictError(ValueError):
    """No model for the element, or a spectrum the model cannot take; one line."""


@dataclass
class Prediction:
    file: str
    group: str | None
    element: str
    cn: int
    probabilities: dict[str, float]
    model: str
    e0: float
    kmax: float
    processed: Processed | None = field(default=None, repr=False)

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "group": self.group,
            "element": self.element,
            "cn": self.cn,
            "probabilities": self.probabilities,
            "model": self.model,
            "e0": round(self.e0, 2),
            "kmax": round(self.kmax, 2),
        }


class ModelStore:
    """Saved models by element, loaded once (loading an RF file costs ~0.1-0.5 s)."""

    def __init__(self, models_dir: Path | None = None, model_name: str = DEFAULT_MODEL):
        self.models_dir = Path(models_dir or default_models_dir())
        self.model_name = model_name
        self._cache: dict[str, SavedModel] = {}

    def get(self, element: str) -> SavedModel:
        if element not in self._cache:
            path = model_path(self.models_dir, element, self.model_name)
            if not path.exists():
                raise PredictError(f"no trained {self.model_name!r} model for {element} in {self.models_dir} (run `exafs-cn train`)")
            try:
                saved = SavedModel.load(path)
            except ValueError as exc:
                raise PredictError(str(exc)) from None
            _single_threaded(saved.estimator)
            self._cache[element] = saved
        return self._cache[element]


def _single_threaded(estimator) -> None:
    """One spectrum at a time: joblib's start-up per call would cost more than the trees."""
    calibrated = getattr(estimator, "calibrated_classifiers_", None)
    inner = [c.estimator for c in calibrated] if calibrated else [estimator]
    for model in inner:
        if "n_jobs" in model.get_params():
            model.set_params(n_jobs=1)


def predict_spectrum(measured: MeasuredSpectrum, store: ModelStore) -> Prediction:
    saved = store.get(measured.element)
    settings = ProcessingSettings.from_dict(saved.settings)
    where = f"{measured.file}[{measured.group}]" if measured.group else measured.file
    try:
        processed = process(measured.to_spectrum(), settings)
    except ProcessingError as exc:
        raise PredictError(f"{where}: {exc}") from None
    features = np.concatenate([f.featurize(processed) for f in featurizers_for(saved.feature_set, settings)])
    if not np.all(np.isfinite(features)):
        raise PredictError(f"{where}: processing gave non-finite features")
    proba = saved.estimator.predict_proba(features[None, :])[0]
    classes = [int(c) for c in saved.estimator.classes_]
    return Prediction(
        file=measured.file,
        group=measured.group,
        element=measured.element,
        cn=classes[int(np.argmax(proba))],
        probabilities={str(c): round(float(p), 4) for c, p in zip(classes, proba)},
        model=f"{saved.element}/{saved.model_name} (exafs-cn {saved.package_version}, {saved.metadata.get('trained', '?')})",
        e0=processed.e0,
        kmax=measured.kmax,
        processed=processed,
    )


def predict_file(path: Path | str, store: ModelStore, element: str | None = None, columns: Columns = DEFAULT_COLUMNS) -> list[Prediction]:
    """Predictions for every spectrum in a file; SpectrumFileError/PredictError name the file."""
    return [predict_spectrum(measured, store) for measured in read_spectra(path, element, columns)]


def plot_prediction(prediction: Prediction, saved: SavedModel, path: Path) -> Path:
    """k^2 chi(k) and |chi(R)| of the spectrum over the training data's band for the predicted CN."""
    from exafs_cn.features import r_grid
    from exafs_cn.learn.report import plt, save_figure  # report sets the Agg backend before pyplot loads

    settings = ProcessingSettings.from_dict(saved.settings)
    processed = prediction.processed
    fig, (ax_k, ax_r) = plt.subplots(1, 2, figsize=(11, 4))
    ax_k.plot(processed.k, processed.chi * processed.k**settings.kweight, color="k", lw=1)
    ax_k.axvspan(settings.kmin, min(settings.kmax, prediction.kmax), color="0.9", zorder=0, label="FT window")
    ax_k.set(xlabel="k (1/A)", ylabel=f"k^{settings.kweight:g} chi(k)", title=f"{Path(prediction.file).name} {prediction.group or ''}".strip())
    ax_k.legend(loc="upper right")
    r = r_grid(settings)
    bands = (saved.metadata or {}).get("bands") or {}
    band = bands.get(str(prediction.cn))
    if band:
        low, median, high = (np.asarray(b) for b in band)
        ax_r.fill_between(r, low, high, color="tab:blue", alpha=0.25, label=f"training CN {prediction.cn}: 5-95%")
        ax_r.plot(r, median, color="tab:blue", lw=1, label=f"training CN {prediction.cn}: median")
    ax_r.plot(r, processed.chir_mag[: len(r)], color="k", lw=1.2, label="this spectrum")
    p = prediction.probabilities[str(prediction.cn)]
    ax_r.set(xlabel="R (A, not phase-corrected)", ylabel="|chi(R)|", xlim=(0, 6), title=f"{prediction.element} CN {prediction.cn} (p = {p:.2f})")
    ax_r.legend(loc="upper right")
    return save_figure(fig, path)

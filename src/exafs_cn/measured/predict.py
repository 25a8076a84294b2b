"""CN of measured spectra: file -> checks -> the training preprocessing -> saved model.

The preprocessing is the one the model was trained with, rebuilt from the settings
stored in its file (pre_edge normalisation, autobk, xftf ending where the data end),
so a prediction never runs on features computed differently from the training ones.
A spectrum whose data stop before the EXAFS range, or whose |chi(R)| the model's
novelty check does not recognise, gets "no answer" with the reason instead of a CN.

Models come from ``--models-dir``, else ``$EXAFS_CN_MODELS``, else the ones shipped
inside the package (trained by ``exafs-cn train`` on the committed dataset).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from exafs_cn.exceptions import one_line
from exafs_cn.features import MIN_KMAX, Processed, ProcessingError, ShortDataError, featurizers_for, process
from exafs_cn.learn.average_cn import AVERAGE_CN_MODEL
from exafs_cn.learn.measured_calibration import CALIBRATION_FILE, CalibrationFileError, PowerCalibration
from exafs_cn.learn.model_files import ModelFileError, SavedModel, model_path
from exafs_cn.learn.novelty import NoveltyCheck
from exafs_cn.measured.readers import (
    DEFAULT_COLUMNS,
    Columns,
    MeasuredSpectrum,
    SpectrumFileError,
    check_element_option,
    checked,
    read_file,
)
from exafs_cn.settings import ProcessingSettings

DEFAULT_MODEL = "rf"


class PredictError(SpectrumFileError):
    """No usable model for the element, or a spectrum the model cannot take; one line.

    A SpectrumFileError, so it names its file and group the same way.
    """


def shipped_models_dir() -> Path:
    """The models inside the installed package."""
    return Path(str(resources.files("exafs_cn") / "data" / "models"))


def resolve_models_dir(models_dir: Path | str | None = None) -> Path:
    """``models_dir`` if given, else ``$EXAFS_CN_MODELS``, else the shipped models."""
    if models_dir:
        return Path(models_dir)
    if os.environ.get("EXAFS_CN_MODELS"):
        return Path(os.environ["EXAFS_CN_MODELS"])
    return shipped_models_dir()


@dataclass
class Prediction:
    """A CN with its probabilities, or no answer (``cn`` None) with the reason."""

    file: str
    group: str | None
    element: str
    element_source: str
    cn: int | None
    probabilities: dict[str, float] | None
    model: str
    e0: float | None
    kmax: float
    reason: str | None = None
    notes: tuple[str, ...] = ()
    cn_mean: float | None = None  # site-averaged CN (median of the regressor), where a cn_mean model exists
    cn_interval: tuple[float, float] | None = None  # its 90% interval
    processed: Processed | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        return f"{self.file}[{self.group}]" if self.group else self.file

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "group": self.group,
            "element": self.element,
            "element_source": self.element_source,
            "cn": self.cn,
            "probabilities": self.probabilities,
            "cn_mean": None if self.cn_mean is None else round(self.cn_mean, 2),
            "cn_interval": None if self.cn_interval is None else [round(v, 2) for v in self.cn_interval],
            "reason": self.reason,
            "model": self.model,
            "e0": None if self.e0 is None else round(self.e0, 2),
            "kmax": round(self.kmax, 2),
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        notes = f" [{'; '.join(self.notes)}]" if self.notes else ""
        if self.cn is None:
            return f"{self.where}: {self.element} no answer: {self.reason} (kmax {self.kmax:.1f}/A){notes}"
        p = self.probabilities or {}
        likely = ", ".join(f"{cn}: {prob:.2f}" for cn, prob in sorted(p.items(), key=lambda item: -item[1]) if prob >= 0.05)
        mean = ""
        if self.cn_mean is not None and self.cn_interval is not None:
            low, high = self.cn_interval
            mean = f"; mean CN {self.cn_mean:.1f}, 90% interval {low:.1f}-{high:.1f}"
        return (
            f"{self.where}: {self.element} CN {self.cn} (p {p[str(self.cn)]:.2f}; CN probabilities >= 0.05: {likely}{mean}; "
            f"kmax {self.kmax:.1f}/A; model {self.model}){notes}"
        )


def error_json(file: str, group: str | None, error: str) -> dict:
    """The --json line of an input that got neither a CN nor "no answer"."""
    return {"file": file, "group": group, "error": error}


class ModelStore:
    """Saved models by element, loaded once (loading an RF file costs ~0.1-0.5 s).

    ``measured_calibration``: apply the folder's ``measured_calibration.json`` (where it
    has one) to the classifiers' probabilities; off to see them as trained.
    """

    def __init__(self, models_dir: Path | str | None = None, model_name: str = DEFAULT_MODEL, measured_calibration: bool = True):
        self.models_dir = resolve_models_dir(models_dir)
        self.model_name = model_name
        self.use_measured_calibration = measured_calibration
        self._cache: dict[tuple[str, str], SavedModel | None] = {}
        self._calibration: PowerCalibration | None | bool = False  # False: not looked up yet

    @property
    def calibration(self) -> PowerCalibration | None:
        """The folder's measured-spectra calibration, or None; PredictError if the file is unusable."""
        if not self.use_measured_calibration:
            return None
        if self._calibration is False:
            path = self.models_dir / CALIBRATION_FILE
            try:
                self._calibration = PowerCalibration.load(path) if path.exists() else None
            except CalibrationFileError as exc:
                raise PredictError(str(exc)) from None
        return self._calibration

    def get(self, element: str) -> SavedModel:
        """The CN classifier for ``element``; PredictError when there is none or it cannot be used."""
        saved = self._load(element, self.model_name)
        if saved is None:
            raise PredictError(f"no {self.model_name!r} model for {element} in {self.models_dir} (train one with `exafs-cn train`)")
        if not (hasattr(saved.estimator, "predict_proba") and hasattr(saved.estimator, "classes_")):
            path = model_path(self.models_dir, element, self.model_name)
            raise PredictError(f"{path}: not a CN classifier (holds a {type(saved.estimator).__name__}); retrain with `exafs-cn train`")
        return saved

    def average_cn(self, element: str) -> SavedModel | None:
        """The average-CN regressor for ``element``, or None where the folder has none
        (models trained with ``--models rf`` only): the CN is then given without it."""
        saved = self._load(element, AVERAGE_CN_MODEL)
        if saved is not None and not hasattr(saved.estimator, "predict_with_interval"):
            path = model_path(self.models_dir, element, AVERAGE_CN_MODEL)
            raise PredictError(f"{path}: not an average-CN model (holds a {type(saved.estimator).__name__}); retrain with `exafs-cn train`")
        return saved

    def _load(self, element: str, model_name: str) -> SavedModel | None:
        if (element, model_name) not in self._cache:
            path = model_path(self.models_dir, element, model_name)
            saved = None
            if path.exists():
                try:
                    saved = SavedModel.load(path, element=element)
                except ModelFileError as exc:
                    raise PredictError(str(exc)) from None
                _single_threaded(saved.estimator)
            self._cache[element, model_name] = saved
        return self._cache[element, model_name]


def _single_threaded(estimator) -> None:
    """One spectrum at a time: joblib's start-up per call would cost more than the trees."""
    calibrated = getattr(estimator, "calibrated_classifiers_", None)
    if calibrated:
        inner = [c.estimator for c in calibrated]
    else:
        wrapped = getattr(estimator, "estimator_", None)  # PowerCalibratedClassifier's forest
        inner = [wrapped if wrapped is not None else getattr(estimator, "forest_", estimator)]
    for model in inner:
        if "n_jobs" in model.get_params():
            model.set_params(n_jobs=1)


def predict_spectrum(measured: MeasuredSpectrum, store: ModelStore) -> Prediction:
    saved = store.get(measured.element)
    model = f"{saved.element}/{saved.model_name} (exafs-cn {saved.package_version}, {saved.metadata.get('trained', '?')})"
    answer = Prediction(
        file=measured.file,
        group=measured.group,
        element=measured.element,
        element_source=measured.element_source,
        cn=None,
        probabilities=None,
        model=model,
        e0=None,
        kmax=measured.kmax,
        notes=measured.notes,
    )
    if measured.kmax < MIN_KMAX:
        answer.reason = f"the data end at k = {measured.kmax:.1f}/A above the edge; EXAFS needs at least {MIN_KMAX:g}/A"
        return answer
    settings = ProcessingSettings.from_dict(saved.settings)
    try:
        processed = process(measured.to_spectrum(), settings)
    except ShortDataError as exc:  # the reader's kmax is from the largest derivative; the model's E0 can sit higher
        answer.reason = f"{exc} (from the E0 of the model's rule)"
        return answer
    except ProcessingError as exc:
        raise PredictError(f"{measured.where}: {exc}") from None
    answer.e0, answer.processed = processed.e0, processed
    features = _features(processed, saved, measured)
    if saved.novelty is not None:
        answer.reason = NoveltyCheck.from_dict(saved.novelty).reason(processed.chir_mag, settings)
        if answer.reason:
            return answer
    proba = saved.estimator.predict_proba(features[None, :])[0]
    if store.calibration is not None:
        # The measured exponent was fitted on corpus scans, 221 of 234 of which fill the FT
        # window. On the corpus cut at 7/A it made the answers look sure (mean confidence 0.90,
        # right 0.67, 15 wrong at p >= 0.9); as trained they are 0.71 and 2. Data that end
        # before the window does keep the as-trained probabilities (docs/measured.md).
        if processed.kmax >= settings.kmax:
            proba = store.calibration.apply(proba)
        else:
            answer.notes = (
                *answer.notes,
                f"measured calibration not applied: the data end at k = {processed.kmax:.1f}/A, short of the "
                f"{settings.kmax:g}/A of the scans it was fitted on",
            )
    classes = [int(c) for c in saved.estimator.classes_]
    answer.cn = classes[int(np.argmax(proba))]
    answer.probabilities = {str(c): round(float(p), 4) for c, p in zip(classes, proba)}
    regressor = store.average_cn(measured.element)
    if regressor is not None:
        if regressor.settings != saved.settings:  # trained apart from the classifier: its own processing
            try:
                processed = process(measured.to_spectrum(), ProcessingSettings.from_dict(regressor.settings))
            except ProcessingError as exc:
                raise PredictError(f"{measured.where}: {exc}") from None
        if regressor.settings != saved.settings or regressor.feature_set != saved.feature_set:
            features = _features(processed, regressor, measured)
        median, low, high = regressor.estimator.predict_with_interval(features[None, :])
        answer.cn_mean = float(median[0])
        answer.cn_interval = (float(low[0]), float(high[0]))
    return answer


def _features(processed: Processed, saved: SavedModel, measured: MeasuredSpectrum) -> np.ndarray:
    """The model's inputs, computed as in its training; a spectrum that gives NaN is an error."""
    settings = ProcessingSettings.from_dict(saved.settings)
    features = np.concatenate([f.featurize(processed) for f in featurizers_for(saved.feature_set, settings)])
    if not np.all(np.isfinite(features)):
        raise PredictError(f"{measured.where}: processing gave non-finite features")
    return features


def predict_file(
    path: Path | str, store: ModelStore, element: str | None = None, columns: Columns = DEFAULT_COLUMNS
) -> list[Prediction | SpectrumFileError | PredictError]:
    """A prediction, or the error, for every spectrum in a file; a file that cannot be read raises.

    Whatever a file holds, the result is a list or a SpectrumFileError naming it: an
    exception nobody foresaw becomes that file's (or group's) error, so that the files after
    it in a batch are still predicted.
    """
    try:
        items = read_file(path, element, columns)
    except SpectrumFileError:
        raise
    except Exception as exc:  # MemoryError and RecursionError too: they cost one file, not the batch
        raise SpectrumFileError(f"{path}: cannot be read ({_unforeseen(exc)})", str(path)) from None
    out: list[Prediction | SpectrumFileError | PredictError] = []
    for item in items:
        if isinstance(item, SpectrumFileError):
            out.append(item)
            continue
        try:
            out.append(predict_spectrum(item, store))
        except PredictError as exc:
            out.append(PredictError(str(exc), item.file, item.group))
        except Exception as exc:
            out.append(PredictError(f"{item.where}: cannot be predicted ({_unforeseen(exc)})", item.file, item.group))
    return out


def _unforeseen(exc: BaseException) -> str:
    """An unexpected exception in a few words, for a one-line error that asks to be reported."""
    name, detail = type(exc).__name__, one_line(exc, 100)
    return f"{name}; please report this" if detail == name else f"{name}: {detail}; please report this"


def predict(
    source=None,
    element: str | None = None,
    *,
    energy: str | Sequence[float] | np.ndarray | None = None,
    mu: str | Sequence[float] | np.ndarray | None = None,
    model: str = DEFAULT_MODEL,
    models_dir: Path | str | None = None,
    name: str = "spectrum",
) -> list[dict]:
    """CN of measured spectra, for notebooks: the fields of ``exafs-cn predict --json``.

    ``source`` is a file (XDI, Athena project, columns; ``energy``/``mu`` then name
    columns or expressions, as ``--energy``/``--mu``), a Larch Group with ``energy``
    and ``mu``, or None with ``energy`` and ``mu`` as arrays. ``element`` is used
    where the data do not say; with neither, the edge energy decides. Returns one dict
    per spectrum: a CN and probabilities, ``"cn": None`` with a ``reason``, or an
    ``error``.
    """
    store = ModelStore(models_dir, model)
    if isinstance(source, (str, os.PathLike)):
        if not all(e is None or isinstance(e, str) for e in (energy, mu)):
            message = f"{source}: with a file, energy and mu name its columns or expressions (text); give arrays without a file"
            return [error_json(str(source), None, message)]
        try:
            items = predict_file(source, store, element, Columns(energy=energy, mu=mu))
        except SpectrumFileError as exc:
            return [error_json(str(source), None, str(exc))]
    else:
        items = [_predict_arrays(source, element, energy, mu, store, name)]
    return [_as_json(item) for item in items]


def _predict_arrays(group, element, energy, mu, store: ModelStore, name: str) -> Prediction | SpectrumFileError | PredictError:
    stated = None
    if group is not None:
        energy, mu = getattr(group, "energy", None), getattr(group, "mu", None)
        stated = getattr(group, "atsym", None) or getattr(group, "element", None)
        name = getattr(group, "filename", None) or getattr(group, "groupname", None) or name
        if energy is None or mu is None:
            return SpectrumFileError(f"{name}: the group has no energy and mu arrays", name)
    if energy is None or mu is None:
        return SpectrumFileError(f"{name}: give a file, a Larch Group, or energy and mu arrays", name)
    try:
        measured = checked(name, name, None, energy, mu, stated and str(stated).capitalize(), check_element_option(element, name))
        return predict_spectrum(measured, store)
    except SpectrumFileError as exc:  # PredictError too
        return type(exc)(str(exc), name)
    except Exception as exc:
        return PredictError(f"{name}: cannot be predicted ({_unforeseen(exc)})", name)


def _as_json(item: Prediction | SpectrumFileError | PredictError) -> dict:
    if isinstance(item, Prediction):
        return item.to_json()
    return error_json(item.file, item.group, str(item))


def plot_prediction(prediction: Prediction, saved: SavedModel, path: Path) -> Path:
    """k^2 chi(k); |chi(R)| over the training data's band for the predicted CN; and, on one CN
    axis, the class probabilities with the mean CN and its 90% interval (where a cn_mean model exists)."""
    import matplotlib.pyplot as plt

    from exafs_cn.features import r_grid
    from exafs_cn.figures import save_figure

    settings = ProcessingSettings.from_dict(saved.settings)
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
    if prediction.cn is None:
        title = f"{prediction.element}: no answer"
    else:
        title = f"{prediction.element} CN {prediction.cn} (p = {prediction.probabilities[str(prediction.cn)]:.2f})"
    ax_r.set(xlabel="R (A, not phase-corrected)", ylabel="|chi(R)|", xlim=(0, 6), title=title)
    ax_r.legend(loc="upper right")
    _cn_axis(ax_cn, prediction)
    return save_figure(fig, path)


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

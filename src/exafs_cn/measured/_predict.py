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
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from itertools import chain, islice
from pathlib import Path

import numpy as np

from exafs_cn.elements import NEIGHBOUR_CLASSES
from exafs_cn.exceptions import PredictError, one_line
from exafs_cn.features import (
    MIN_KMAX,
    Processed,
    ProcessingError,
    ShortDataError,
    edge_energy,
    featurizers_for,
    process,
    reread_at_e0,
)
from exafs_cn.measured._e0_profile import FLOOR_PERCENTILE, K_RANGE, profile
from exafs_cn.measured._near_edge import pre_edge_peak_height
from exafs_cn.measured._prediction import Failure, Prediction, held_to_class
from exafs_cn.measured._readers import (
    DEFAULT_COLUMNS,
    Columns,
    E0Option,
    MeasuredSpectrum,
    SpectrumFileError,
    read_file,
)
from exafs_cn.models._bond_lengths import BOND_LENGTHS_FILE, BondLengths
from exafs_cn.models._e0_references import REFERENCES_FILE, E0References, ReferencesFileError
from exafs_cn.models._files import OLD_MODEL_SUFFIX, ModelFileError, SavedModel, model_path
from exafs_cn.models._measured_calibration import CALIBRATION_FILE, CalibrationFileError, PowerCalibration
from exafs_cn.models._names import AVERAGE_CN_MODEL, NEIGHBOUR_MODEL, R1_MODEL
from exafs_cn.package_data import package_data
from exafs_cn.settings import ProcessingSettings

DEFAULT_MODEL = "rf"


def shipped_models_dir() -> Path:
    """The models inside the installed package."""
    return package_data("models")


def resolve_models_dir(models_dir: Path | str | None = None) -> Path:
    """``models_dir`` if given, else ``$EXAFS_CN_MODELS``, else the shipped models."""
    if models_dir:
        return Path(models_dir)
    if os.environ.get("EXAFS_CN_MODELS"):
        return Path(os.environ["EXAFS_CN_MODELS"])
    return shipped_models_dir()


class ModelStore:
    """Saved models by element, loaded once (loading an RF file costs ~0.1-0.5 s).

    ``measured_calibration``: apply the folder's ``measured_calibration.json`` (where it
    has one) to the classifiers' probabilities; off to see them as trained.
    """

    def __init__(self, models_dir: Path | str | None = None, model_name: str = DEFAULT_MODEL, measured_calibration: bool = True):
        self.given = models_dir is not None
        self.models_dir = resolve_models_dir(models_dir)
        self.model_name = model_name
        self.use_measured_calibration = measured_calibration
        self._cache: dict[tuple[str, str], SavedModel | None] = {}
        #: Set in a pool worker: it processes spectra and the main process predicts, so models it
        #: has not loaded are read without their estimators (``for_processing``).
        self.headers_only = False
        self._headers: dict[tuple[str, str], SavedModel | None] = {}
        self._calibration: PowerCalibration | None | bool = False  # False: not looked up yet
        self._references: E0References | None | bool = False
        self._bond_lengths: BondLengths | None | bool = False
        self._score_floors: dict[str, float] = {}

    def check(self) -> None:
        """PredictError (one line) where the models folder cannot serve any spectrum: missing,
        not a folder, or holding a calibration file that cannot be used. Said once, before
        any spectrum is read, instead of once per spectrum."""
        where = self.models_dir
        source = "" if self.given else " ($EXAFS_CN_MODELS)" if os.environ.get("EXAFS_CN_MODELS") else ""
        if not where.exists():
            raise PredictError(f"models folder {where}{source} does not exist; give one made by `exafs-cn train`, or none for the shipped models")
        if not where.is_dir():
            raise PredictError(f"models folder {where}{source} is not a folder")
        self.calibration  # noqa: B018 -- reads and checks the file once, here
        self.e0_references  # noqa: B018 -- likewise
        self.bond_lengths  # noqa: B018 -- likewise

    @property
    def e0_references(self) -> E0References | None:
        """The training spectra's k^2 chi(k) beside the models (``e0_references.npz``), or None
        where the folder has none; PredictError if the file is unusable."""
        if self._references is False:
            self._references = self._beside_models(REFERENCES_FILE, E0References.load, ReferencesFileError)
        return self._references

    @property
    def bond_lengths(self) -> BondLengths | None:
        """The training pairs' first-shell distances beside the models (``bond_lengths.npz``),
        read only where the calibration weighs them; None where it does not or the folder has
        none; PredictError if the file is unusable."""
        if self._bond_lengths is False:
            weighed = self.calibration is not None and self.calibration.first_shell_weight > 0
            self._bond_lengths = self._beside_models(BOND_LENGTHS_FILE, BondLengths.load, ReferencesFileError) if weighed else None
        return self._bond_lengths

    def score_floor(self, element: str) -> float:
        """The 1st percentile of the element's training spectra's own E0-profile scores
        (:func:`exafs_cn.models._e0_references.score_floor`): as the references file stores it, or
        computed once per element and process for a file without (~0.07 s for Cu's 2,223 rows)."""
        if element not in self._score_floors:
            self._score_floors[element] = self.e0_references.floor(element)
        return self._score_floors[element]

    @property
    def calibration(self) -> PowerCalibration | None:
        """The folder's measured-spectra calibration, or None; PredictError if the file is unusable."""
        if not self.use_measured_calibration:
            return None
        if self._calibration is False:
            self._calibration = self._beside_models(CALIBRATION_FILE, PowerCalibration.load, CalibrationFileError)
        return self._calibration

    def _beside_models(self, name: str, load, error: type[Exception]):
        """The file ``name`` of the models folder read by ``load``, None where there is none (a
        dangling link counts as one, to be refused); PredictError for ``error``."""
        path = self.models_dir / name
        try:
            return load(path) if path.exists() or path.is_symlink() else None
        except error as exc:
            raise PredictError(str(exc)) from None

    def get(self, element: str) -> SavedModel:
        """The CN classifier for ``element``; PredictError when there is none or it cannot be used."""
        saved = self._load(element, self.model_name)
        if saved is None:
            raise PredictError(self._no_classifier(element))
        if not (hasattr(saved.estimator, "predict_proba") and hasattr(saved.estimator, "classes_")):
            path = model_path(self.models_dir, element, self.model_name)
            raise PredictError(f"{path}: not a CN classifier (holds a {type(saved.estimator).__name__}); retrain with `exafs-cn train`")
        return saved

    def companions(self, element: str) -> dict[str, SavedModel]:
        """The models that answer beside the CN classifier, where the folder has them: the
        average-CN regressor (``cn_mean``) and the first-shell models (``r1``, ``neighbour``);
        a folder without them gives the CN without those fields."""
        found = {}
        for name, needs, what in _COMPANIONS:
            saved = self._load(element, name)
            if saved is None:
                continue
            if not hasattr(saved.estimator, needs):
                path = model_path(self.models_dir, element, name)
                raise PredictError(f"{path}: not {what} (holds a {type(saved.estimator).__name__}); retrain with `exafs-cn train`")
            found[name] = saved
        return found

    def for_processing(self, element: str) -> tuple[SavedModel, dict[str, SavedModel]]:
        """The CN classifier and its companions as processing a spectrum for them needs them:
        ``get`` and ``companions``, or, where ``headers_only`` is set and they are not loaded
        yet, every field of their files but the estimators (~12 ms an element, against ~0.2 s
        for the trees). A pool worker that meets an element its parent had not loaded (the
        files are read on the workers) so no longer loads trees it never calls."""
        if not self.headers_only:
            return self.get(element), self.companions(element)
        saved = self._load(element, self.model_name, estimator=False)
        if saved is None:
            raise PredictError(self._no_classifier(element))
        found = {name: self._load(element, name, estimator=False) for name, _, _ in _COMPANIONS}
        return saved, {name: companion for name, companion in found.items() if companion is not None}

    def _no_classifier(self, element: str) -> str:
        return f"no {self.model_name!r} model for {element} in {self.models_dir} (train one with `exafs-cn train`)"

    def _load(self, element: str, model_name: str, estimator: bool = True) -> SavedModel | None:
        """The model file read whole (cached), or, with ``estimator=False``, the whole one where it
        was read already, else its fields without the estimator (cached apart)."""
        key = (element, model_name)
        if key in self._cache:
            return self._cache[key]
        if not estimator and key in self._headers:
            return self._headers[key]
        path = model_path(self.models_dir, element, model_name)
        saved = None
        old = path.with_suffix(OLD_MODEL_SUFFIX)
        if not path.exists() and old.exists():
            raise PredictError(
                f"{old}: a model file of exafs-cn 0.2 (skops), which this release does not read; "
                f"retrain with `exafs-cn train --models-dir {self.models_dir}`"
            )
        if path.exists():
            try:
                saved = SavedModel.load(path, element=element, estimator=estimator)
            except ModelFileError as exc:
                raise PredictError(str(exc)) from None
            if estimator:
                _single_threaded(saved.estimator)
        (self._cache if estimator else self._headers)[key] = saved
        return saved


#: Companion models: file name, the method it must have, what it is (for the message).
_COMPANIONS = (
    (AVERAGE_CN_MODEL, "predict_with_interval", "an average-CN model"),
    (R1_MODEL, "predict_with_interval", "a first-shell distance model"),
    (NEIGHBOUR_MODEL, "predict_proba", "a neighbour classifier"),
)


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


@dataclass
class _Pending:
    """A spectrum processed and featurized, waiting for its element's model call."""

    answer: Prediction
    features: np.ndarray
    companion_features: dict[str, np.ndarray]  # each companion model's inputs (ModelStore.companions)
    fills_window: bool  # the data reach the model's FT kmax: the measured calibration applies


@dataclass(frozen=True)
class FileInput:
    """A file to read with the user's options, where it is processed (on a worker of the pool:
    reading and its checks cost as much as a background removal)."""

    path: Path | str
    element: str | None = None
    columns: Columns = DEFAULT_COLUMNS
    e0: E0Option | None = None

    def read(self) -> list[MeasuredSpectrum | SpectrumFileError]:
        """The file's spectra or the error in their place (``read_inputs``)."""
        return read_inputs(self.path, self.element, self.columns, self.e0)


def predict_spectra(
    spectra: Iterable[MeasuredSpectrum | SpectrumFileError | FileInput], store: ModelStore, workers: int = 1
) -> list[Prediction | Failure]:
    """A Prediction or a Failure for each spectrum, in order; one model call per element.

    Reading (for a ``FileInput``: a file read where it is processed, its spectra in its place),
    checks and processing run input by input (``prepared_inputs``: on ``workers`` processes
    where there are enough inputs); the models then predict all spectra of an element at once,
    here (``predict_prepared``).
    """
    return predict_prepared([outcome for outcomes in prepared_inputs(spectra, store, workers) for outcome in outcomes], store)


def predict_prepared(prepared: list[Prediction | Failure | _Pending], store: ModelStore) -> list[Prediction | Failure]:
    """``prepared`` with every spectrum waiting for its models answered, in one model call per
    element (a forest's per-call overhead is ~10-20 ms, its per-spectrum cost a fraction of
    that). A model that fails on its inputs becomes each of its spectra's Failure, so the other
    elements are still predicted."""
    results = list(prepared)
    by_element: dict[str, list[int]] = {}
    for index, item in enumerate(results):
        if isinstance(item, _Pending):
            by_element.setdefault(item.answer.element, []).append(index)
    for element, indices in by_element.items():
        pending = [results[i] for i in indices]
        try:
            answers = _predict_element(element, pending, store)
        except PredictError as exc:  # the folder's calibration file cannot be used
            answers = [Failure(p.answer.file, p.answer.group, f"{p.answer.where}: {exc}") for p in pending]
        except Exception as exc:  # a model that fails on these inputs: each of them says so
            answers = [
                Failure(p.answer.file, p.answer.group, f"{p.answer.where}: cannot be predicted ({unforeseen(exc)})") for p in pending
            ]
        for index, answer in zip(indices, answers):
            results[index] = answer
    return results  # type: ignore[return-value]  # every _Pending was replaced


#: A process pool is worth its start (a fork, and the results' way back) from this many inputs a worker.
MIN_SPECTRA_PER_WORKER = 8
#: Inputs queued on the pool for each worker: enough work to keep the workers busy while this
#: process predicts, fits and prints a batch (~0.25 s for 64 spectra of six elements).
QUEUED_PER_WORKER = 16
#: Each worker process's model stores, by (folder, family, calibration): set by the parent before
#: it forks (so workers share the loaded models), or loaded once by a worker that was not forked.
_WORKER_STORES: dict[tuple[str, str, bool], ModelStore] = {}

#: One input: a file to read, one spectrum read (or its error), or the spectra of one input.
Input = FileInput | MeasuredSpectrum | SpectrumFileError | list[MeasuredSpectrum | SpectrumFileError]


def prepared_inputs(inputs: Iterable[Input], store: ModelStore, workers: int = 1) -> Iterator[list[Prediction | Failure | _Pending]]:
    """Each input read (a ``FileInput``) and its spectra prepared for their models, in input order.

    ``inputs`` are taken lazily. Where at least ``MIN_SPECTRA_PER_WORKER`` inputs a worker come,
    they are prepared on one pool of ``workers`` processes (``exafs_cn.parallel``) for the whole
    stream, which goes on with the inputs queued on it while the caller predicts and prints what
    came back; this process loads each element's models whole, to predict, as its first spectra
    come back (the workers read only their descriptions: ``ModelStore.for_processing``). Close
    the iterator (``contextlib.closing``) where it may be left before its end: the pool is then
    shut down at once, not when the iterator is collected.
    """
    stream = iter(inputs)
    head = list(islice(stream, MIN_SPECTRA_PER_WORKER * max(1, workers)))
    workers = max(1, min(workers, len(head) // MIN_SPECTRA_PER_WORKER))
    if workers == 1:
        for item in chain(head, stream):
            yield _prepare_item(item, store)
        return
    from exafs_cn.parallel import map_unordered

    spec = (str(store.models_dir), store.model_name, store.use_measured_calibration)
    _WORKER_STORES[spec] = store
    # Elements known before the workers fork: loaded here first, so that the workers share them.
    for item in head:
        for spectrum in item if isinstance(item, list) else [item]:
            if isinstance(spectrum, MeasuredSpectrum):
                _load_whole(store, spectrum.element)
    try:
        store.calibration, store.e0_references  # noqa: B018 (likewise)
    except PredictError:
        pass  # said where they are used
    tasks = ((index, spec, item) for index, item in enumerate(chain(head, stream)))

    def lost(task, exc: BaseException) -> tuple[int, list[Failure]]:
        index, _, item = task
        where = item.where if isinstance(item, MeasuredSpectrum) else str(getattr(item, "path", item))
        file = getattr(item, "file", where)
        return index, [Failure(file, getattr(item, "group", None), f"{where}: cannot be predicted ({unforeseen(exc)})")]

    arrived: dict[int, list] = {}  # outcomes that came back before an earlier input's
    following = 0
    # closing(): where this loop stops early (Ctrl-C, or the caller leaves), the pool is shut down
    # here, not whenever the suspended generator happens to be collected (at exit, after the
    # executor's own exit handler has begun to wait on it).
    with closing(
        map_unordered(_prepare_task, tasks, workers=workers, progress=False, on_error=lost, ahead=QUEUED_PER_WORKER)
    ) as outcomes:
        for index, outcome in outcomes:
            for element in {item.answer.element for item in outcome if isinstance(item, _Pending)}:
                _load_whole(store, element)
            arrived[index] = outcome
            while following in arrived:
                yield arrived.pop(following)
                following += 1


def _load_whole(store: ModelStore, element: str) -> None:
    """The element's models loaded in ``store`` (a cache hit after the first time); a folder
    that cannot serve them is said where they are used, by each of its spectra."""
    try:
        store.get(element)
        store.companions(element)
    except PredictError:
        pass


def _prepare_task(task: tuple[int, tuple[str, str, bool], Input]) -> tuple[int, list[Prediction | Failure | _Pending]]:
    """One input prepared in a worker process, with its index."""
    index, spec, item = task
    store = _WORKER_STORES.get(spec)
    if store is None:  # a worker that was started, not forked: its own store, loaded once
        store = _WORKER_STORES.setdefault(spec, ModelStore(spec[0], spec[1], spec[2]))
    store.headers_only = True  # this process's copy: the main process predicts
    return index, _prepare_item(item, store)


def _prepare_item(item: Input, store: ModelStore) -> list[Prediction | Failure | _Pending]:
    """A file read and each of its spectra prepared, or the spectra of one input prepared."""
    spectra = item.read() if isinstance(item, FileInput) else item if isinstance(item, list) else [item]
    return [_prepare_or_fail(spectrum, store) for spectrum in spectra]


def _prepare_or_fail(item: MeasuredSpectrum | SpectrumFileError, store: ModelStore) -> Prediction | Failure | _Pending:
    """A spectrum processed for its models (``_prepare``), or its Failure."""
    if isinstance(item, SpectrumFileError):
        return Failure(item.file, item.group, str(item))
    try:
        return _prepare(item, store)
    except PredictError as exc:
        message = str(exc) if str(exc).startswith(item.where) else f"{item.where}: {exc}"
        return Failure(item.file, item.group, message)
    except Exception as exc:
        return Failure(item.file, item.group, f"{item.where}: cannot be predicted ({unforeseen(exc)})")


def _prepare(measured: MeasuredSpectrum, store: ModelStore) -> Prediction | _Pending:
    """Process one spectrum for its element's models: no answer now, or what they need."""
    saved, companions = store.for_processing(measured.element)
    # Which release trained the file and when: the shipped files were trained by 0.2.0 and
    # converted to model format 3 by 0.3.0 (data/models/README.md), so the line says "trained by".
    trained = str(saved.metadata.get("trained", "?"))[:10]
    model = f"{saved.element}/{saved.model_name} (trained {trained} by exafs-cn {saved.package_version}, model format {saved.format})"
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
        scan_time=measured.scan_time,
    )
    if measured.kmax < MIN_KMAX:
        answer.reason = f"the data end at k = {measured.kmax:.1f}/A above the edge; EXAFS needs at least {MIN_KMAX:g}/A"
        return answer
    settings = saved.processing
    try:
        processed = process(measured.to_spectrum(), settings)
    except ShortDataError as exc:  # the reader's kmax is from the largest derivative; the model's E0 can sit higher
        answer.reason = f"{exc} (from the E0 of the model's rule)"
        return answer
    except ProcessingError as exc:
        raise PredictError(f"{measured.where}: {exc}") from None
    answer.pre_edge_height = _pre_edge_height(measured, processed)
    unmatched = None
    from_rule = processed
    if measured.e0_given is None and not measured.e0_shift and measured.e0_profile:
        processed, unmatched = _profiled(processed, measured, saved, settings, store, answer)
    answer.e0, answer.processed = processed.e0, processed
    if measured.e0_given is not None or measured.e0_shift:
        answer.e0_source = "given" if measured.e0_shift == 0 else f"shift {measured.e0_shift:+.1f} eV" + (
            f" from {measured.e0_given:.1f}" if measured.e0_given is not None else ""
        )
    features = _features(processed, saved, measured)
    if saved.novelty is not None:
        # Whether the data hold EXAFS is read at the rule's E0 as well: a profiled E0 moved into
        # the edge's rise turns the rise itself into low-k chi that can pass for a first shell (a
        # bare edge step was answered CN 6 at p 0.8).
        answer.reason = saved.novelty_check.reason(from_rule.chir_mag, settings)
        if answer.reason is None and processed is not from_rule:
            answer.reason = saved.novelty_check.reason(processed.chir_mag, settings)
        if answer.reason:
            return answer
    if unmatched:  # after the novelty check, whose reasons (no EXAFS, noise) say more
        answer.reason = unmatched
        return answer
    # A companion trained apart from the classifier (the shipped cn_mean models: another E0
    # rule) gets its own processing (_companion_processing); the others share the classifier's.
    processed_by_settings = {settings: processed}  # settings as each model file's were parsed when loaded
    companion_features = {}
    for name, companion in companions.items():
        if companion.processing == settings and companion.feature_set == saved.feature_set:
            companion_features[name] = features
            continue
        if companion.processing not in processed_by_settings:
            try:
                processed_by_settings[companion.processing] = _companion_processing(processed, measured, settings, companion.processing)
            except ProcessingError as exc:
                raise PredictError(f"{measured.where}: {exc}") from None
        companion_features[name] = _features(processed_by_settings[companion.processing], companion, measured)
    return _Pending(answer, features, companion_features, fills_window=answer.processed.kmax >= settings.kmax)


#: The settings that place E0; a companion whose settings differ from the classifier's in these
#: alone reads the classifier's chi(E) from its own E0 (_companion_processing).
_E0_SETTINGS = ("e0_rule", "e0_hold")


def _companion_processing(
    processed: Processed, measured: MeasuredSpectrum, settings: ProcessingSettings, companion: ProcessingSettings
) -> Processed:
    """A companion model's processing where its settings differ from the classifier's.

    Where they differ in the E0 rule alone (the shipped average-CN models: Larch's own E0), the
    classifier's chi(E) is read from the companion's E0 (``features.reread_at_e0``) instead of a
    background removal of its own, a third of a spectrum's processing; what that costs the
    average-CN answers on the measured corpus is in docs/measured.md ("One story"). Other
    settings, or a spectrum whose Larch pre_edge the reader did not keep: a processing of its own.
    """
    edge = measured.larch_edge
    differs_beyond_e0 = replace(companion, **{name: getattr(settings, name) for name in _E0_SETTINGS}) != settings
    if differs_beyond_e0 or not {"norm", "e0"} <= set(edge):
        return process(measured.to_spectrum(), companion)
    if measured.e0_given is not None or measured.e0_shift:  # the user's E0 holds for every model
        e0 = processed.e0
    else:
        e0 = edge_energy(measured.energy, edge["norm"], companion, larch_e0=edge["e0"])
    return reread_at_e0(processed, e0, companion)


def _pre_edge_height(measured: MeasuredSpectrum, processed: Processed) -> float | None:
    """The pre-edge peak height on the rule's normalisation (Larch's pre_edge ``norm``)."""
    norm = getattr(processed.group, "norm", None)
    if norm is None or len(norm) != len(measured.energy):
        return None
    return pre_edge_peak_height(measured.energy, norm)


def _profiled(
    processed: Processed, measured: MeasuredSpectrum, saved: SavedModel, settings: ProcessingSettings, store: ModelStore, answer: Prediction
) -> tuple[Processed, str | None]:
    """The processing from the E0 at which chi(k) matches the training spectra best
    (:mod:`exafs_cn.measured._e0_profile`), with ``answer``'s E0 fields set; the rule's
    processing, with a note, where the models folder has no references for these models. And the
    reason for no answer where even the best E0 leaves chi(k) below the element's score floor.

    The profile re-maps one background removal to every shift; the spectrum is then
    processed again from the chosen E0 (autobk's spline and normalisation follow E0: reading
    the first chi at shifted k instead turned ZnO's answer back to CN 6 at p 0.96).
    """
    references = store.e0_references
    rows = references.by_element.get(measured.element) if references is not None else None
    if references is None or references.settings != saved.settings or rows is None or len(rows) == 0:
        why = "the models folder has no E0 references" if references is None else "the E0 references are not for these models"
        answer.notes = (*answer.notes, f"E0 by the rule ({why})")
        return processed, None
    found = profile(processed.k, processed.chi, rows, references.grid)
    answer.e0_source, answer.e0_sharpness = f"profile {found.shift:+.1f} eV", found.sharpness
    # Out of the training spectra's reach at every E0: the models would extrapolate, and the measured
    # calibration, fitted on spectra that do match, would make that look sure. Only where the data
    # fill the compared k range: a shorter scan's score is lower for want of data, not of a match.
    floor = store.score_floor(measured.element) if processed.kmax >= K_RANGE[1] else float("nan")
    if found.score < floor:  # no E0 is better than another: the rule's stands (and autobk from a far one can take seconds)
        answer.e0_source, answer.e0_sharpness = "rule", None
        return processed, (
            f"its chi(k) matches none of the {measured.element} training spectra at any E0 from {found.offsets[0]:+.0f} to "
            f"{found.offsets[-1]:+.0f} eV (best correlation {found.score:.2f}; {100 - FLOOR_PERCENTILE:.0f} in 100 of the training "
            f"spectra match the others at {floor:.2f} or better): check the background removal and for another edge in the data"
        )
    if found.shift == 0:
        return processed, None
    try:
        return process(replace(measured, e0_shift=found.shift).to_spectrum(), settings), None
    except ProcessingError as exc:  # the shift left too little data above the edge
        answer.e0_source, answer.e0_sharpness = "rule", None
        answer.notes = (*answer.notes, f"E0 by the rule (from the profiled E0: {exc})")
        return processed, None


def _predict_element(element: str, pending: list[_Pending], store: ModelStore) -> list[Prediction]:
    """The CN of every pending spectrum of ``element``, in one call of each model."""
    saved = store.get(element)
    if any(item.answer.e0_source.startswith("profile") for item in pending):
        # Held here too, as the models are, so that the next batch's workers fork with it instead of
        # each computing it again (up to 0.07 s an element); where this process profiled, a cache hit.
        store.score_floor(element)
    settings = saved.processing
    probabilities = saved.estimator.predict_proba(np.stack([p.features for p in pending]))
    classes = [int(c) for c in saved.estimator.classes_]
    # The first shell before the class: the calibration weighs the bond length.
    for name, companion in store.companions(element).items():
        X = np.stack([p.companion_features[name] for p in pending])
        if name == NEIGHBOUR_MODEL:
            names = companion.metadata.get("neighbour_classes") or NEIGHBOUR_CLASSES
            labels = [str(names[int(c)]) for c in companion.estimator.classes_]
            for item, proba in zip(pending, companion.estimator.predict_proba(X)):
                item.answer.neighbour = labels[int(np.argmax(proba))]
                item.answer.neighbour_probabilities = {label: round(float(p), 4) for label, p in zip(labels, proba)}
            continue
        median, low, high = companion.estimator.predict_with_interval(X)
        for item, m, lo, hi in zip(pending, median, low, high):
            if name == AVERAGE_CN_MODEL:  # held to the class below, once the class is known
                item.answer.cn_mean_model, item.answer.cn_interval = float(m), (float(lo), float(hi))
            else:
                item.answer.r1, item.answer.r1_interval = float(m), (float(lo), float(hi))
    for item, proba in zip(pending, probabilities):
        answer = item.answer
        if store.calibration is not None:
            # The measured exponent was fitted on corpus scans, 221 of 234 of which fill the FT
            # window. On the corpus cut at 7/A it made the answers look sure (mean confidence 0.90,
            # right 0.67, 15 wrong at p >= 0.9); as trained they are 0.71 and 2. Data that end
            # before the window does keep the as-trained probabilities (docs/measured.md).
            if item.fills_window:
                proba = _calibrated(proba, classes, answer, store)
            else:
                answer.notes = (
                    *answer.notes,
                    f"measured calibration not applied: the data end at k = {answer.processed.kmax:.1f}/A, short of the "
                    f"{settings.kmax:g}/A of the scans it was fitted on",
                )
        answer.cn = classes[int(np.argmax(proba))]
        answer.probabilities = {str(c): round(float(p), 4) for c, p in zip(classes, proba)}
        if answer.cn_mean_model is not None:
            answer.cn_mean, answer.cn_interval = held_to_class(answer.cn_mean_model, answer.cn_interval, answer.cn)
            if answer.cn_mean != answer.cn_mean_model:
                answer.notes = (*answer.notes, f"mean CN held within 1 of the class (the average-CN model gave {answer.cn_mean_model:.1f})")
    return [item.answer for item in pending]


def _calibrated(proba: np.ndarray, classes: list[int], answer: Prediction, store: ModelStore) -> np.ndarray:
    """``proba`` under the measured calibration, with the pre-edge peak and the bond length as
    evidence; a note where the bond length turned the answer, or could not be weighed."""
    calibration = store.calibration
    without = calibration.apply(proba, classes, answer.pre_edge_height, answer.element)
    if not calibration.first_shell_weight:
        return without
    if store.bond_lengths is None:
        answer.notes = (*answer.notes, f"bond length not weighed (the models folder has no {BOND_LENGTHS_FILE})")
        return without
    bonds = bond_length_evidence(answer, classes, store.bond_lengths)
    weighed = calibration.apply(proba, classes, answer.pre_edge_height, answer.element, first_shell=bonds)
    before, after = classes[int(np.argmax(without))], classes[int(np.argmax(weighed))]
    if before != after:
        answer.notes = (*answer.notes, f"the first-shell distance (R1 {answer.r1:.2f} A) turned the answer from CN {before} to CN {after}")
    return weighed


def bond_length_evidence(answer: Prediction, classes: list[int], bond_lengths: BondLengths | None) -> np.ndarray | None:
    """The bond-length log-likelihood of each class for ``answer``'s first shell
    (:meth:`exafs_cn.models._bond_lengths.BondLengths.log_likelihoods`), or None where there is
    no first shell or no bond lengths to read it against."""
    if bond_lengths is None or answer.r1 is None or answer.r1_interval is None or not answer.neighbour_probabilities:
        return None
    return bond_lengths.log_likelihoods(answer.element, answer.r1, answer.r1_interval, answer.neighbour_probabilities, classes)


def _features(processed: Processed, saved: SavedModel, measured: MeasuredSpectrum) -> np.ndarray:
    """The model's inputs, computed as in its training; a spectrum that gives NaN is an error."""
    settings = saved.processing
    features = np.concatenate([f.featurize(processed) for f in featurizers_for(saved.feature_set, settings)])
    if not np.all(np.isfinite(features)):
        raise PredictError(f"{measured.where}: processing gave non-finite features")
    return features


def read_inputs(
    path: Path | str, element: str | None = None, columns: Columns = DEFAULT_COLUMNS, e0: E0Option | None = None
) -> list[MeasuredSpectrum | SpectrumFileError]:
    """The spectra of a file, each checked (with the user's E0 option), or the error in its place; never raises.

    A file that cannot be read at all is one SpectrumFileError in the list; an exception
    nobody foresaw becomes that file's error, so that the files after it are still read.
    """
    try:
        return [item if isinstance(item, SpectrumFileError) else item.with_e0(e0) for item in read_file(path, element, columns)]
    except SpectrumFileError as exc:
        return [SpectrumFileError(str(exc), exc.file or str(path), exc.group)]
    except Exception as exc:  # MemoryError and RecursionError too: they cost one file, not the batch
        return [SpectrumFileError(f"{path}: cannot be read ({unforeseen(exc)})", str(path))]


def predict_file(
    path: Path | str, store: ModelStore, element: str | None = None, columns: Columns = DEFAULT_COLUMNS, e0: E0Option | None = None
) -> list[Prediction | Failure]:
    """A Prediction or a Failure for every spectrum in a file (one Failure if it cannot be read)."""
    return predict_spectra(read_inputs(path, element, columns, e0), store)


def predict_files(
    paths: Iterable[Path | str],
    store: ModelStore,
    element: str | None = None,
    columns: Columns = DEFAULT_COLUMNS,
    e0: E0Option | None = None,
    workers: int = 1,
) -> list[Prediction | Failure]:
    """``predict_file`` for many files, with one model call per element for all of them
    (read and processed on ``workers`` processes where there are enough)."""
    return predict_spectra([FileInput(path, element, columns, e0) for path in paths], store, workers)


def unforeseen(exc: BaseException) -> str:
    """An unexpected exception in a few words, for a one-line error that asks to be reported."""
    name, detail = type(exc).__name__, one_line(exc, 100)
    return f"{name}; please report this" if detail == name else f"{name}: {detail}; please report this"

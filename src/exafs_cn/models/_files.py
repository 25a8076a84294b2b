"""Saved models as data, never code: arrays and JSON read back from an allow-list of classes.

A joblib or pickle file runs whatever its author put in it the moment it is loaded, and
model files are exactly what people hand each other. A model file here
(:mod:`exafs_cn.models._archive`) is a zip of ``model.json`` and numpy arrays; loading
builds only the classes in :data:`~exafs_cn.models._checks.ALLOWED_TYPES` (the dozen
our estimators are made of) and checks every tree before its first use
(:func:`~exafs_cn.models._checks.check_estimator`). A file that names any other class
is refused before anything in it is built, with one line naming the file and the class.

Every file records the element, model family, feature set, processing settings, CN
classes, the novelty check, the exafs-cn and scikit-learn versions and the training
metadata, and is checked on loading against the folder it was found in and the
model-format version (:data:`MODEL_FORMAT`), not the package release.
"""

from __future__ import annotations

import functools
from dataclasses import MISSING, dataclass, field
from pathlib import Path

import sklearn

from exafs_cn import __version__
from exafs_cn.atomic import write_atomic
from exafs_cn.exceptions import ModelFileError, one_line
from exafs_cn.models import _archive as model_archive
from exafs_cn.models._checks import ALLOWED_TYPES, CONSTRUCTOR_CHECKS, RENAMED_TYPES, ModelCheckError, check_estimator
from exafs_cn.models._names import NEIGHBOUR_MODEL
from exafs_cn.models._novelty import NoveltyCheck
from exafs_cn.settings import ProcessingSettings

#: Version of the saved-model layout, checked on loading instead of the package release:
#: a release that changes nothing in the models does not force retraining them. Bump it
#: when :class:`SavedModel`, the estimators' attributes or the processing a model expects
#: change. 3: arrays + JSON (:mod:`~exafs_cn.models._archive`); 2: skops files of 0.2.
MODEL_FORMAT = 3
MODEL_SUFFIX = ".model"
#: The suffix of exafs-cn 0.2's skops files, recognised to say what to do with one.
OLD_MODEL_SUFFIX = ".skops"


def model_path(models_dir: Path | str, element: str, model_name: str) -> Path:
    """Where the ``model_name`` model for ``element`` lives in a models folder."""
    return Path(models_dir) / element / f"{model_name}{MODEL_SUFFIX}"


@dataclass
class SavedModel:
    """A trained model with everything prediction needs to use it correctly."""

    element: str
    model_name: str
    feature_set: str
    settings: dict
    classes: list[int]
    estimator: object
    metadata: dict = field(default_factory=dict)
    novelty: dict | None = None
    format: int = MODEL_FORMAT
    package_version: str = __version__
    sklearn_version: str = sklearn.__version__

    @functools.cached_property
    def processing(self) -> ProcessingSettings:
        """``settings`` parsed (checked when the file was loaded; parsed once per model, not per spectrum)."""
        return ProcessingSettings.from_dict(self.settings)

    @functools.cached_property
    def novelty_check(self) -> NoveltyCheck | None:
        """``novelty`` parsed, or None where the model has no "no answer" check."""
        return None if self.novelty is None else NoveltyCheck.from_dict(self.novelty)

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file, then a rename), refusing classes we would not load."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_atomic(path, lambda tmp: model_archive.dump(self._as_dict(), tmp, ALLOWED_TYPES))
        except model_archive.ArchiveError as exc:
            raise ModelFileError(f"{path}: the model cannot be saved: {exc}") from None

    def _as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def load(cls, path: Path, element: str | None = None, *, estimator: bool = True) -> SavedModel:
        """The model in ``path``; ModelFileError (one line naming it) for anything else.

        ``element``: the absorber the folder it was found in is for; the file must agree.
        ``estimator=False``: every field but the estimator, which is neither decoded nor
        checked (None): what processing a spectrum for the model needs (its settings, feature
        set, "no answer" check), read from the file's description without its trees.
        """
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"{path}: no such model file" if not path.exists() else f"{path}: not a regular file")
        try:
            data = model_archive.load(path, ALLOWED_TYPES, CONSTRUCTOR_CHECKS, RENAMED_TYPES, skip=() if estimator else ("estimator",))
        except model_archive.NotAnArchiveError as exc:
            raise ModelFileError(f"{path}: not a readable exafs-cn model file ({exc}); delete it or retrain") from None
        except (model_archive.ArchiveError, ModelCheckError) as exc:
            raise ModelFileError(f"{path}: refused to load: {exc}") from None
        except ModuleNotFoundError as exc:  # the torch net without torch installed
            extra = "nn" if exc.name == "torch" else "boost" if exc.name == "lightgbm" else None
            remedy = f"pip install 'exafs-cn[{extra}]'" if extra else f"install {exc.name}"
            raise ModelFileError(f"{path}: this model needs {exc.name}, which is not installed: {remedy}") from None
        except (MemoryError, RecursionError) as exc:
            raise ModelFileError(f"{path}: cannot load the model ({_short(exc)}); delete it or retrain") from None
        if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ModelFileError(f"{path}: model file format {found} is not {MODEL_FORMAT}; retrain with `exafs-cn train`")
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if not estimator:
            fields["estimator"] = None  # left unread on purpose
        required = [name for name, f in cls.__dataclass_fields__.items() if f.default is MISSING and f.default_factory is MISSING]
        missing = [name for name in required if name not in fields]
        if missing:  # a hand-made file: one line, not the TypeError the constructor would raise
            raise ModelFileError(f"{path}: refused to load: it has no {', '.join(missing)}")
        saved = cls(**fields)
        if element is not None and saved.element != element:
            raise ModelFileError(f"{path}: holds a model for {saved.element}, not {element}")
        try:
            if estimator:
                check_estimator(saved.estimator)  # before the first prediction walks a tree
            _check_fields(saved)
        except ModelCheckError as exc:
            raise ModelFileError(f"{path}: refused to load: {exc}") from None
        if estimator:
            _check_calibration(saved.estimator, path)
        return saved


def _check_fields(saved: SavedModel) -> None:
    """The fields prediction reads beside the estimator, as types and values it can use."""
    if not all(isinstance(v, str) for v in (saved.element, saved.model_name, saved.feature_set, saved.package_version)):
        raise ModelCheckError("its element, model name, feature set or version is not text")
    if not isinstance(saved.settings, dict) or not isinstance(saved.metadata, dict):
        raise ModelCheckError("its settings or metadata are not a mapping")
    try:
        saved.processing, saved.novelty_check  # noqa: B018  (parsed once here: a bad value is this file's error)
        classes = getattr(saved.estimator, "classes_", None)
        same_classes = classes is None or [int(c) for c in classes] == [int(c) for c in saved.classes]
    except (TypeError, ValueError) as exc:
        raise ModelCheckError(f"unusable settings or classes ({one_line(exc, 100)})") from None
    if not same_classes:
        raise ModelCheckError(f"its estimator's classes are not the file's {saved.classes}")
    if saved.model_name == NEIGHBOUR_MODEL and saved.estimator is not None:  # its classes are the estimator's
        _check_neighbour_classes(saved)


def _check_neighbour_classes(saved: SavedModel) -> None:
    """A neighbour classifier's outputs are indices into its ``neighbour_classes`` names: every
    one must name a class, or each spectrum would fail on it later."""
    from exafs_cn.elements import NEIGHBOUR_CLASSES

    names = saved.metadata.get("neighbour_classes") or NEIGHBOUR_CLASSES
    if not isinstance(names, (list, tuple)) or not all(isinstance(name, str) for name in names):
        raise ModelCheckError("its neighbour_classes are not a list of names")
    outputs = getattr(saved.estimator, "classes_", None)
    try:
        indices = [int(c) for c in outputs] if outputs is not None else []
    except (TypeError, ValueError):
        raise ModelCheckError("its neighbour classifier's classes are not class numbers") from None
    if outputs is None or not all(0 <= i < len(names) and i == c for i, c in zip(indices, outputs)):
        raise ModelCheckError(
            f"its neighbour classifier gives classes {indices[:8]}, but its neighbour_classes name {len(names)} ({', '.join(names[:8])})"
        )


def _check_calibration(estimator, path: Path) -> None:
    """A calibrated classifier's exponent is a number in range: the archive rebuilds it as stored."""
    from exafs_cn.models._measured_calibration import CalibrationFileError, PowerCalibration
    from exafs_cn.models._power_calibrated import PowerCalibratedClassifier

    if isinstance(estimator, PowerCalibratedClassifier):
        try:
            PowerCalibration.from_dict({"exponent": getattr(estimator, "exponent_", None)}, str(path))
        except CalibrationFileError as exc:
            raise ModelFileError(f"{exc}; delete it or retrain") from None


def _short(exc: Exception) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:120]

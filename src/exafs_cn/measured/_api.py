"""``exafs_cn.predict``: the Python API of prediction, for files, Larch Groups and arrays.

It checks the options once, takes every input (files as ``predict.FileInput``, read where
they are processed; Groups and arrays checked as files are) and runs the same pipeline as ``exafs-cn predict``
(``pipeline.predict_batches``), all inputs in one batch: one model call per element.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exafs_cn.exceptions import OptionError, SpectrumFileError
from exafs_cn.measured._columns import DEFAULT_COLUMNS, Columns, energy_and_mu, group_arrays, guess_mu
from exafs_cn.measured._pipeline import predict_batches, s02_choice
from exafs_cn.measured._predict import DEFAULT_MODEL, FileInput, ModelStore, unforeseen
from exafs_cn.measured._prediction import Failure, Prediction
from exafs_cn.measured._readers import E0Option, MeasuredSpectrum, check_element_option, checked


def predict(
    source=None,
    element: str | None = None,
    *,
    energy: str | Sequence[float] | np.ndarray | None = None,
    mu: str | Sequence[float] | np.ndarray | None = None,
    model: str = DEFAULT_MODEL,
    models_dir: Path | str | None = None,
    name: str = "spectrum",
    e0: float | str | None = None,
    fit: bool = False,
    s02: float | None = None,
    foil: Path | str | None = None,
    workers: int = 1,
) -> list[Prediction | Failure]:
    """CN of measured spectra: a ``Prediction`` or a ``Failure`` per spectrum.

    Parameters
    ----------
    source : path, iterable of paths and groups, Larch Group, or None
        A file (XDI, Athena project, HDF5/NeXus, SPEC, ``.fio``, columns); any iterable of them (a list, a
        generator, ``Path.glob``), Larch Groups mixed in, predicted together (one model
        call per element) with one result per spectrum in the order given; a Larch Group
        with ``energy`` and ``mu`` arrays (or, as ``larch.io.read_xdi`` gives, ``energy``
        and the columns, from which mu is guessed as for a file); or None with ``energy``
        and ``mu`` given as arrays. Anything else (bytes, a dict, a number) is a Failure
        naming its type.
    element : str or int, optional
        The absorber (``"Cu"`` or ``29``) where the data do not say; with neither, the edge
        energy decides.
    energy, mu : str or array, optional
        With a file: the columns or expressions to use (as ``--energy``/``--mu``). Without
        one: 1-D arrays (eV, or keV converted as files are; absorption, any scale).
    model : str
        The CN classifier family (``"rf"``, as shipped; others as trained).
    models_dir : path, optional
        Models from ``exafs-cn train``; default ``$EXAFS_CN_MODELS``, else the shipped ones.
    name : str
        What arrays are called in messages.
    e0 : float or str, optional
        E0 in eV (``8980.5``, as set in Athena), or a shift from the E0 the model's rule finds,
        as text with its sign (``"+5"``, ``"-3.5"``); the E0 used is ``Prediction.e0``.
    fit : bool
        Also fit each answer's first shell with Larch (``Prediction.fit``, or
        ``Prediction.fit_error`` where it cannot be made; see ``exafs_cn.measured._fit``).
    s02 : float, optional
        S02 held fixed in the fits (default 0.9).
    foil : path, optional
        A metal foil of the spectra's element: the fits take S02 from a fit of it.
    workers : int
        Processes that read and process the spectra (forked from this one where the platform
        forks; a pool pays from about 8 spectra a worker). The models run in this process.

    Returns
    -------
    list of Prediction or Failure
        One per spectrum, in order (an Athena project gives one per group). A Prediction
        with ``cn`` None is "no answer" (its ``reason`` says why); a Failure is an input
        that could not be predicted (its ``error`` names it). Nothing is raised for bad
        input or options: a ``models_dir`` that is no folder, an unknown ``element`` or an
        unusable calibration file is a Failure for each input.

    Notes
    -----
    Safe to call from several threads at once (without ``fit``; the fits are not tested so):
    what Larch prints is caught per thread, ``sys.stdout`` is left as it was, and the X-ray data
    tables (xraydb's one SQLite connection) are read under a lock.

    Examples
    --------
    >>> import exafs_cn
    >>> (answer,) = exafs_cn.predict("tests/data/experimental/data__Cu__cu_metal_rt.xdi")
    >>> answer.element, answer.cn
    ('Cu', 12)
    >>> exafs_cn.predict("no-such-file.xdi")[0].error
    'no-such-file.xdi: no such file'
    """
    inputs = _inputs(source, energy, mu, name)
    try:
        element, e0_option, store = _options(models_dir, model, element, e0, energy, mu, inputs)
    except (SpectrumFileError, ValueError) as problem:  # no input can be predicted with these options
        return [Failure(where, None, f"{where}: {problem}") for where in (_label(item, name) for item in inputs)]
    spectra = _read_all(inputs, element, energy, mu, name, e0_option)
    if not fit:
        return _answers(spectra, store, None, workers)
    return _predicted_with_fits(spectra, store, s02, foil, workers)


def _answers(spectra: list, store: ModelStore, fits, workers: int) -> list[Prediction | Failure]:
    """Every input's answers from the pipeline, all inputs in one batch."""
    return [item for batch in predict_batches(spectra, store, fits, batch_size=None, workers=workers) for item in batch.results]


def _predicted_with_fits(spectra: list, store: ModelStore, s02: float | None, foil: Path | str | None, workers: int) -> list[Prediction | Failure]:
    """``predict(fit=True)``: the answers with their fits; a foil that gives no S02 is every fit's error."""
    from exafs_cn.measured._fit import FitError, ReferencePaths

    with ReferencePaths() as paths:
        try:
            choice = s02_choice(store, s02, foil, paths)
        except FitError as exc:
            results = _answers(spectra, store, None, workers)
            for item in results:
                if isinstance(item, Prediction):
                    item.fit_error = f"foil {exc}"
            return results
        return _answers(spectra, store, (choice, paths), workers)


#: Inputs that are iterable but are not a collection of inputs (each would be read as its items).
_NOT_COLLECTIONS = (bytes, bytearray, memoryview, Mapping)


def _inputs(source, energy, mu, name: str) -> list:
    """The inputs of ``predict``, one per answer-giving item: file names, Larch Groups, the
    arrays (None with ``energy`` and ``mu``), or what cannot be an input (its Failure later)."""
    if source is None or isinstance(source, (str, os.PathLike)) or _is_group(source):
        return [source]
    if isinstance(source, np.ndarray):
        return [_Refused(name, "an array: give it as energy= and mu= (arrays), or a file name")]
    if isinstance(source, _NOT_COLLECTIONS) or not isinstance(source, Iterable):
        kind = type(source).__name__
        return [_Refused(name, f"a {kind} is not an input: give a file name (str or Path), a list of them, a Larch Group, or energy and mu arrays")]
    return list(source)


@dataclass(frozen=True)
class _Refused:
    """An input that is not one, with why."""

    name: str
    reason: str


def _is_group(value) -> bool:
    """A Larch Group or any object with an ``energy`` array (a group from ``read_xdi``, ``read_ascii``)."""
    return not isinstance(value, (str, os.PathLike, np.ndarray)) and hasattr(value, "energy")


def _label(item, name: str) -> str:
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    if isinstance(item, _Refused):
        return item.name
    if _is_group(item):
        return str(getattr(item, "filename", None) or getattr(item, "groupname", None) or name)
    return name


def _options(models_dir, model: str, element, e0, energy, mu, inputs: list) -> tuple[str | None, E0Option | None, ModelStore]:
    """The checked element, E0 option and model store; ValueError saying why no input can be
    predicted with these options."""
    if models_dir is not None and not isinstance(models_dir, (str, os.PathLike)):
        raise OptionError(f"models_dir {models_dir!r:.40} is a {type(models_dir).__name__}, not a folder name (str or Path)")
    try:
        element = check_element_option(element, "element")
    except SpectrumFileError as exc:
        raise OptionError(str(exc).split(": ", 1)[1]) from None
    if any(isinstance(item, (str, os.PathLike)) for item in inputs) and not all(e is None or isinstance(e, str) for e in (energy, mu)):
        raise OptionError("with a file, energy and mu name its columns or expressions (text); give arrays without a file")
    e0_option = E0Option.parse(e0)
    store = ModelStore(models_dir, model)
    store.check()  # PredictError, a SpectrumFileError
    return element, e0_option, store


def _read_all(inputs: list, element, energy, mu, name: str, e0: E0Option | None) -> list[FileInput | list[MeasuredSpectrum | SpectrumFileError]]:
    """Every input in order: a file to read (with the E0 option), or a group's or the arrays'
    one spectrum checked, or the error in its place."""
    columns = Columns(energy=energy, mu=mu) if all(e is None or isinstance(e, str) for e in (energy, mu)) else DEFAULT_COLUMNS
    items: list[FileInput | list[MeasuredSpectrum | SpectrumFileError]] = []
    for index, item in enumerate(inputs):
        if isinstance(item, (str, os.PathLike)):
            items.append(FileInput(item, element, columns, e0))
        elif isinstance(item, _Refused):
            items.append([SpectrumFileError(f"{item.name}: {item.reason}", item.name)])
        elif item is None or _is_group(item):
            spectrum = _group_spectrum(item, element, energy, mu, name)
            items.append([spectrum if isinstance(spectrum, SpectrumFileError) else spectrum.with_e0(e0)])
        else:
            where = f"{name} {index + 1}" if len(inputs) > 1 else name
            kind = type(item).__name__
            items.append([SpectrumFileError(f"{where}: a {kind} is not an input: give a file name (str or Path) or a Larch Group", where)])
    return items


def _group_spectrum(group, element, energy, mu, name: str) -> MeasuredSpectrum | SpectrumFileError:
    """The spectrum of a Larch Group (its ``energy`` and ``mu``, or the columns of a group
    read by ``read_xdi``/``read_ascii``, guessed as for a file), or of ``energy`` and ``mu`` arrays."""
    stated, notes = None, ()
    try:
        if group is not None:
            name = _label(group, name)
            stated = getattr(group, "atsym", None) or getattr(group, "element", None)
            energy, mu = getattr(group, "energy", None), getattr(group, "mu", None)
            if mu is None:
                arrays = group_arrays(group)
                energy, mu = energy_and_mu(name, arrays, DEFAULT_COLUMNS)
                notes = (f"mu from the group's columns ({guess_mu(arrays)})",)
        if energy is None or mu is None:
            return SpectrumFileError(f"{name}: give a file, a Larch Group, or energy and mu arrays", name)
        return checked(name, name, None, energy, mu, stated and str(stated).capitalize(), element, notes)
    except SpectrumFileError as exc:
        return SpectrumFileError(str(exc), name)
    except Exception as exc:
        return SpectrumFileError(f"{name}: cannot be predicted ({unforeseen(exc)})", name)

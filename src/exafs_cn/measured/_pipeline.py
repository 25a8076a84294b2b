"""The prediction pipeline that ``exafs-cn predict`` and ``exafs_cn.predict`` both run.

Inputs arrive as files to read (``predict.FileInput``: read where they are processed, on
the pool's workers) or as the spectra of one input each, already read and checked (one
Larch Group, the arrays). They are read and processed in input order on one process pool
for the whole run (``predict.prepared_inputs``) and predicted in batches of whole inputs, so
that a file's answers never straddle two batches: one model call per element for each batch
(``predict.predict_prepared``), then, where asked for, the first-shell fit of each answer
(``fit.add_fits``) and its figure (``plot.write_figure``), while the pool goes on with the
inputs queued on it. The command line prints each batch as it comes; the Python API collects
them all into one list.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from exafs_cn.exceptions import SpectrumFileError
from exafs_cn.measured._predict import FileInput, ModelStore, predict_file, predict_prepared, prepared_inputs
from exafs_cn.measured._prediction import Failure, Prediction
from exafs_cn.measured._readers import MeasuredSpectrum

if TYPE_CHECKING:  # --fit's types: the fit module is imported only where a fit is asked for; matplotlib for figures
    from exafs_cn.measured._fit import ReferencePaths, S02Choice
    from exafs_cn.measured._plot import Figure, FigureNames

#: Spectra predicted together by the command line (one model call per element for each batch).
PREDICT_BATCH = 64


@dataclass(frozen=True)
class Batch:
    """The answers of some whole inputs, in order, how many inputs they answer, and where each
    answer's figure went (by its index in ``results``), where figures were asked for."""

    results: list[Prediction | Failure]
    inputs: int
    figures: dict[int, Figure] = field(default_factory=dict)


def predict_batches(
    inputs: Iterable[FileInput | list[MeasuredSpectrum | SpectrumFileError]],
    store: ModelStore,
    fits: tuple[S02Choice, ReferencePaths] | None = None,
    batch_size: int | None = PREDICT_BATCH,
    workers: int = 1,
    figures: FigureNames | None = None,
) -> Iterator[Batch]:
    """The answers of ``inputs`` (each the spectra of one input), batch by batch.

    Parameters
    ----------
    inputs : iterable of FileInput or lists
        Files to read, or an input's spectra (the errors in their place); taken lazily, one
        input at a time.
    store : ModelStore
        The models.
    fits : (S02Choice, ReferencePaths), optional
        Fit every answer's first shell with this S02 and these FEFF paths (``--fit``).
    batch_size : int or None
        Predict once at least this many spectra (each of a file's groups counted) are read and waiting, whole
        inputs only; None: all inputs in one batch.
    workers : int
        Processes that read the files and take the spectra into chi(R) and features
        (``prepared_inputs``: one pool for the whole run); the models run in this one.
    figures : FigureNames, optional
        Write each answer's figure into this folder (``plot.write_figure``).

    Yields
    ------
    Batch
        A batch's answers in input order, never part of an input's.

    Close the iterator (``contextlib.closing``) where it may be left before its end (a Ctrl-C
    while a batch is printed): its pool is then shut down at once.
    """
    waiting: list = []  # the prepared spectra of whole inputs, in order
    count = 0
    with closing(prepared_inputs(inputs, store, workers)) as prepared:
        for outcomes in prepared:
            waiting.extend(outcomes)
            count += 1
            if batch_size is not None and len(waiting) >= batch_size:
                yield _answered(waiting, count, store, fits, figures)
                waiting, count = [], 0
    if count:
        yield _answered(waiting, count, store, fits, figures)


def _answered(prepared: list, inputs: int, store: ModelStore, fits: tuple[S02Choice, ReferencePaths] | None, figures: FigureNames | None) -> Batch:
    results = predict_prepared(prepared, store)
    if fits is not None:
        from exafs_cn.measured._fit import add_fits  # Larch's fitting and pymatgen: only for --fit

        add_fits(results, *fits)
    written = {}
    if figures is not None:
        from exafs_cn.measured._plot import write_figure  # matplotlib: only for figures

        for index, item in enumerate(results):
            if isinstance(item, Prediction) and item.processed is not None:
                written[index] = write_figure(item, store.get(item.element), figures)
    return Batch(results, inputs, written)


def s02_choice(store: ModelStore, s02: float | None, foil: Path | str | None, paths: ReferencePaths) -> S02Choice:
    """The S02 of a run's fits: the default, ``s02`` as given, or fitted on the ``foil`` file
    (predicted here, with ``store``'s models: the fit module does not predict); FitError in
    one line where the foil gives none."""
    from exafs_cn.measured._fit import FitError, S02Choice, foil_s02  # Larch's fitting and pymatgen: only for --fit

    if foil is None:
        return S02Choice() if s02 is None else S02Choice(float(s02), "given")
    results = predict_file(foil, store)
    if len(results) != 1:
        raise FitError(f"{foil}: holds {len(results)} spectra; give a file of one")
    (answer,) = results
    if isinstance(answer, Failure):
        raise FitError(answer.error)
    return foil_s02(answer, paths)

"""The errors exafs-cn raises on purpose, under one base class.

Every expected problem (bad input, a damaged or refused file, a missing dataset, an
unreachable scheduler) is an ``ExafsCnError`` whose message is one line naming what
is wrong and where; the command line prints it as such and exits non-zero, and a caller
can catch the base class instead of a list. Each subclass also derives from the builtin
it has always been (``ValueError`` for bad values, ``RuntimeError`` for failed runs), so
code that caught those still does.

Examples
--------
>>> from exafs_cn.exceptions import ExafsCnError
>>> from exafs_cn.measured._readers import SpectrumFileError
>>> issubclass(SpectrumFileError, ExafsCnError) and issubclass(SpectrumFileError, ValueError)
True
"""

from __future__ import annotations


class ExafsCnError(Exception):
    """Base of every error exafs-cn raises on purpose; its message is one line."""


# Raised by exafs_cn.datagen._dataset.
class DatasetError(ExafsCnError, RuntimeError):
    """The dataset folder is missing, inconsistent, or from another source."""


# Raised by exafs_cn.feff.
class FeffError(ExafsCnError, RuntimeError):
    """FEFF did not produce a usable spectrum; the message is the recorded reason."""


# Raised by exafs_cn.datagen._fetch_mp.
class MPFetchError(ExafsCnError, RuntimeError):
    """No key, no network, or the API refused: nothing useful can be fetched."""


# Raised by exafs_cn.datagen._fit_references.
class ReferencesError(ExafsCnError, ValueError):
    """The reference table cannot be made or read; the message names the file."""


# Raised by exafs_cn.datagen._structures.
class StructureError(ExafsCnError, ValueError):
    """A structure could not be read or does not hold what was asked of it."""


# Raised by exafs_cn.examples.
class UnknownExampleError(ExafsCnError, ValueError):
    """A name that is not one of ``EXAMPLES``."""


# Raised by exafs_cn.features.
class ProcessingError(ExafsCnError, ValueError):
    """Larch could not turn this mu(E) into chi(k) with the given settings."""


# Raised by exafs_cn.features.
class ShortDataError(ProcessingError):
    """chi(k) ends below MIN_KMAX: a spectrum to leave unanswered, not a broken one."""


# Raised by exafs_cn.learn._models.
class MissingExtraError(ExafsCnError, ImportError):
    """A model family whose optional dependency is not installed; the message says how to get it."""


# Raised by exafs_cn.measured._athena.
class ProjectDataError(ExafsCnError, ValueError):
    """A line of a project that is not the data it should be (only that group is lost)."""


# Raised by exafs_cn.measured._expressions.
class ExpressionError(ExafsCnError, ValueError):
    """An expression refused or that cannot be evaluated; one line naming the file."""


# Raised by exafs_cn.measured._fit.
class FitError(ExafsCnError, RuntimeError):
    """The first-shell fit could not be made or did not converge; one line."""


# Raised by exafs_cn.measured._readers.
class SpectrumFileError(ExafsCnError, ValueError):
    """A file, or one group of it, that cannot give a usable spectrum; one line naming it."""

    def __init__(self, message: str, file: str = "", group: str | None = None):
        super().__init__(message)
        self.file = file
        self.group = group


# Raised by exafs_cn.models._archive.
class ArchiveError(ExafsCnError, ValueError):
    """What is wrong with an archive's content, without the file's name (the caller adds it)."""


# Raised by exafs_cn.models._checks.
class ModelCheckError(ExafsCnError, ValueError):
    """What is wrong with a model file's content, without the file's name (the caller adds it)."""


# Raised by exafs_cn.models._e0_references and exafs_cn.models._bond_lengths.
class ReferencesFileError(ExafsCnError, ValueError):
    """A file of references beside the models (E0 references, bond lengths) that cannot be used;
    one line naming it."""


# Raised by exafs_cn.models._files.
class ModelFileError(ExafsCnError, ValueError):
    """A model file that cannot or must not be used; the message is one line naming it."""


# Raised by exafs_cn.models._measured_calibration.
class CalibrationFileError(ExafsCnError, ValueError):
    """A calibration file that cannot be used; one line naming it."""


# Raised by exafs_cn.parallel.
class SchedulerError(ExafsCnError, RuntimeError):
    """The requested scheduler could not be started or reached."""


# Raised by exafs_cn.regular_files.
class NotRegularFileError(ExafsCnError, ValueError):
    """A path that is not a readable regular file of an acceptable size; the message is the reason
    only (the caller names the file, as it knows what the file was for). ``kind`` says which:
    ``missing``, ``folder``, ``special`` (a pipe, device or socket), ``too large`` or ``unreadable``."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


# Raised by exafs_cn.measured._predict.
class PredictError(SpectrumFileError):
    """No usable model for the element, or a spectrum the model cannot take; one line.

    A SpectrumFileError, so it names its file and group the same way.
    """


# Raised by exafs_cn.models._archive.
class NotAnArchiveError(ArchiveError):
    """The file is no model archive at all (empty, truncated, a pickle, another zip)."""


# Raised by exafs_cn.settings.
class SettingsError(ExafsCnError, ValueError):
    """Processing settings out of range, of an unknown name, or contradicting each other."""


# Raised where a name must be one of a known list (feature sets, model families, CV protocols).
class UnknownNameError(ExafsCnError, ValueError):
    """A name that is not one of those exafs-cn knows; the message lists them."""


# Raised by exafs_cn.measured._readers and exafs_cn.measured._predict for options given to predict.
class OptionError(ExafsCnError, ValueError):
    """An option's value (``--e0``, ``models_dir``, ``energy``/``mu`` beside a file) that cannot be used."""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as one line of at most ``limit`` characters, for the one-line errors."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:limit]


__all__ = ["ArchiveError", "CalibrationFileError", "DatasetError", "ExafsCnError", "ExpressionError", "FeffError", "FitError", "MPFetchError", "MissingExtraError", "ModelCheckError", "ModelFileError", "NotAnArchiveError", "NotRegularFileError", "OptionError", "PredictError", "ProcessingError", "ProjectDataError", "ReferencesError", "ReferencesFileError", "SchedulerError", "SettingsError", "ShortDataError", "SpectrumFileError", "StructureError", "UnknownExampleError", "UnknownNameError", "one_line"]

"""exafs-cn: coordination numbers of 3d transition-metal absorbers from K-edge EXAFS.

The supported Python surface is what ``__all__`` names:

- ``predict`` — the CN of measured spectra (files, Larch Groups or arrays), a
  ``Prediction`` or a ``Failure`` per spectrum;
- ``to_dataframe`` — a table of a series of them;
- ``fit_first_shell`` — a first-shell Larch fit started from a ``Prediction``, giving a
  ``FirstShellFit`` (or ``predict(..., fit=True)`` for all of them);
- ``example`` — the path of a measured spectrum the package carries (``example("cu-foil")``),
  to try ``predict`` on first;
- ``ExafsCnError`` — the base of every error exafs-cn raises on purpose.

Everything else (``exafs_cn.datagen``, ``exafs_cn.learn``, ``exafs_cn.measured``) is the
command line's machinery: importable, documented, but free to change between releases.

Names are imported on first use, so that ``import exafs_cn`` (and the command line's
start-up) does not load Larch and scikit-learn. ``__version__`` is looked up on first use
as well: the lookup scans the installed packages, and at start-up it would run before the
command line can turn a Ctrl-C into one line.
"""

from exafs_cn.exceptions import ExafsCnError
from exafs_cn.larch_home import prepare_larch_home

prepare_larch_home()  # before anything imports Larch: a missing or read-only home must not stop it

__all__ = ["ExafsCnError", "Failure", "FirstShellFit", "Prediction", "__version__", "example", "fit_first_shell", "predict", "to_dataframe"]

_LAZY = {
    "example": "exafs_cn.examples",
    "predict": "exafs_cn.measured._api",
    "Prediction": "exafs_cn.measured._prediction",
    "Failure": "exafs_cn.measured._prediction",
    "to_dataframe": "exafs_cn.measured._prediction",
    "fit_first_shell": "exafs_cn.measured._fit",
    "FirstShellFit": "exafs_cn.measured._prediction",
}


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("exafs-cn")
        except PackageNotFoundError:  # running from a source tree without installation
            found = "0.0.0+unknown"
        globals()["__version__"] = found
        return found
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'exafs_cn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

"""exafs-cn: coordination numbers of 3d transition-metal absorbers from K-edge EXAFS.

``exafs_cn.predict(...)`` gives the CN of measured spectra from a notebook (see
:func:`exafs_cn.measured.predict.predict`); it is imported on first use, so that
``import exafs_cn`` (and the command line's start-up) does not load Larch and
scikit-learn. ``__version__`` is looked up on first use as well: the lookup scans the
installed packages, and at start-up it would run before the command line can turn a
Ctrl-C into one line.
"""

__all__ = ["__version__", "predict"]


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("exafs-cn")
        except PackageNotFoundError:  # running from a source tree without installation
            found = "0.0.0+unknown"
        globals()["__version__"] = found
        return found
    if name == "predict":
        from exafs_cn.measured.predict import predict

        return predict
    raise AttributeError(f"module 'exafs_cn' has no attribute {name!r}")

"""exafs-cn: coordination numbers of 3d transition-metal absorbers from K-edge EXAFS.

``exafs_cn.predict(...)`` gives the CN of measured spectra from a notebook (see
:func:`exafs_cn.measured.predict.predict`); it is imported on first use, so that
``import exafs_cn`` (and the command line's start-up) does not load Larch and
scikit-learn.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("exafs-cn")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "predict"]


def __getattr__(name: str):
    if name == "predict":
        from exafs_cn.measured.predict import predict

        return predict
    raise AttributeError(f"module 'exafs_cn' has no attribute {name!r}")

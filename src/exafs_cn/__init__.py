"""exafs-cn: coordination numbers of 3d transition-metal absorbers from K-edge EXAFS."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("exafs-cn")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

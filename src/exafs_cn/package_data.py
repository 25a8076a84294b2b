"""Where the installed package keeps its data: ``exafs_cn/data`` (the shipped models, the example
spectra, the structure and reference-site tables; provenance in ``data/PROVENANCE.md``)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_data(*parts: str) -> Path:
    """``exafs_cn/data/<parts>`` in the installed package, as a file-system path.

    The package is installed as files (a wheel or an editable checkout, never a zip), so the
    resource is a real path that Larch, numpy and zipfile can open by name.
    """
    resource = files("exafs_cn") / "data"
    for part in parts:
        resource = resource / part
    return Path(str(resource))


__all__ = ["package_data"]

"""Measured spectra the package carries, to try ``predict`` on before one's own.

Five K-edge scans from the XAS Data Library (XraySpectroscopy/XASDataLibrary, a CC0-style
public-domain waiver; provenance in ``exafs_cn/data/PROVENANCE.md``), one per kind of
site the models tell apart. From the command line, ``exafs-cn examples`` lists them and
``exafs-cn predict --example cu-foil`` predicts one; from Python::

    import exafs_cn
    (answer,) = exafs_cn.predict(exafs_cn.example("cu-foil"))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exafs_cn.exceptions import UnknownExampleError
from exafs_cn.package_data import package_data


@dataclass(frozen=True)
class Example:
    """One example spectrum: its name, what it is and its textbook CN."""

    name: str
    file: str
    compound: str
    element: str
    textbook_cn: int

    @property
    def path(self) -> Path:
        """Where the installed package holds the file."""
        return package_data("examples", self.file)


#: Every example, by name.
EXAMPLES: dict[str, Example] = {
    e.name: e
    for e in (
        Example("cu-foil", "cu_metal_rt.xdi", "Cu metal foil (fcc), room temperature", "Cu", 12),
        Example("fe-foil", "Fe_metal_rt_01.xdi", "Fe metal foil (bcc), room temperature", "Fe", 8),
        Example("zno", "ZnO.xdi", "ZnO (wurtzite, tetrahedral Zn)", "Zn", 4),
        Example("k2cro4", "k2cro4_rt_001.xdi", "K2CrO4 (tetrahedral chromate)", "Cr", 4),
        Example("cr2o3", "cr2o3_ssrl4_1_rt_003.xdi", "Cr2O3 (corundum, octahedral Cr)", "Cr", 6),
    )
}


def example(name: str) -> Path:
    """The path of the example spectrum ``name`` (see ``EXAMPLES``).

    Parameters
    ----------
    name : str
        One of ``cu-foil``, ``fe-foil``, ``zno``, ``k2cro4``, ``cr2o3``.

    Returns
    -------
    Path
        The XDI file inside the installed package.

    Raises
    ------
    UnknownExampleError
        For any other name (the message lists the names).

    Examples
    --------
    >>> example("zno").name
    'ZnO.xdi'
    >>> example("ZnO").is_file()
    True
    """
    found = EXAMPLES.get(name.strip().lower())
    if found is None:
        raise UnknownExampleError(f"no example spectrum {name!r}; choose from {', '.join(EXAMPLES)}")
    return found.path

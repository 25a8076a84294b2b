"""The absorbers exafs-cn predicts for, apart from the code that needs pymatgen."""

from __future__ import annotations

#: The 3d transition metals, in order of atomic number.
METALS_3D: tuple[str, ...] = ("Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn")

__all__ = ["METALS_3D"]

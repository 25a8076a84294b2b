"""The absorbers exafs-cn predicts for, and the classes of their neighbours, apart from the code that needs pymatgen."""

from __future__ import annotations

#: The 3d transition metals, in order of atomic number.
METALS_3D: tuple[str, ...] = ("Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn")


#: Classes of first-shell neighbour elements, in the order models and reports use: EXAFS tells
#: backscatterers apart by their row of the periodic table and not much further
#: (``exafs_cn.datagen._first_shell.neighbour_class`` assigns them).
NEIGHBOUR_CLASSES = ("O", "S", "N", "halogen", "P", "C", "Se/As", "metal", "other")

__all__ = ["METALS_3D", "NEIGHBOUR_CLASSES"]

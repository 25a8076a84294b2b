"""The bundled reference sites a first-shell fit takes its FEFF path from, and the structures they are in.

``predict --fit`` (:mod:`exafs_cn.measured._fit`) reads both; ``exafs-cn dataset
fit-references`` writes the table from a dataset's first-shell labels
(:mod:`exafs_cn.datagen._fit_references`, which says which sites qualify).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd

from exafs_cn.elements import METALS_3D, NEIGHBOUR_CLASSES
from exafs_cn.exceptions import ReferencesError, one_line
from exafs_cn.package_data import package_data

REFERENCES_FILE = "fit_references.csv.gz"
COLUMNS = ("material_id", "absorber", "site_index", "cn", "neighbour", "neighbour_class", "r1", "r1_max")
#: The bundled Materials Project structures (CIF per material) the reference sites are in; the
#: dataset is labelled from the same table (:func:`exafs_cn.datagen.read_bundled`).
STRUCTURES_FILE = "mp_3d_structures.csv.gz"


def bundled_structures_path() -> Path:
    """The bundled structure table inside the installed package."""
    return package_data(STRUCTURES_FILE)


def shipped_references_path() -> Path:
    """The reference table inside the installed package."""
    return package_data(REFERENCES_FILE)


def read_references(path: Path | None = None) -> pd.DataFrame:
    """The reference table at ``path`` (default: the shipped one), checked column by column.

    Raises ReferencesError (one line naming the file) for a table that is not one.
    """
    path = path or shipped_references_path()
    try:
        with gzip.open(path, "rb") as handle:
            table = pd.read_csv(io.BytesIO(handle.read()), dtype={"material_id": str, "absorber": str, "neighbour": str})
    except (OSError, EOFError, ValueError, pd.errors.ParserError) as exc:
        raise ReferencesError(f"{path}: not a reference table ({one_line(exc, 120)})") from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ReferencesError(f"{path}: not a reference table (no column {', '.join(missing)})")
    numbers = table[["site_index", "cn", "r1", "r1_max"]].apply(pd.to_numeric, errors="coerce")
    if (
        not np.isfinite(numbers.to_numpy(float)).all()
        or (numbers[["site_index", "cn"]] < 0).any().any()
        or not table["absorber"].isin(METALS_3D).all()
        or not table["neighbour_class"].isin(NEIGHBOUR_CLASSES).all()
        or not ((numbers["r1"] > 0.5) & (numbers["r1"] < 5)).all()
    ):
        raise ReferencesError(f"{path}: not a reference table (values out of range)")
    table[["site_index", "cn"]] = numbers[["site_index", "cn"]].astype(int)
    return table


__all__ = ["COLUMNS", "REFERENCES_FILE", "STRUCTURES_FILE", "bundled_structures_path", "read_references", "shipped_references_path"]

"""The reference sites a first-shell fit takes its FEFF path from.

A first-shell fit (:mod:`exafs_cn.measured._fit`) needs FEFF's scattering path for the
absorber, the neighbour element and roughly the distance the fit is to find. The bundled
structures hold such paths: every labelled site whose CrystalNN first shell is one element,
all at one distance (spread under :data:`MAX_SPREAD`), is a reference. The table
(``fit_references.csv.gz`` in the package) is made from a dataset's first-shell labels by
``exafs-cn dataset fit-references``; the fit looks the structure up in the bundled
structure table and runs FEFF on that site.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd

from exafs_cn.atomic import write_atomic
from exafs_cn.datagen._dataset import Dataset
from exafs_cn.datagen._first_shell import neighbour_class
from exafs_cn.datagen._structures import BUNDLED_SOURCE
from exafs_cn.exceptions import ReferencesError
from exafs_cn.models._fit_references import COLUMNS

#: Largest population spread of a reference's first-shell distances (A): one FEFF path
#: (or a few within FEFF's own path tolerance) then stands for the whole shell.
MAX_SPREAD = 0.02


def reference_sites(first_shell: pd.DataFrame) -> pd.DataFrame:
    """The sites of a first-shell label table that can serve as a fit's reference.

    Parameters
    ----------
    first_shell : DataFrame
        Site rows as ``Dataset.first_shell()`` gives them (``neighbours`` a JSON object of
        element counts).

    Returns
    -------
    DataFrame
        One row per site whose first shell is a single element with an integer count and a
        spread under :data:`MAX_SPREAD`; columns :data:`COLUMNS`, sorted by absorber, material
        and site.

    Examples
    --------
    >>> table = pd.DataFrame({"material_id": ["mp-30", "mp-19009"], "absorber": ["Cu", "Ni"],
    ...     "site_index": [0, 0], "cn": [12.0, 6.0], "r1": [2.56, 2.09], "r1_std": [0.0, 0.05],
    ...     "r1_max": [2.56, 2.15], "neighbours": ['{"Cu": 12}', '{"O": 6}'], "reason": [None, None]})
    >>> reference_sites(table)[["material_id", "neighbour", "neighbour_class"]].values.tolist()
    [['mp-30', 'Cu', 'metal']]
    """
    usable = first_shell[first_shell["reason"].isna() & (first_shell["r1_std"] < MAX_SPREAD)].copy()
    counts = usable["neighbours"].map(json.loads)
    usable = usable[(counts.map(len) == 1).to_numpy() & (usable["cn"] % 1 == 0).to_numpy()]
    usable["neighbour"] = counts[usable.index].map(lambda c: next(iter(c)))
    usable["neighbour_class"] = usable["neighbour"].map(neighbour_class)
    usable["site_index"] = usable["site_index"].astype(int)
    usable["cn"] = usable["cn"].astype(int)
    table = usable[list(COLUMNS)].sort_values(["absorber", "material_id", "site_index"], kind="stable")
    return table.reset_index(drop=True)


def write_references(dataset: Dataset, out: Path) -> int:
    """Write the reference table of ``dataset`` (made from the bundled structures) to ``out``; return its rows."""
    if dataset.provenance().get("source") != BUNDLED_SOURCE:
        # The fit finds a reference's structure in the bundled table by its mp-id.
        raise ReferencesError(f"{dataset.root}: references need a dataset made from the bundled structures")
    table = reference_sites(dataset.first_shell())
    if table.empty:
        raise ReferencesError(f"{dataset.root}: no first-shell labels (run `exafs-cn dataset first-shell {dataset.root}`)")
    text = table.to_csv(index=False, float_format="%.4f").encode()
    data = gzip.compress(text, mtime=0)
    write_atomic(out, lambda tmp: tmp.write_bytes(data))  # mtime 0: the same table gives the same bytes
    return len(table)

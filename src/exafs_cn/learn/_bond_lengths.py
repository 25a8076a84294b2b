"""The bond lengths beside a models folder: the training pairs' first-shell distance by neighbour class and CN.

``predict`` turns the first-shell model's R1 into a likelihood of each CN class with them
(:class:`exafs_cn.models._bond_lengths.BondLengths`). They are the integer-CN (material,
absorber) pairs the models learn from, with the first shell of their labels (``pair_labels``:
R1 averaged over the pair's sites by multiplicity, the dominant neighbour class). ``train``
writes them beside every models folder; ``exafs-cn dataset bond-lengths`` for a folder made before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exafs_cn.datagen._dataset import Dataset
from exafs_cn.elements import NEIGHBOUR_CLASSES
from exafs_cn.learn._first_shell import pair_labels
from exafs_cn.models._bond_lengths import BOND_LENGTHS_FILE, BondLengths


def build_bond_lengths(dataset: Dataset) -> BondLengths:
    """The first shells of ``dataset``'s integer-CN pairs, per absorber element.

    Parameters
    ----------
    dataset : Dataset
        The training data, with its labels and first-shell labels.

    Returns
    -------
    BondLengths
    """
    shells = pair_labels(dataset)
    labels = dataset.labels()[["material_id", "absorber", "pair_cn", "pair_cn_is_integer"]].drop_duplicates(["material_id", "absorber"])
    pairs = shells.merge(labels[labels["pair_cn_is_integer"]], on=["material_id", "absorber"], how="inner")
    pairs = pairs[pairs["neighbour"].isin(NEIGHBOUR_CLASSES) & np.isfinite(pairs["r1"])]
    by_element = {}
    for element, group in pairs.groupby("absorber", sort=True):
        by_element[str(element)] = (
            group["r1"].to_numpy(float),
            group["neighbour"].map(NEIGHBOUR_CLASSES.index).to_numpy(int),
            group["pair_cn"].round().astype(int).to_numpy(),
        )
    return BondLengths(by_element)


def write_bond_lengths(dataset: Dataset, models_dir: Path) -> Path:
    """Build the bond lengths and write them beside the models (``bond_lengths.npz``)."""
    return build_bond_lengths(dataset).save(Path(models_dir) / BOND_LENGTHS_FILE)


__all__ = ["build_bond_lengths", "write_bond_lengths"]

"""Synthetic mixtures of pair spectra, for samples whose absorbers sit in more than one kind of site.

EXAFS is linear in the fraction of absorbers: a sample whose absorbers are split w_i
between environments i (two phases, a partly oxidised powder, a supported catalyst)
has mu(E) = sum w_i mu_i(E), and its average CN is sum w_i CN_i, just as a material's
inequivalent sites average by multiplicity (:func:`exafs_cn.datagen._dataset.weighted_spectrum`
does both). The weights are by absorber count, not by mass or volume.

Mixtures are made inside *blocks*: every pair of an element is put in one block by its
composition (as the grouped folds do), and a mixture only combines pairs of one block.
Cross-validating over the blocks then keeps a mixture and all its components on the
same side of every split: no test mixture has a component in training, and no training
mixture contains a test material.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from exafs_cn.datagen._dataset import weighted_spectrum
from exafs_cn.features import Spectrum

#: Metadata columns of a designed mixture.
MIXTURE_COLUMNS = ["absorber", "block", "components", "weights", "pair_cn", "material_id", "formula"]


@dataclass(frozen=True)
class MixtureDesign:
    """How many mixtures, of how many components.

    ``per_pair``: mixtures per pair spectrum of a block (0.5: a third of the training
    rows are mixtures, enough to teach in-between CNs without drowning the pure ones).
    ``components``: drawn uniformly from these counts; the weights from a flat
    Dirichlet, so any split of the absorbers is as likely as any other.
    """

    per_pair: float = 0.5
    components: tuple[int, ...] = (2, 3)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


DEFAULT_DESIGN = MixtureDesign()


def assign_blocks(absorber: np.ndarray, groups: np.ndarray, n_blocks: int, seed: int) -> np.ndarray:
    """Block of every pair: per element, shuffled GroupKFold over compositions.

    -1 for an element with fewer compositions than blocks (it cannot be split).
    """
    blocks = np.full(len(absorber), -1)
    for element in sorted(set(absorber)):
        rows = np.flatnonzero(absorber == element)
        if len(set(groups[rows])) < n_blocks:
            continue
        folds = GroupKFold(n_splits=n_blocks, shuffle=True, random_state=seed).split(rows, groups=groups[rows])
        for block, (_, test) in enumerate(folds):
            blocks[rows[test]] = block
    return blocks


def design_mixtures(
    meta: pd.DataFrame, blocks: np.ndarray, design: MixtureDesign = DEFAULT_DESIGN, seed: int = 0
) -> pd.DataFrame:
    """Mixtures of the pairs in ``meta`` (columns absorber, pair_cn, material_id, formula):
    components are row numbers of ``meta``, all from one block; CN = sum w_i CN_i.
    """
    rng = np.random.default_rng(seed)
    absorber, cn = meta["absorber"].to_numpy(), meta["pair_cn"].to_numpy(float)
    ids, formulas = meta["material_id"].to_numpy(), meta["formula"].to_numpy()
    rows: list[dict] = []
    for element in sorted(set(absorber)):
        for block in sorted(set(blocks[absorber == element]) - {-1}):
            members = np.flatnonzero((absorber == element) & (blocks == block))
            for _ in range(int(round(design.per_pair * len(members)))):
                n = min(int(rng.choice(design.components)), len(members))
                if n < 2:
                    break
                components = np.sort(rng.choice(members, n, replace=False))
                weights = rng.dirichlet(np.ones(n))
                rows.append(
                    {
                        "absorber": element,
                        "block": int(block),
                        "components": components.tolist(),
                        "weights": weights.tolist(),
                        "pair_cn": float(np.dot(weights, cn[components])),
                        "material_id": "mix:" + "+".join(ids[components]),
                        "formula": " + ".join(f"{w:.2f} {f}" for w, f in zip(weights, formulas[components])),
                    }
                )
    return pd.DataFrame(rows, columns=MIXTURE_COLUMNS)


def mixture_spectrum(spectra: Sequence[Spectrum], weights: Sequence[float], name: str = "") -> Spectrum:
    """mu(E) of absorbers split ``weights`` between ``spectra`` (FEFF's: edge step 1, E0 known).

    E0 is the weighted mean of the components', kept inside the data, as for a site average.
    """
    energy, mu, e0 = weighted_spectrum([s.energy for s in spectra], [s.mu for s in spectra], [s.e0 for s in spectra], weights)
    return Spectrum(energy, mu, spectra[0].absorber, e0=e0, edge_step=1.0, name=name)


def mixture_spectra(spectra: Sequence[Spectrum], mixtures: pd.DataFrame) -> list[Spectrum]:
    """The spectrum of every designed mixture, from the pair spectra its rows number."""
    return [
        mixture_spectrum([spectra[i] for i in row.components], row.weights, row.material_id)
        for row in mixtures.itertuples(index=False)
    ]

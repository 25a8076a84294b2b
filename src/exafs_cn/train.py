"""Final models: one per absorber element and model family, fitted on all the data.

Files land in ``<models_dir>/<element>/<model>.joblib`` with the feature set, the
processing settings and the CN classes they were trained on, where prediction looks
for them. The default folder is ``$EXAFS_CN_MODELS`` or ``./models``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from exafs_cn.corpus import pair_spectra
from exafs_cn.dataset import Dataset, now_iso
from exafs_cn.evaluate import DEFAULT_MIN_CLASS_COUNT, ElementData
from exafs_cn.features import featurize_many
from exafs_cn.models import SavedModel, make_model
from exafs_cn.settings import DEFAULT_SETTINGS, ProcessingSettings
from exafs_cn.structures import METALS_3D


def default_models_dir() -> Path:
    return Path(os.environ.get("EXAFS_CN_MODELS", "models"))


def model_path(models_dir: Path, element: str, model_name: str) -> Path:
    return Path(models_dir) / element / f"{model_name}.joblib"


def train_models(
    dataset: Dataset,
    models_dir: Path,
    *,
    model_names: Sequence[str] = ("rf",),
    feature_set: str = "r",
    elements: Sequence[str] = METALS_3D,
    settings: ProcessingSettings = DEFAULT_SETTINGS,
    preset: str = "fast",
    seed: int = 0,
    min_class_count: int = DEFAULT_MIN_CLASS_COUNT,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    log=print,
) -> list[Path]:
    meta, spectra = pair_spectra(dataset, preset, settings)
    wanted = np.isin(meta["absorber"].to_numpy(), list(elements))
    meta = meta[wanted].reset_index(drop=True)
    spectra = [s for s, keep in zip(spectra, wanted) if keep]
    matrices, _ = featurize_many(spectra, [feature_set], settings, workers=workers, scheduler=scheduler, progress=progress)
    X = matrices[feature_set]
    written = []
    for element in elements:
        mask = meta["absorber"].to_numpy() == element
        if not mask.any():
            log(f"{element}: no spectra; no model")
            continue
        data = ElementData.build(
            element,
            X[mask],
            meta.loc[mask, "pair_cn"].to_numpy(int),
            meta.loc[mask, "formula"].to_numpy(),
            meta.loc[mask, "material_id"].to_numpy(),
            min_class_count,
        )
        if len(data.classes) < 2:
            log(f"{element}: fewer than two CN classes with {min_class_count}+ spectra; no model")
            continue
        for name in model_names:
            estimator = make_model(name, random_state=seed, n_jobs=workers).fit(data.X, data.y)
            saved = SavedModel(
                element=element,
                model_name=name,
                feature_set=feature_set,
                settings=settings.to_dict(),
                classes=data.classes,
                estimator=estimator,
                metadata={
                    "trained": now_iso(),
                    "n_spectra": int(len(data.y)),
                    "dropped_classes": data.dropped_classes,
                    "dataset": str(dataset.root),
                    "preset": preset,
                    "seed": seed,
                },
            )
            path = model_path(models_dir, element, name)
            saved.save(path)
            written.append(path)
            log(f"{element}: {name} on {len(data.y)} spectra, CN classes {data.classes} -> {path}")
    return written

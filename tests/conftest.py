"""Shared fixtures: real structures from the bundled Materials Project set."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from exafs_cn.datagen._structures import StructureRecord, read_bundled

#: Optional dependencies behind the ``torch`` and ``lightgbm`` markers.
_OPTIONAL = {"torch": "torch", "lightgbm": "lightgbm"}


def pytest_collection_modifyitems(config, items):
    """Tests of a model family whose optional dependency is missing are skipped, saying which extra."""
    import importlib.util

    for item in items:
        for marker, module in _OPTIONAL.items():
            if item.get_closest_marker(marker) and importlib.util.find_spec(module) is None:
                extra = "nn" if module == "torch" else "boost"
                item.add_marker(pytest.mark.skip(reason=f"needs {module}: pip install 'exafs-cn[{extra}]'"))


#: Materials Project ids of the reference structures the tests use.
REFERENCE_IDS = {"Cu": "mp-30", "NiO": "mp-19009", "ZnO": "mp-2133", "Fe": "mp-13", "Fe3O4": "mp-19306", "NaZn13": "mp-950", "TiH2": "mp-24726"}


@pytest.fixture(scope="session")
def references() -> dict[str, StructureRecord]:
    records = {r.material_id: r for r in read_bundled()}
    return {name: records[mid] for name, mid in REFERENCE_IDS.items()}


@pytest.fixture(scope="session")
def structures(references) -> dict[str, Structure]:
    return {name: record.parse() for name, record in references.items()}


def write_cif_folder(folder: Path, references: dict[str, StructureRecord], names: list[str]) -> Path:
    """A folder of CIF files named by material id, as a user would have it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        record = references[name]
        (folder / f"{record.material_id}.cif").write_text(record.text)
    return folder


def names(dataset_folder: Path) -> dict[str, str]:
    """Content key -> file name(s), as simulate recorded them for a folder source."""
    from exafs_cn.datagen._dataset import Dataset

    return Dataset(dataset_folder).provenance()["structures"]


def key_of(dataset_folder: Path, file_name: str) -> str:
    """The content key simulate gave the structure in ``file_name``."""
    return next(key for key, name in names(dataset_folder).items() if file_name in name.split(", "))


@pytest.fixture()
def troublesome_folder(tmp_path, references) -> Path:
    """Good structures next to the three kinds of bad input a real run meets."""
    folder = write_cif_folder(tmp_path / "structures", references, ["Cu", "NiO"])
    (folder / "corrupt.cif").write_text("data_broken\n_cell_length_a 3.6\nthis is not a CIF loop\n")
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    nacl.to(filename=str(folder / "nacl.cif"))
    # Cu and O 0.05 A apart: pymatgen reads it, FEFF's potential module crashes.
    overlap = Structure(Lattice.cubic(4.0), ["Cu", "O"], [[0, 0, 0], [0.0125, 0, 0]])
    overlap.to(filename=str(folder / "overlap.cif"))
    return folder


REPO = Path(__file__).resolve().parents[1]
#: The fixed slice of the committed dataset the model tests use: its first two shards.
SLICE_PARTS = ("part-00000.parquet", "part-00001.parquet")


@pytest.fixture(scope="session")
def data_slice(tmp_path_factory) -> Path:
    """A dataset folder holding the first two committed shards of data/ (882 pairs)."""
    import shutil

    folder = tmp_path_factory.mktemp("slice")
    (folder / "spectra" / "fast").mkdir(parents=True)
    for name in ("labels.parquet", "label_failures.parquet", "provenance.json"):
        shutil.copy(REPO / "data" / name, folder / name)
    for name in SLICE_PARTS:
        shutil.copy(REPO / "data" / "spectra" / "fast" / name, folder / "spectra" / "fast" / name)
    shutil.copytree(REPO / "data" / "first_shell", folder / "first_shell")
    return folder


def _train_test_models(data_slice: Path, folder: Path, cache: Path, model_names: tuple[str, ...] | None = None) -> list[Path]:
    """Models for Ni, Fe and Cu trained on the data slice, small and fast (2 copies, 60 trees, one worker)."""
    from exafs_cn.datagen._dataset import Dataset
    from exafs_cn.learn._train import train_models

    names = {"model_names": model_names} if model_names else {}
    return train_models(
        Dataset(data_slice), folder, elements=("Ni", "Fe", "Cu"), augment_copies=2, n_estimators=60, cache_dir=cache,
        workers=1, progress=False, log=lambda m: None, **names,
    )  # fmt: skip


@pytest.fixture(scope="session")
def models(data_slice, tmp_path_factory) -> Path:
    """RF models for Ni, Fe and Cu trained (with augmentation, calibration, novelty check) on the data slice."""
    folder = tmp_path_factory.mktemp("models")
    written = _train_test_models(data_slice, folder, tmp_path_factory.mktemp("cache"))
    assert {p.parent.name for p in written} == {"Ni", "Fe", "Cu"}
    return folder


@pytest.fixture(scope="session")
def first_shell_models(models, data_slice, tmp_path_factory) -> Path:
    """The models folder above with first-shell models (r1, neighbour) for Ni, Fe and Cu added."""
    import shutil

    folder = tmp_path_factory.mktemp("first_shell_models") / "models"
    shutil.copytree(models, folder)
    written = _train_test_models(data_slice, folder, tmp_path_factory.mktemp("cache"), ("r1", "neighbour"))
    assert {p.stem for p in written} == {"r1", "neighbour"}
    return folder

"""Data that cannot be lost or spoiled: one writer per dataset, bounded structures, outputs checked first."""

from __future__ import annotations

import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import write_cif_folder
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from exafs_cn.cli import app
from exafs_cn.datagen._dataset import Dataset
from exafs_cn.datagen._simulate import simulate
from exafs_cn.learn._corpus import store_in_cache

runner = CliRunner()


def _errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def two_compositions(references, tmp_path_factory) -> Path:
    """A dataset of Cu and NiO: real FEFF spectra, too few compositions to train on."""
    source = write_cif_folder(tmp_path_factory.mktemp("cifs"), references, ["Cu", "NiO"])
    out = tmp_path_factory.mktemp("two") / "data"
    simulate(str(source), str(out), elements=["Cu", "Ni"], workers=2, progress=False)
    return out


def test_a_second_writer_of_a_dataset_is_refused_in_one_line(two_compositions, references, tmp_path):
    source = write_cif_folder(tmp_path / "cifs", references, ["Cu"])
    before = sorted(p.name for p in (two_compositions / "spectra" / "fast").iterdir())
    with Dataset(two_compositions).writer_lock():  # a run in progress
        result = runner.invoke(app, ["simulate", "--source", str(source), "--out", str(two_compositions), "--no-progress"])
    assert result.exit_code == 2 and len(_errors(result)) == 1, result.output
    assert "another exafs-cn run is writing this dataset" in _errors(result)[0] and str(two_compositions) in _errors(result)[0]
    assert sorted(p.name for p in (two_compositions / "spectra" / "fast").iterdir()) == before


def test_sites_stored_twice_are_read_once_with_a_note(two_compositions, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(two_compositions, copy)
    parts = sorted((copy / "spectra" / "fast").glob("part-*.parquet"))
    shutil.copy(parts[0], parts[0].with_name("part-09999.parquet"))  # what two runs at once left behind
    original, doubled = Dataset(two_compositions), Dataset(copy)
    assert len(doubled.pairs("fast")) == len(original.pairs("fast")) == 2
    assert doubled.duplicate_sites("fast") == len(original.sites("fast"))
    result = runner.invoke(app, ["dataset", "info", str(copy)])
    assert result.exit_code == 0 and "stored twice (two runs at once?) are read once" in result.stdout


def test_a_deleted_labels_file_is_one_line_not_zero_pairs(two_compositions, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(two_compositions, copy)
    (copy / "labels.parquet").unlink()
    result = runner.invoke(app, ["dataset", "info", str(copy)])
    assert result.exit_code == 2 and len(_errors(result)) == 1 and "labels.parquet: missing" in _errors(result)[0]


def test_training_on_too_few_compositions_is_one_line_per_element(two_compositions, tmp_path):
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(two_compositions),
            "--models-dir",
            str(tmp_path / "m"),
            "--models",
            "rf",
            "--workers",
            "1",
            "--no-progress",
        ],
    )
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "no model written" in _errors(result)[-1]


def test_outputs_are_checked_before_the_work(two_compositions, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    too_long = tmp_path / ("x" * 300)
    cases = [
        ["train", "--data", str(two_compositions), "--models-dir", str(a_file)],
        ["train", "--data", str(two_compositions), "--models-dir", str(a_file / "models")],
        ["reproduce", "--data", str(two_compositions), "--out", str(a_file)],
        ["simulate", "--out", str(too_long), "--limit", "1"],
    ]
    for args in cases:
        started = time.perf_counter()
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and len(_errors(result)) == 1, (args, result.output)
        assert "Traceback" not in result.output and time.perf_counter() - started < 10, args  # refused, not run
    assert a_file.read_text() == "keep me"


def test_an_unwritable_cache_costs_speed_not_the_run(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store_in_cache(Path("/dev/null/cache/features.npy"), lambda tmp: np.save(tmp, np.zeros(3)))
    assert len(caught) == 1 and "cannot be written" in str(caught[0].message)
    store_in_cache(tmp_path / "features.npy", lambda tmp: np.save(tmp, np.arange(3)))
    assert np.load(tmp_path / "features.npy").tolist() == [0, 1, 2] and not list(tmp_path.glob(".*"))


@pytest.mark.parametrize("a, message", [(3615.0, "cell length 3615 A"), (1e30, "cell length 1e+30 A")])
def test_a_structure_too_large_to_be_a_crystal_is_a_recorded_failure_not_a_hang(a, message, references, tmp_path):
    source = write_cif_folder(tmp_path / "cifs", references, ["Cu"])
    Structure(Lattice.cubic(a), ["Ni", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(source / "huge.cif"))
    started = time.perf_counter()
    simulate(str(source), str(tmp_path / "data"), elements=["Cu", "Ni"], workers=1, progress=False)
    assert time.perf_counter() - started < 30
    data = Dataset(tmp_path / "data")
    reasons = list(data.label_failures()["reason"])
    assert any(message in reason for reason in reasons), reasons
    assert list(data.sites("fast")["absorber"]) == ["Cu"]  # the good structure beside it was simulated

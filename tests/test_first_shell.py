"""First-shell labels: hand-computed structures, pair averages, and the pass over a real dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_cif_folder
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from exafs_cn.cli import app
from exafs_cn.datagen._dataset import Dataset
from exafs_cn.datagen._first_shell import class_shares, dominant_class, neighbour_class, pair_first_shell, site_first_shell
from exafs_cn.learn._first_shell import pair_labels

runner = CliRunner()


def test_rocksalt_nio_has_six_oxygens_at_a_over_two():
    a = 4.177  # NiO at room temperature
    nio = Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Ni", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    shell = site_first_shell(nio, 0)
    assert shell["cn"] == 6 and shell["neighbours"] == {"O": 6}
    assert shell["r1"] == pytest.approx(a / 2, abs=1e-4) == pytest.approx(2.09, abs=0.005)
    assert shell["r1_std"] == pytest.approx(0, abs=1e-9)


def test_fcc_copper_has_twelve_coppers_at_a_over_root_two():
    a = 3.615
    cu = Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Cu"], [[0, 0, 0]])
    shell = site_first_shell(cu, 0)
    assert shell["cn"] == 12 and shell["neighbours"] == {"Cu": 12}
    assert shell["r1"] == pytest.approx(a / np.sqrt(2), abs=1e-4) == pytest.approx(2.556, abs=0.005)


def test_pair_averages_weigh_sites_by_multiplicity():
    """Magnetite-like: one site of 4 O at 1.89 A, two of 6 O at 2.06 A."""
    tetra = {"r1": 1.89, "r1_std": 0.0, "neighbours": {"O": 4}}
    octa = {"r1": 2.06, "r1_std": 0.01, "neighbours": {"O": 6}}
    pair = pair_first_shell([tetra, octa], [1, 2])
    assert pair["r1"] == pytest.approx((1.89 + 2 * 2.06) / 3)
    mean = pair["r1"]
    assert pair["r1_std"] == pytest.approx(np.sqrt(((1.89 - mean) ** 2 + 2 * (0.01**2 + (2.06 - mean) ** 2)) / 3))
    assert pair["neighbours"] == {"O": pytest.approx((4 + 2 * 6) / 3)}


def test_neighbour_classes():
    assert class_shares({"O": 4, "Cl": 2}) == {"O": pytest.approx(2 / 3), "halogen": pytest.approx(1 / 3)}
    assert dominant_class({"S": 3, "Fe": 3}) == "S"  # a tie goes to the first class in the list
    assert neighbour_class("Se") == neighbour_class("As") == "Se/As"
    assert neighbour_class("Si") == "other"


def test_simulate_labels_first_shells_and_the_pass_resumes(references, tmp_path):
    folder = write_cif_folder(tmp_path / "structures", references, ["Cu", "NiO"])
    out = tmp_path / "dataset"
    result = runner.invoke(app, ["simulate", "--source", str(folder), "--out", str(out), "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    dataset = Dataset(out)
    table = dataset.first_shell()
    labels = dataset.labels()
    assert len(table) == len(labels) and table["reason"].isna().all()
    merged = labels.merge(table, on=["material_id", "absorber", "site_index"], suffixes=("", "_shell"))
    assert (merged["cn"] == merged["cn_shell"]).all()  # the same neighbours that give the CN
    nickel = merged[merged["absorber"] == "Ni"].iloc[0]
    assert json.loads(nickel["neighbours"]) == {"O": 6} and 2.0 < nickel["r1"] < 2.2  # MP's PBE cell runs long
    pairs = pair_labels(dataset).set_index("absorber")
    assert pairs.loc["Ni", "neighbour"] == "O" and pairs.loc["Cu", "neighbour"] == "metal"
    assert "first_shell" in dataset.provenance()

    for part in dataset.first_shell_dir.glob("part-*.parquet"):
        part.unlink()  # as if the pass had never run: the command makes the same rows again
    again = runner.invoke(app, ["dataset", "first-shell", str(out), "--workers", "1", "--no-progress"])
    assert again.exit_code == 0, again.output
    assert f"{len(labels)} sites labelled now" in again.stdout
    assert dataset.first_shell().drop(columns="reason").equals(table.drop(columns="reason"))
    done = runner.invoke(app, ["dataset", "first-shell", str(out), "--workers", "1", "--no-progress"])
    assert done.exit_code == 0 and "0 sites labelled now" in done.stdout


def test_the_pass_reads_every_folder_a_dataset_was_simulated_from(references, tmp_path):
    out = tmp_path / "dataset"
    for name in ("Cu", "NiO"):  # two simulate runs, each from its own folder, into one dataset
        folder = write_cif_folder(tmp_path / name, references, [name])
        result = runner.invoke(app, ["simulate", "--source", str(folder), "--out", str(out), "--workers", "1", "--no-progress"])
        assert result.exit_code == 0, result.output
    dataset = Dataset(out)
    labels = dataset.labels()
    assert set(labels["absorber"]) >= {"Cu", "Ni"}
    for part in dataset.first_shell_dir.glob("part-*.parquet"):
        part.unlink()
    again = runner.invoke(app, ["dataset", "first-shell", str(out), "--workers", "1", "--no-progress"])
    assert again.exit_code == 0 and f"{len(labels)} sites labelled now" in again.stdout, again.output


MEASURED = Path(__file__).parent / "data" / "experimental"
CU = MEASURED / "data__Cu__cu_metal_rt.xdi"
NIO = MEASURED / "examples__xafsdata__AthenaProjectFiles__NiO__NiO.000.dat"


def test_first_shell_models_report_held_out_coverage_and_answer_measured_spectra(first_shell_models):
    from exafs_cn.models._files import SavedModel

    r1 = SavedModel.load(first_shell_models / "Ni" / "r1.model", element="Ni")
    holdout = r1.metadata["holdout"]
    # The 90% interval on compositions the model never saw (one grouped fold of the slice).
    assert 0.8 <= holdout["coverage_90_clean"] <= 1.0 and holdout["n_clean"] >= 20
    assert holdout["mae_r1_clean"] < 0.15
    neighbour = SavedModel.load(first_shell_models / "Ni" / "neighbour.model", element="Ni")
    assert neighbour.metadata["holdout"]["accuracy_clean"] > 0.5

    result = runner.invoke(app, ["predict", str(CU), str(NIO), "--models-dir", str(first_shell_models), "--json"])
    assert result.exit_code == 0, result.output
    for answer in map(json.loads, result.stdout.splitlines()):
        low, high = answer["r1_interval"]
        assert low <= answer["r1"] <= high and 1.5 < answer["r1"] < 3.5
        assert sum(answer["neighbour_probabilities"].values()) == pytest.approx(1, abs=1e-3)
        assert answer["neighbour"] in answer["neighbour_probabilities"]


def test_shipped_first_shell_models_on_measured_spectra(monkeypatch, tmp_path):
    """The models that ship: a Cu foil has metal neighbours at ~2.55 A, NiO oxygens at ~2.09 A."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EXAFS_CN_MODELS", raising=False)
    result = runner.invoke(app, ["predict", str(CU), str(NIO), "--json"])
    assert result.exit_code == 0, result.output
    cu, ni = (json.loads(line) for line in result.stdout.splitlines())
    assert cu["neighbour"] == "metal" and abs(cu["r1"] - 2.55) < 0.1
    assert ni["neighbour"] == "O" and abs(ni["r1"] - 2.09) < 0.1
    text = runner.invoke(app, ["predict", str(NIO)]).stdout
    assert "first shell: R1 " in text and "neighbour O (p " in text


def test_without_first_shell_models_the_fields_are_empty(models):
    result = runner.invoke(app, ["predict", str(CU), "--models-dir", str(models), "--json"])
    answer = json.loads(result.stdout)
    assert answer["r1"] is None and answer["r1_interval"] is None and answer["neighbour"] is None

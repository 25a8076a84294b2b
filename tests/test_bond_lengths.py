"""The bond lengths beside the models: built from the bundled dataset, read safely, and weighed on real spectra.

The first-shell model's R1 is read against the training pairs' first-shell distances
(``bond_lengths.npz``) as a likelihood of each CN class, which the measured calibration weighs.
On the corpus it turns the octahedral aqueous Zn2+ scans that EXAFS amplitude alone read as
tetrahedral (R1 ~2.10 A: an octahedron's Zn-O) and leaves tetrahedral ZnO (~2.0 A) alone.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import exafs_cn
from exafs_cn.cli import app
from exafs_cn.datagen import Dataset
from exafs_cn.elements import NEIGHBOUR_CLASSES
from exafs_cn.exceptions import ReferencesFileError
from exafs_cn.learn import build_bond_lengths
from exafs_cn.measured import ModelStore, bond_length_evidence, predict_files, shipped_models_dir
from exafs_cn.models import BOND_LENGTHS_FILE, DENSITY_FLOOR, BondLengths, CalibrationFileError, PowerCalibration

REPO = Path(__file__).resolve().parents[1]
MEASURED = Path(__file__).parent / "data" / "experimental"
AQUEOUS_ZN = MEASURED / "examples__xafsdata__AthenaProjectFiles__zn_solution__09BM_znsoln.001.dat"
ZNO = MEASURED / "data__Zn__ZnO.xdi"
CU = MEASURED / "data__Cu__cu_metal_rt.xdi"
runner = CliRunner()


@pytest.fixture(scope="module")
def shipped() -> BondLengths:
    return BondLengths.load(shipped_models_dir() / BOND_LENGTHS_FILE)


def test_the_shipped_file_is_the_bundled_datasets_pairs(shipped):
    """Regenerable: a fresh build from data/ (``exafs-cn dataset bond-lengths``) holds the same pairs."""
    fresh = build_bond_lengths(Dataset(REPO / "data"))
    assert set(fresh.by_element) == set(shipped.by_element) == {"Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn"}
    for element, (distances, neighbours, cns) in fresh.by_element.items():
        stored = shipped.by_element[element]
        np.testing.assert_allclose(stored[0], distances, atol=1e-5)  # stored as float32
        assert np.array_equal(stored[1], neighbours) and np.array_equal(stored[2], cns)


def test_the_training_pairs_hold_shannons_trend(shipped):
    """Zn-O and Cr-O bonds lengthen with the CN, by a tenth of an Angstrom and more from 4 to 6."""
    oxygen = NEIGHBOUR_CLASSES.index("O")
    for element in ("Zn", "Cr"):
        distances, neighbours, cns = shipped.by_element[element]
        median = {cn: np.median(distances[(neighbours == oxygen) & (cns == cn)]) for cn in (4, 6)}
        assert median[6] - median[4] > 0.1, (element, median)


def test_an_octahedral_zn_o_bond_favours_cn_6_and_a_tetrahedral_one_cn_4(shipped):
    classes = [4, 5, 6]
    octahedral = shipped.log_likelihoods("Zn", 2.11, (2.03, 2.19), {"O": 1.0}, classes)
    tetrahedral = shipped.log_likelihoods("Zn", 1.98, (1.91, 2.06), {"O": 1.0}, classes)
    assert octahedral[2] - octahedral[0] > 1.5 and tetrahedral[0] - tetrahedral[2] > 1.5, (octahedral, tetrahedral)
    # A wide interval says little: the R1 model is unsure of permanganate-like bonds.
    unsure = shipped.log_likelihoods("Zn", 2.11, (1.6, 2.6), {"O": 1.0}, classes)
    assert np.ptp(unsure) < np.ptp(octahedral)


def test_a_class_no_training_pair_has_is_floored_not_impossible(shipped):
    logl = shipped.log_likelihoods("Zn", 2.1, (2.0, 2.2), {"O": 1.0}, [4, 6, 31])
    assert logl[2] == pytest.approx(np.log(DENSITY_FLOOR))
    assert shipped.log_likelihoods("Hg", 2.1, (2.0, 2.2), {"O": 1.0}, [4, 6]) is None


def test_written_and_read_back_unchanged(shipped, tmp_path):
    path = shipped.save(tmp_path / BOND_LENGTHS_FILE)
    again = BondLengths.load(path)
    for element, arrays in shipped.by_element.items():
        for stored, read in zip(arrays, again.by_element[element]):
            assert np.array_equal(stored, read)


def _npz(path: Path, **arrays) -> Path:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"neighbour_classes": np.array(NEIGHBOUR_CLASSES), "r1_Zn": np.array([2.0]), "neighbour_Zn": np.array([0]), "cn_Zn": np.array([40])}, "CNs (1-32)"),
        ({"neighbour_classes": np.array(NEIGHBOUR_CLASSES), "r1_Zn": np.array([20.0]), "neighbour_Zn": np.array([0]), "cn_Zn": np.array([4])}, "0.5-5 A"),
        ({"neighbour_classes": np.array(NEIGHBOUR_CLASSES), "r1_Zn": np.array([2.0]), "neighbour_Zn": np.array([9]), "cn_Zn": np.array([4])}, "neighbour classes"),
        ({"neighbour_classes": np.array(["O", "S"]), "r1_Zn": np.array([2.0]), "neighbour_Zn": np.array([0]), "cn_Zn": np.array([4])}, "not this release's"),
        ({"neighbour_classes": np.array(NEIGHBOUR_CLASSES), "r1_Zn": np.array([2.0])}, "unusable bond-lengths file"),
        # An object array would unpickle on reading: refused, never run.
        ({"neighbour_classes": np.array(NEIGHBOUR_CLASSES), "r1_Zn": np.array([{"tofile": 1}], dtype=object)}, "unusable bond-lengths file"),
    ],
)
def test_a_crafted_file_is_one_line_naming_it(tmp_path, arrays, message):
    path = _npz(tmp_path / BOND_LENGTHS_FILE, **arrays)
    with pytest.raises(ReferencesFileError) as error:
        BondLengths.load(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value) and "\n" not in str(error.value)


def test_a_file_that_is_no_archive_is_said_once_by_predict(tmp_path):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(shipped_models_dir() / "Cu", models / "Cu")
    shutil.copy(shipped_models_dir() / "measured_calibration.json", models)  # it weighs the bond lengths
    (models / BOND_LENGTHS_FILE).write_bytes(b"PK\x03\x04 not a zip")
    result = runner.invoke(app, ["predict", str(CU), "--models-dir", str(models)])
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(errors) == 1 and "bond_lengths.npz: unusable bond-lengths file" in errors[0]


def test_a_calibration_file_with_an_unusable_bond_length_weight_is_refused():
    for weight in ("1", -1.0, 1000.0, True):
        with pytest.raises(CalibrationFileError, match="first_shell_weight"):
            PowerCalibration.from_dict({"exponent": 3.0, "first_shell_weight": weight})
    again = PowerCalibration.from_dict(PowerCalibration(3.0, pre_edge_weight=10.0, first_shell_weight=1.5).to_dict())
    assert again.first_shell_weight == 1.5


@pytest.fixture(scope="module")
def zinc() -> dict:
    """The aqueous Zn2+ and ZnO spectra as the forest gives them (no measured calibration)."""
    store = ModelStore(measured_calibration=False)
    aqueous, oxide = predict_files([AQUEOUS_ZN, ZNO], store)
    return {"aqueous": aqueous, "ZnO": oxide}


@pytest.mark.parametrize("name, textbook", [("aqueous", 6), ("ZnO", 4)])
def test_the_bond_length_turns_aqueous_zinc_octahedral_and_leaves_zno_tetrahedral(zinc, shipped, name, textbook):
    """Real corpus scans, the shipped calibration applied with and without its bond-length term."""
    answer = zinc[name]
    calibration = PowerCalibration.load(shipped_models_dir() / "measured_calibration.json")
    assert calibration.first_shell_weight > 0
    classes = [int(c) for c in answer.probabilities]
    raw = np.array(list(answer.probabilities.values()))
    evidence = bond_length_evidence(answer, classes, shipped)
    weighed = calibration.apply(raw, classes, answer.pre_edge_height, "Zn", first_shell=evidence)
    assert classes[int(np.argmax(weighed))] == textbook, (answer.r1, dict(zip(classes, weighed.round(2))))
    if name == "aqueous":  # without the bond length, the amplitude's answer: tetrahedral
        alone = calibration.apply(raw, classes, answer.pre_edge_height, "Zn")
        assert classes[int(np.argmax(alone))] == 4
        assert answer.r1 > 2.05


def test_predict_weighs_the_bond_length_as_shipped_and_says_where_it_turned_the_answer():
    (answer,) = exafs_cn.predict(str(AQUEOUS_ZN))
    assert answer.cn == 6 and answer.r1 > 2.05, answer.to_text()
    assert f"the first-shell distance (R1 {answer.r1:.2f} A) turned the answer from CN 4 to CN 6" in answer.notes


def test_a_models_folder_without_bond_lengths_answers_without_them_and_says_so(tmp_path):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(shipped_models_dir() / "Zn", models / "Zn")
    for name in ("measured_calibration.json", "e0_references.npz"):
        shutil.copy(shipped_models_dir() / name, models)
    (answer,) = exafs_cn.predict(str(AQUEOUS_ZN), models_dir=models)
    assert answer.cn == 4 and "bond length not weighed (the models folder has no bond_lengths.npz)" in answer.notes

"""One story on measured spectra of each kind of site: the class is the textbook CN and the mean CN agrees with it.

Real corpus spectra (``tests/data/experimental``), the shipped models and the shipped
measured calibration, as a user runs them: a tetrahedral chromate (EXAFS alone tells it)
and permanganate (the pre-edge peak tells it), linear Cu2O, octahedral Cr2O3 and two
metal foils (hcp Zn, whose mean CN the average-CN model puts at ~9).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import exafs_cn
from exafs_cn.measured._predict import shipped_models_dir
from exafs_cn.models._measured_calibration import CALIBRATION_FILE, PowerCalibration

MEASURED = Path(__file__).parent / "data" / "experimental"
SITES = {
    "tetrahedral K2CrO4": ("data__Cr__k2cro4_rt_001.xdi", 4),
    "tetrahedral KMnO4": ("examples__xafsdata__AthenaProjectFiles__Mn_all__KMnO4.102.dat", 4),
    "linear Cu2O": ("examples__xafsdata__AthenaProjectFiles__athena4__cu_cuprite.001.dat", 2),
    "octahedral Cr2O3": ("data__Cr__cr2o3_ssrl4_1_rt_003.xdi", 6),
    "hcp Zn foil": ("data__Zn__Zn_foil.xdi", 12),
    "fcc Cu foil": ("data__Cu__cu_metal_rt.xdi", 12),
}


@pytest.fixture(scope="module")
def answers() -> dict[str, exafs_cn.Prediction]:
    results = exafs_cn.predict([str(MEASURED / file) for file, _ in SITES.values()])
    return dict(zip(SITES, results))


@pytest.mark.parametrize("site", SITES)
def test_the_class_is_the_textbook_cn_and_the_mean_agrees(answers, site):
    answer, (_, textbook) = answers[site], SITES[site]
    assert answer.cn == textbook, answer.to_text()
    assert abs(answer.cn_mean - answer.cn) <= 1.0, answer.to_text()
    low, high = answer.cn_interval
    assert low <= answer.cn_mean <= high


def test_where_the_mean_cn_model_parts_from_the_class_the_mean_is_held_and_the_note_says_so(answers):
    zinc = answers["hcp Zn foil"]
    assert zinc.cn_mean_model < 11.0  # the average-CN model alone: ~9 for hcp Zn
    assert zinc.cn_mean == 11.0
    assert any("held within 1 of the class" in note and f"{zinc.cn_mean_model:.1f}" in note for note in zinc.notes)
    assert zinc.to_dict()["cn_mean_model"] == round(zinc.cn_mean_model, 2)
    chromia = answers["octahedral Cr2O3"]  # the two agree: nothing held
    assert chromia.cn_mean == chromia.cn_mean_model == 6.0 and not any("held" in note for note in chromia.notes)


def test_the_pre_edge_peak_is_measured_tall_where_the_site_has_no_centre_of_inversion(answers):
    assert answers["tetrahedral KMnO4"].pre_edge_height > 0.4
    assert answers["tetrahedral K2CrO4"].pre_edge_height > 0.4
    assert answers["octahedral Cr2O3"].pre_edge_height < 0.2
    assert answers["tetrahedral KMnO4"].to_dict()["pre_edge_height"] == round(answers["tetrahedral KMnO4"].pre_edge_height, 3)


def test_the_pre_edge_weight_is_what_turns_permanganate_to_cn_4(tmp_path):
    """KMnO4's chi(R) looks octahedral to the forest; the shipped calibration's pre-edge term turns it."""
    shipped = PowerCalibration.load(shipped_models_dir() / CALIBRATION_FILE)
    assert shipped.pre_edge_weight > 0
    folder = tmp_path / "models"
    shutil.copytree(shipped_models_dir(), folder)
    PowerCalibration(shipped.exponent, {"test": "no pre-edge term"}).save(folder / CALIBRATION_FILE)
    (without,) = exafs_cn.predict(str(MEASURED / SITES["tetrahedral KMnO4"][0]), models_dir=folder)
    assert without.cn == 6

"""``--e0`` and ``e0=``: the user's E0 (an energy, or a shift from the rule's) is the one used and reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import exafs_cn
from exafs_cn.cli import app

MEASURED = Path(__file__).parent / "data" / "experimental"
CU = MEASURED / "data__Cu__cu_metal_rt.xdi"
NIO = MEASURED / "examples__xafsdata__AthenaProjectFiles__NiO__NiO.000.dat"
runner = CliRunner()


def _json(*args: str) -> list[dict]:
    result = runner.invoke(app, ["predict", *args, "--json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_e0_option_moves_the_e0_reported_and_used():
    (rule,) = _json(str(CU), "--e0", "rule")
    (shifted,) = _json(str(CU), "--e0", "+10")
    (given,) = _json(str(CU), "--e0", "8985")
    assert rule["e0_source"] == "rule" and 8970 < rule["e0"] < 9000 and rule["e0_sharpness"] is None
    assert shifted["e0"] == pytest.approx(rule["e0"] + 10.0, abs=0.01) and shifted["e0_source"] == "shift +10.0 eV"
    assert given["e0"] == 8985.0 and given["e0_source"] == "given"
    assert shifted["r1"] != rule["r1"]  # the first shell is read from the E0 used too
    text = runner.invoke(app, ["predict", str(CU), "--e0", "8985"]).stdout
    assert "E0 8985.0 eV (given)" in text


def test_the_api_takes_e0_as_the_command_line_does():
    (rule,) = exafs_cn.predict(str(CU), e0="rule")
    (shifted,) = exafs_cn.predict(str(CU), e0="-5")
    (given,) = exafs_cn.predict(str(CU), e0=8985.0)
    assert shifted.e0 == pytest.approx(rule.e0 - 5.0) and given.e0 == 8985.0
    assert shifted.e0_source == "shift -5.0 eV" and exafs_cn.to_dataframe([given])["e0"][0] == 8985.0


@pytest.mark.parametrize(
    "value, message",
    [("abc", "not a number"), ("5", "write a shift with its sign"), ("+80", "more than 50 eV"), ("nan", "not a finite number")],
    ids=["text", "unsigned small", "large shift", "nan"],
)
def test_an_unusable_e0_is_one_usage_error(value, message):
    result = runner.invoke(app, ["predict", str(CU), str(NIO), "--e0", value])
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(errors) == 1 and message in errors[0] and not result.stdout.strip()
    failures = exafs_cn.predict([str(CU), str(NIO)], e0=value)
    assert all(isinstance(f, exafs_cn.Failure) and message in f.error for f in failures)


def test_an_e0_outside_a_spectrum_is_that_spectrums_error():
    result = runner.invoke(app, ["predict", str(CU), str(NIO), "--e0", "8340", "--json"])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1 and lines[1]["e0"] == 8340.0  # the Ni edge is at 8333 eV
    assert str(CU) in lines[0]["error"] and "lies outside the data" in lines[0]["error"]  # the Cu scan starts at 8779 eV


def test_by_default_e0_is_profiled_against_the_training_spectra():
    """ZnO (tetrahedral): the rule's E0 leaves its chi(k) out of phase with FEFF's and the
    forest answers CN 6; the profiled E0 (14 eV higher) gives CN 4."""
    zno = MEASURED / "data__Zn__ZnO.xdi"
    (rule,) = _json(str(zno), "--e0", "rule")
    (profiled,) = _json(str(zno))
    assert rule["cn"] == 6 and profiled["cn"] == 4
    assert profiled["e0_source"].startswith("profile +") and profiled["e0_sharpness"] > 0.1
    assert profiled["e0"] == pytest.approx(rule["e0"] + float(profiled["e0_source"].split()[1]), abs=0.01)


def test_a_spectrum_that_matches_no_training_spectrum_at_any_e0_gets_no_answer():
    """Ca0.25V2O5 measured in fluorescence through a steel mesh (low-R leakage, the Cr K edge at
    k ~ 11.7/A): at its best E0 its chi(k) scores below what 99 in 100 of the V training spectra
    score against the others. No answer, with the reason; ZnO is answered. (Data that end before
    the compared k range are not checked: test_measured_files' NiO scan cut at k = 7.4/A is answered.)"""
    from exafs_cn.measured import ModelStore, score_floor

    vanadate = MEASURED / "examples__xafsdata__beamlines__NSLS6BM_2019.dat"
    (profiled,) = _json(str(vanadate))
    assert profiled["cn"] is None and "matches none of the V training spectra at any E0" in profiled["reason"]
    assert profiled["e0_source"] == "rule"  # no E0 of the profile is better than another
    floor = score_floor(ModelStore().e0_references.by_element["V"])
    assert f"at {floor:.2f} or better" in profiled["reason"]
    (rule,) = _json(str(vanadate), "--e0", "rule")  # the check belongs to the profile
    assert rule["cn"] is not None
    (zno,) = _json(str(MEASURED / "data__Zn__ZnO.xdi"))
    assert zno["cn"] == 4


def test_a_models_folder_without_e0_references_uses_the_rule_and_says_so(models, tmp_path):
    import shutil

    assert (models / "e0_references.npz").is_file()  # train writes them beside the models
    shutil.copytree(models / "Cu", tmp_path / "models" / "Cu")
    (answer,) = exafs_cn.predict(str(CU), models_dir=tmp_path / "models")
    (profiled,) = exafs_cn.predict(str(CU), models_dir=models)
    assert answer.e0_source == "rule" and "E0 by the rule (the models folder has no E0 references)" in answer.notes
    assert profiled.e0_source.startswith("profile")


def test_an_unusable_e0_references_file_is_said_once(tmp_path):
    import shutil

    from exafs_cn.measured._predict import shipped_models_dir

    shutil.copytree(shipped_models_dir() / "Cu", tmp_path / "models" / "Cu")
    (tmp_path / "models" / "e0_references.npz").write_bytes(b"not an npz")
    result = runner.invoke(app, ["predict", str(CU), "--models-dir", str(tmp_path / "models")])
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(errors) == 1 and "e0_references.npz: unusable E0 references file" in errors[0]


def test_the_score_floors_are_stored_with_the_references_and_equal_a_fresh_computation(tmp_path):
    """The shipped file holds each element's floor (a one-file predict does not compute Cu's at every
    start); each equals the floor computed from the file's rows, and a file written with another
    floor rule, or none, gets them computed."""
    import numpy as np

    from exafs_cn.measured._predict import shipped_models_dir
    from exafs_cn.models._e0_references import E0References, score_floor

    shipped = E0References.load(shipped_models_dir() / "e0_references.npz")
    assert set(shipped.stored_floors) == set(shipped.by_element)
    for element in ("Cu", "Sc"):
        assert shipped.floor(element) == pytest.approx(score_floor(shipped.by_element[element]), abs=1e-6)
    with np.load(shipped_models_dir() / "e0_references.npz") as stored:
        arrays = {key: stored[key] for key in stored.files}
    arrays["floor_rule"] = np.array(json.dumps({"percentile": 5.0, "top": 5}))
    arrays["floor_Cu"] = np.array(0.99)
    np.savez(tmp_path / "other_rule.npz", **arrays)
    other = E0References.load(tmp_path / "other_rule.npz")
    assert other.stored_floors == {} and other.floor("Cu") == shipped.floor("Cu")


def test_a_score_floor_that_is_no_correlation_is_refused(tmp_path):
    import numpy as np

    from exafs_cn.exceptions import ReferencesFileError
    from exafs_cn.measured._predict import shipped_models_dir
    from exafs_cn.models._e0_references import E0References

    with np.load(shipped_models_dir() / "e0_references.npz") as stored:
        arrays = {key: stored[key] for key in stored.files}
    arrays["floor_Cu"] = np.array(7.0)
    np.savez(tmp_path / "tampered.npz", **arrays)
    with pytest.raises(ReferencesFileError, match="tampered.npz: unusable E0 references file .score floors"):
        E0References.load(tmp_path / "tampered.npz")
